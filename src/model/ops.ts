// This module is browser compatible.
/**
 * The CPU kernels of the Llama forward besides the projections: RMSNorm, SwiGLU, causal (and
 * sliding-window) grouped-query attention on BLAS, and log-softmax negative log-likelihoods.
 * `reference.ts` holds plain versions of the same maths; the tests compare the two.
 *
 * The exponentials of softmax and SwiGLU dominate the element-wise work: they run on the
 * WebAssembly SIMD kernels of `ops_wasm.ts` where the data allows (attention scores always;
 * SwiGLU when gate and up were allocated by `wasmF32Arrays`, as the model's buffers are), and
 * otherwise on TypeScript loops with the table-driven {@linkcode fastExp}.
 *
 * @module
 */
import { sgemm } from "../cpu/matmul.ts";
import { swigluWasm, wasmSoftmax } from "./ops_wasm.ts";

/** out[base + i] = f32(x[base + i]·inv)·w[i] for one row (RMSNorm's scaling, rounded as the reference). */
function scaleRow(
  x: Float32Array,
  w: Float32Array,
  base: number,
  d: number,
  inv: number,
  out: Float32Array,
): void {
  for (let i = 0; i < d; i++) out[base + i] = Math.fround(x[base + i]! * inv) * w[i]!;
}

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
    scaleRow(x, w, base, d, Math.fround(1 / Math.sqrt(ss / d + eps)), out);
  }
  return out;
}

/**
 * The residual add fused with the next RMSNorm: `x += r`, then `out = rmsNorm(x)`, in one pass
 * over x for the sum of squares (bit-identical to the add followed by {@linkcode rmsNorm}).
 *
 * @example
 * ```ts
 * import { addRmsNorm, rmsNorm } from "./ops.ts";
 * const x = new Float32Array([1, 2]), w = new Float32Array([1, 1]);
 * const y = addRmsNorm(x, new Float32Array([2, 2]), w, 1, 2, 0);
 * if (x.join() !== "3,4" || y.join() !== rmsNorm(x, w, 1, 2, 0).join()) throw new Error();
 * ```
 */
export function addRmsNorm(
  x: Float32Array,
  r: Float32Array,
  w: Float32Array,
  rows: number,
  d: number,
  eps: number,
  out: Float32Array = new Float32Array(rows * d),
): Float32Array {
  for (let row = 0; row < rows; row++) {
    const base = row * d;
    let ss = 0;
    for (let i = base; i < base + d; i++) {
      const v = Math.fround(x[i]! + r[i]!);
      x[i] = v;
      ss += v * v;
    }
    scaleRow(x, w, base, d, Math.fround(1 / Math.sqrt(ss / d + eps)), out);
  }
  return out;
}

// fastExp: x·64·log2(e) = k + f with k an integer, |f| ≤ ½; e^x = 2^(k/64) · e^r with
// r = x − k·ln2/64, |r| ≤ ln2/128. EXP_TABLE[k + 9604] = 2^(k/64) for every k reachable from
// x ∈ [−104, 88.7]. The hot loops below spell these numbers as literals: V8 keeps literal f64s
// unboxed, and reading them from module constants made the loops twice as slow.
// 9604 = ceil(104·64·log2 e) + 1; 92.33248261689366 = 64·log2 e; 0.010830424696249145 = ln2/64;
// 6755399441055744 = 1.5·2^52 (adding and subtracting it rounds an f64 below 2^51 to an integer).
const EXP_TABLE = new Float64Array(9604 + Math.ceil(88.7 * 64 * Math.LOG2E) + 2)
  .map((_, i) => 2 ** ((i - 9604) / 64));

/**
 * e^x to better than f32 accuracy (relative error < 1e-10 against `Math.exp`), several times as
 * fast as `Math.exp` in V8: x·64·log2(e) = k + f with k an integer and |f| ≤ ½, so
 * e^x = 2^(k/64) · e^r with r = x − k·ln2/64 (|r| ≤ 0.0055); 2^(k/64) comes from a table and e^r
 * from a cubic (error < 4e-11). x is clamped to [−104, 88.7]: e^−104 ≈ 6.9e-46 rounds to 0 in
 * f32 (fastExp itself returns 0 below −104) and e^88.7 is finite, just below the f32 maximum.
 * NaN gives NaN; fastExp(0) is exactly 1.
 *
 * @example
 * ```ts
 * import { fastExp } from "./ops.ts";
 * if (Math.abs(fastExp(1) / Math.E - 1) > 1e-9) throw new Error("unexpected");
 * if (fastExp(0) !== 1 || fastExp(-200) !== 0) throw new Error("unexpected");
 * ```
 */
export function fastExp(x: number): number {
  if (x < -104) return 0;
  if (x > 88.7) x = 88.7;
  const k = (x * 92.33248261689366 + 6755399441055744) - 6755399441055744;
  const r = x - k * 0.010830424696249145;
  return (1 + r * (1 + r * (0.5 + r * 0.16666666666666666))) * EXP_TABLE[(k | 0) + 9604]!;
}

/**
 * Softmax numerators of `x[start, end)` in place: `x[j] = e^(x[j] − max)` (with
 * {@linkcode fastExp}'s accuracy, as f32); returns their sum (≥ 1: the maximum contributes 1), so
 * `x[j] / sum` is the softmax. Elements outside the range are not touched; an empty range
 * returns 0.
 *
 * @example
 * ```ts
 * import { softmaxNumerators } from "./ops.ts";
 * const x = new Float32Array([9, 0, Math.log(3), 9]);
 * const sum = softmaxNumerators(x, 1, 3); // x[1..2] = [1/3, 1]
 * if (Math.abs(sum - 4 / 3) > 1e-7 || x[0] !== 9 || x[2] !== 1) throw new Error("unexpected");
 * ```
 */
export function softmaxNumerators(x: Float32Array, start: number, end: number): number {
  const tab = EXP_TABLE;
  let m = -Infinity;
  for (let j = start; j < end; j++) {
    const v = x[j]!;
    if (v > m) m = v;
  }
  let sum = 0;
  for (let j = start; j < end; j++) {
    // fastExp(x[j] − m) inlined; the argument is ≤ 0, e^−104 is 0 in f32.
    let d = x[j]! - m;
    d = d < -104 ? -104 : d;
    const k = (d * 92.33248261689366 + 6755399441055744) - 6755399441055744;
    const r = d - k * 0.010830424696249145;
    const e = Math.fround(
      (1 + r * (1 + r * (0.5 + r * 0.16666666666666666))) * tab[(k | 0) + 9604]!,
    );
    x[j] = e;
    sum += e;
  }
  return sum;
}

/**
 * SwiGLU in place: `gate[i] = silu(gate[i]) · up[i]` for the first `n` elements (on the
 * WebAssembly SIMD kernel when gate and up come from `wasmF32Arrays`).
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
  const count = end - start, tab = EXP_TABLE;
  if (swigluWasm(gate, up, start, end)) return count;
  for (let i = start; i < end; i++) {
    const g = gate[i]!;
    // g · σ(g) = g / (1 + e^−g), with fastExp(−g) inlined (clamped; e^104 just makes σ 0).
    let x = -g;
    x = x < -104 ? -104 : x > 88.7 ? 88.7 : x;
    const k = (x * 92.33248261689366 + 6755399441055744) - 6755399441055744;
    const r = x - k * 0.010830424696249145;
    const e = (1 + r * (1 + r * (0.5 + r * 0.16666666666666666))) * tab[(k | 0) + 9604]!;
    gate[i] = (g / (1 + e)) * up[i]!;
  }
  return count;
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

/** Score buffer of {@linkcode attentionHeads}, kept across calls (fresh pages cost page faults). */
let attentionScores = new Float32Array(0);
let attentionInv = new Float64Array(0);

/**
 * Causal grouped-query attention: for query row t (position p = pos0 + t) and head h, softmax
 * over keys j ∈ [max(0, p − window + 1), p] of `q·k_j / sqrt(headDim)`, times `v_j`. q and out are
 * `[T, heads·headDim]`; k and v are `[≥ pos0 + T, kvHeads·headDim]`. Scores and weighted sums run
 * on BLAS per head and block of query rows, over only the keys that block can see; the softmax
 * rows between them on the WebAssembly SIMD kernel (masked keys get exactly 0 weight).
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
  const need = block * Math.min(maxKeys, window > 0 ? window + block : maxKeys);
  // The WebAssembly SIMD softmax works on scores in its own memory (BLAS writes and reads them
  // there); the TypeScript loops on a buffer of their own otherwise.
  const simd = wasmSoftmax(need, block);
  if (!simd && attentionScores.length < need) attentionScores = new Float32Array(need);
  if (!simd && attentionInv.length < block) attentionInv = new Float64Array(block);
  const scores = simd ? simd.scores : attentionScores, inv = simd ? simd.inv : attentionInv;
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
      // Unnormalised softmax rows over keys [lo, hi] of position p (masked keys exactly 0); the
      // 1/Σ is applied to the output rows.
      if (simd) {
        const p0 = pos0 + i0;
        simd.rows(
          rows,
          n,
          p0 - kLo + 1,
          window > 0 ? p0 - window + 1 - kLo : 0,
          window > 0 ? 1 : 0,
        );
      } else {
        for (let r = 0; r < rows; r++) {
          const p = pos0 + i0 + r;
          const lo = (window > 0 ? Math.max(0, p - window + 1) : 0) - kLo;
          const hi = p - kLo; // inclusive
          const base = r * n;
          inv[r] = 1 / softmaxNumerators(scores, base + lo, base + hi + 1);
          if (lo > 0) scores.fill(0, base, base + lo);
          if (hi + 1 < n) scores.fill(0, base + hi + 1, base + n);
        }
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
