// This module is browser compatible.
/**
 * The CPU kernels of the Llama forward besides the projections: RMSNorm, SwiGLU, causal (and
 * sliding-window) grouped-query attention on BLAS, and log-softmax negative log-likelihoods.
 * `reference.ts` holds plain versions of the same maths; the tests compare the two.
 *
 * @module
 */
import { sgemm } from "../cpu/matmul.ts";

/**
 * RMSNorm of `rows` rows of width `d`: `out = x / sqrt(mean(x²) + eps) · w` (out may be x).
 *
 * @example
 * ```ts
 * import { rmsNorm } from "./ops.ts";
 * const y = rmsNorm(new Float32Array([3, 4]), new Float32Array([1, 1]), 1, 2, 0);
 * if (Math.abs(y[0]! - 3 / Math.sqrt(12.5)) > 1e-6) throw new Error("unexpected");
 * ```
 */
export function rmsNorm(
  x: Float32Array,
  w: Float32Array,
  rows: number,
  d: number,
  eps: number,
  out: Float32Array = new Float32Array(rows * d),
): Float32Array {
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let ss = 0;
    for (let i = 0; i < d; i++) {
      const v = x[base + i]!;
      ss += v * v;
    }
    const inv = Math.fround(1 / Math.sqrt(ss / d + eps));
    for (let i = 0; i < d; i++) out[base + i] = Math.fround(x[base + i]! * inv) * w[i]!;
  }
  return out;
}

const EXP_BITS = new Int32Array(1);
const EXP_F32 = new Float32Array(EXP_BITS.buffer);

/**
 * e^x to f32 accuracy (relative error ≤ 2e-7 against `Math.exp` rounded to f32), about twice as
 * fast as `Math.exp`: x = (k + f)·ln 2 with |f| ≤ ½, a degree-7 Taylor polynomial for e^(f·ln 2)
 * (error < 6e-9) and 2^k built from its exponent bits. x is clamped to [−87, 88], the f32 normal
 * range (so e^x ≥ 1.6e-38 for very negative x, harmless in softmax and SiLU).
 *
 * @example
 * ```ts
 * import { fastExp } from "./ops.ts";
 * if (Math.abs(fastExp(1) / Math.E - 1) > 2e-7) throw new Error("unexpected");
 * ```
 */
export function fastExp(x: number): number {
  x = x < -87 ? -87 : x > 88 ? 88 : x;
  const t = x * 1.4426950408889634; // log2(e)
  const k = Math.floor(t + 0.5);
  const f = (t - k) * 0.6931471805599453;
  const p = 1 + f * (1 + f * (0.5 + f * (0.16666666666666666 + f * (0.041666666666666664 +
                    f *
                      (0.008333333333333333 +
                        f * (0.001388888888888889 + f * 0.0001984126984126984))))));
  EXP_BITS[0] = (k + 127) << 23;
  return p * EXP_F32[0]!;
}

/**
 * SwiGLU in place: `gate[i] = silu(gate[i]) · up[i]` for the first `n` elements.
 *
 * @example
 * ```ts
 * import { swiglu } from "./ops.ts";
 * const g = new Float32Array([0, 1]);
 * swiglu(g, new Float32Array([5, 2]), 2);
 * if (g[0] !== 0 || Math.abs(g[1]! - 2 / (1 + Math.exp(-1))) > 1e-6) throw new Error();
 * ```
 */
export function swiglu(gate: Float32Array, up: Float32Array, n: number): Float32Array {
  swigluRange(gate, up, 0, n);
  return gate;
}

/**
 * {@linkcode swiglu} on `[start, end)`. Returns the count done.
 *
 * @example
 * ```ts
 * import { swigluRange } from "./ops.ts";
 * const g = new Float32Array([0, 1, 2]);
 * swigluRange(g, new Float32Array([1, 1, 1]), 1, 2);
 * if (g[0] !== 0 || g[2] !== 2 || g[1] === 1) throw new Error("unexpected");
 * ```
 */
export function swigluRange(
  gate: Float32Array,
  up: Float32Array,
  start: number,
  end: number,
): number {
  for (let i = start; i < end; i++) {
    const g = gate[i]!;
    gate[i] = (g / (1 + fastExp(-g))) * up[i]!;
  }
  return end - start;
}

/** Shapes of one attention call. */
export interface AttentionShape {
  /** New query rows. */
  T: number;
  /** Position of the first query row (keys `[0, pos0 + T)` are in k and v). */
  pos0: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (divides `heads`). */
  kvHeads: number;
  /** Head width. */
  headDim: number;
  /** Sliding window in keys (0: full causal). */
  window: number;
}

/** Rows of queries per BLAS block: bounds the score buffer and skips masked key blocks. */
const QUERY_BLOCK = 128;

/**
 * Causal grouped-query attention: for query row t (position p = pos0 + t) and head h, softmax
 * over keys j ∈ [max(0, p − window + 1), p] of `q·k_j / sqrt(headDim)`, times `v_j`. q and out are
 * `[T, heads·headDim]`; k and v are `[≥ pos0 + T, kvHeads·headDim]`. Scores and weighted sums run
 * on BLAS per head and block of query rows, over only the keys that block can see.
 *
 * @example
 * ```ts
 * import { attention } from "./ops.ts";
 * // One head of width 2, two positions: row 0 sees only key 0, so it returns v_0.
 * const q = new Float32Array([1, 0, 0, 1]), k = new Float32Array([1, 0, 0, 1]);
 * const v = new Float32Array([1, 2, 3, 4]);
 * const out = attention(q, k, v, { T: 2, pos0: 0, heads: 1, kvHeads: 1, headDim: 2, window: 0 });
 * if (out[0] !== 1 || out[1] !== 2) throw new Error("unexpected");
 * ```
 */
export function attention(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  s: AttentionShape,
  out: Float32Array = new Float32Array(s.T * s.heads * s.headDim),
): Float32Array {
  attentionHeads(q, k, v, out, s, 0, s.heads);
  return out;
}

/**
 * {@linkcode attention} for the query heads `[start, end)` only (heads are independent, so a caller
 * may split them across threads). Returns the number of heads done.
 *
 * @example
 * ```ts
 * import { attention, attentionHeads } from "./ops.ts";
 * const s = { T: 3, pos0: 0, heads: 2, kvHeads: 1, headDim: 2, window: 0 };
 * const q = new Float32Array(12).map((_, i) => Math.sin(i)), kv = new Float32Array(6).fill(0.5);
 * const out = new Float32Array(12);
 * attentionHeads(q, kv, kv, out, s, 0, 1);
 * attentionHeads(q, kv, kv, out, s, 1, 2);
 * if (out.join() !== attention(q, kv, kv, s).join()) throw new Error("unexpected");
 * ```
 */
export function attentionHeads(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  s: AttentionShape,
  start: number,
  end: number,
): number {
  const { T, pos0, heads, kvHeads, headDim: hd, window } = s;
  const group = heads / kvHeads;
  const qStride = heads * hd;
  const kStride = kvHeads * hd;
  const scale = 1 / Math.sqrt(hd);
  const maxKeys = pos0 + T;
  const block = Math.min(QUERY_BLOCK, T);
  const scores = new Float32Array(block * Math.min(maxKeys, window > 0 ? window + block : maxKeys));
  const inv = new Float64Array(block);
  for (let i0 = 0; i0 < T; i0 += block) {
    const rows = Math.min(block, T - i0);
    const kHi = pos0 + i0 + rows; // exclusive
    const kLo = window > 0 ? Math.max(0, pos0 + i0 - window + 1) : 0;
    const n = kHi - kLo;
    for (let h = start; h < end; h++) {
      const g = Math.floor(h / group);
      // scores[r, j] = scale · q[i0 + r, h] · k[kLo + j, g]
      sgemm({
        transB: true,
        M: rows,
        N: n,
        K: hd,
        alpha: scale,
        A: q.subarray(i0 * qStride + h * hd),
        lda: qStride,
        B: k.subarray(kLo * kStride + g * hd),
        ldb: kStride,
        C: scores,
        ldc: n,
      });
      // Unnormalised softmax rows (masked keys 0); the 1/Σ is applied to the output rows.
      for (let r = 0; r < rows; r++) {
        const p = pos0 + i0 + r;
        const lo = (window > 0 ? Math.max(0, p - window + 1) : 0) - kLo;
        const hi = p - kLo; // inclusive
        const base = r * n;
        let m = -Infinity;
        for (let j = base + lo; j <= base + hi; j++) if (scores[j]! > m) m = scores[j]!;
        let sum = 0;
        for (let j = base + lo; j <= base + hi; j++) {
          const e = fastExp(scores[j]! - m);
          scores[j] = e;
          sum += e;
        }
        inv[r] = 1 / sum;
        if (lo > 0) scores.fill(0, base, base + lo);
        if (hi + 1 < n) scores.fill(0, base + hi + 1, base + n);
      }
      // out[i0 + r, h] = Σ_j scores[r, j] · v[kLo + j, g]
      sgemm({
        M: rows,
        N: hd,
        K: n,
        A: scores,
        lda: n,
        B: v.subarray(kLo * kStride + g * hd),
        ldb: kStride,
        C: out.subarray(i0 * qStride + h * hd),
        ldc: qStride,
      });
      for (let r = 0; r < rows; r++) {
        const o = (i0 + r) * qStride + h * hd, s = inv[r]!;
        for (let i = o; i < o + hd; i++) out[i] = out[i]! * s;
      }
    }
  }
  return end - start;
}

/**
 * Negative log-likelihood (nats) of `target` under the softmax of `logits[offset, offset+n)`,
 * in f64: `logsumexp(logits) − logits[target]`.
 *
 * @example
 * ```ts
 * import { tokenNll } from "./ops.ts";
 * const v = tokenNll(new Float32Array([0, 0, 0, 0]), 0, 4, 2);
 * if (Math.abs(v - Math.log(4)) > 1e-12) throw new Error("unexpected");
 * ```
 */
export function tokenNll(logits: Float32Array, offset: number, n: number, target: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, logits[offset + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[offset + i]! - m);
  return m + Math.log(sum) - logits[offset + target]!;
}
