// This module is browser compatible.
/**
 * Training the Llama-family model on the CPU, llm.c style: one flat f32 parameter buffer (and one
 * for its gradients) viewed as the runtime's {@linkcode ReferenceWeights}, a forward over a batch
 * of B sequences of T tokens that keeps what the backward needs, and the backward written out by
 * hand. Every product — projections, the LM head, and per head the attention scores Q·Kᵀ, P·V
 * and their gradients — is one `sgemm` (OpenBLAS, else WebAssembly SIMD or TypeScript); the rest
 * (RMSNorm, RoPE, causal softmax, SwiGLU, cross-entropy) are plain loops.
 *
 * The forward is the runtime's (`LlamaModel`, tested against `reference.ts`): pre-norm decoder
 * layers x += o_proj(attention(rope(q), rope(k), v)) and x += down(silu(gate)·up) on RMSNorm'd
 * inputs, grouped-query attention, a final RMSNorm and the LM head (tied to the embedding when
 * the config says so). Biases and sliding windows are not supported for training.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fillNormal } from "../core/prng.ts";
import { sgemm } from "../cpu/matmul.ts";
import type { LlamaConfig } from "../model/config.ts";
import type { ReferenceWeights } from "../model/reference.ts";
import { LINEAR_KINDS, projectionShape } from "../model/types.ts";
import { checkForwardSupports, modelFamily } from "../model/family.ts";
import { RopeTable } from "../model/rope.ts";

/** Views of `buf` laid out as the model's weights (the LM head shares the embedding if tied). */
function viewsOf(c: LlamaConfig, buf: Float32Array): ReferenceWeights {
  let off = 0;
  const take = (n: number) => buf.subarray(off, off += n);
  const d = c.hiddenSize;
  const embed = take(c.vocabSize * d);
  const layers = Array.from({ length: c.numLayers }, () => {
    const l = { inputNorm: take(d), postNorm: take(d) } as ReferenceWeights["layers"][number];
    for (const k of LINEAR_KINDS) {
      const [o, i] = projectionShape(c, k);
      l[k] = { weight: take(o * i) };
    }
    return l;
  });
  const norm = take(d);
  const lmHead = { weight: c.tieWordEmbeddings ? embed : take(c.vocabSize * d) };
  return { embed, layers, norm, lmHead };
}

/**
 * Fresh weights for training (GPT-2's scheme): every matrix N(0, 0.02²), the residual outputs
 * (`o_proj`, `down_proj`) N(0, (0.02/√(2·layers))²) so the residual stream's variance does not grow
 * with depth, norms 1. Deterministic in `seed` (the project's PRNG).
 *
 * @example
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { initTrainingWeights } from "./llama_train.ts";
 * const w = initTrainingWeights(llamaConfig({ numLayers: 2 }), 1);
 * if (w.norm[0] !== 1 || Math.abs(w.embed[0]!) > 0.1) throw new Error();
 * ```
 */
export function initTrainingWeights(c: LlamaConfig, seed: number): ReferenceWeights {
  const w = viewsOf(c, new Float32Array(parameterCount(c)));
  let offset = 0;
  const fill = (a: Float32Array, std: number) => {
    fillNormal(a, seed, offset, std);
    offset += a.length + (a.length & 1);
  };
  fill(w.embed, 0.02);
  if (!c.tieWordEmbeddings) fill(w.lmHead.weight, 0.02);
  w.norm.fill(1);
  const resid = 0.02 / Math.sqrt(2 * c.numLayers);
  for (const l of w.layers) {
    l.inputNorm.fill(1);
    l.postNorm.fill(1);
    for (const k of LINEAR_KINDS) {
      fill(l[k].weight, k === "o_proj" || k === "down_proj" ? resid : 0.02);
    }
  }
  return w;
}

/** Number of f32 parameters of a configuration. */
export function parameterCount(c: LlamaConfig): number {
  const d = c.hiddenSize;
  let n = c.vocabSize * d * (c.tieWordEmbeddings ? 1 : 2) + d;
  for (const k of LINEAR_KINDS) n += c.numLayers * projectionShape(c, k).reduce((a, b) => a * b);
  return n + c.numLayers * 2 * d;
}

/** What one layer's forward keeps for the backward. */
interface LayerCache {
  x: Float32Array; // input [N, d]
  n1: Float32Array; // RMSNorm'd input
  r1: Float32Array; // 1/rms per row
  q: Float32Array; // roped queries [N, H·hd]
  k: Float32Array; // roped keys [N, KV·hd]
  v: Float32Array;
  p: Float32Array; // attention probabilities [B, H, T, T]
  att: Float32Array; // attention output [N, H·hd]
  x2: Float32Array; // after the attention residual
  n2: Float32Array;
  r2: Float32Array;
  g: Float32Array; // gate pre-activation [N, I]
  u: Float32Array; // up [N, I]
  h: Float32Array; // silu(g)·u
}

// The hot loops live in small functions of their own, so V8 optimizes each (inside the long
// #run they stayed in the baseline tier).

/** Causal softmax of each row of the T×T score block P in place (row t keeps columns ≤ t). */
function causalSoftmax(P: Float32Array, T: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * T;
    let m = -Infinity;
    for (let s = 0; s <= t; s++) if (P[o + s]! > m) m = P[o + s]!;
    let z = 0;
    for (let s = 0; s <= t; s++) {
      const e = Math.exp(P[o + s]! - m);
      P[o + s] = e;
      z += e;
    }
    const inv = 1 / z;
    for (let s = 0; s <= t; s++) P[o + s] = P[o + s]! * inv;
    for (let s = t + 1; s < T; s++) P[o + s] = 0;
  }
}

/** dS = P ⊙ (dP − Σ_s P·dP) per row, in place in dP (zero above the diagonal). */
function softmaxBackward(P: Float32Array, dP: Float32Array, T: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * T;
    let dot = 0;
    for (let u = 0; u <= t; u++) dot += P[o + u]! * dP[o + u]!;
    for (let u = 0; u <= t; u++) dP[o + u] = P[o + u]! * (dP[o + u]! - dot);
    for (let u = t + 1; u < T; u++) dP[o + u] = 0;
  }
}

/** h = silu(g)·u. */
function swiglu(g: Float32Array, u: Float32Array, h: Float32Array): void {
  for (let i = 0; i < h.length; i++) {
    const z = g[i]!;
    h[i] = (z / (1 + Math.exp(-z))) * u[i]!;
  }
}

/** dg, du of h = silu(g)·u. */
function swigluBackward(
  dh: Float32Array,
  g: Float32Array,
  u: Float32Array,
  dg: Float32Array,
  du: Float32Array,
): void {
  for (let i = 0; i < dh.length; i++) {
    const z = g[i]!, sg = 1 / (1 + Math.exp(-z));
    du[i] = dh[i]! * z * sg;
    dg[i] = dh[i]! * u[i]! * sg * (1 + z * (1 - sg));
  }
}

/** out = a + b. */
function add(a: Float32Array, b: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
}

/**
 * Σ of the next-token cross-entropies of rows n (position t = n mod T < T − 1) of `logits`
 * `[N, V]`; with `grad`, the rows become dL/dlogits for the mean over `count` positions.
 */
function crossEntropy(
  logits: Float32Array,
  tokens: ArrayLike<number>,
  N: number,
  T: number,
  V: number,
  count: number,
  grad: boolean,
): number {
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const o = n * V;
    if (n % T === T - 1) {
      logits.fill(0, o, o + V);
      continue;
    }
    let m = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j]! > m) m = logits[o + j]!;
    let z = 0;
    for (let j = 0; j < V; j++) z += Math.exp(logits[o + j]! - m);
    const target = tokens[n + 1]!;
    loss += m + Math.log(z) - logits[o + target]!;
    if (grad) {
      const inv = 1 / (z * count);
      for (let j = 0; j < V; j++) logits[o + j] = Math.exp(logits[o + j]! - m) * inv;
      logits[o + target] = logits[o + target]! - 1 / count;
    }
  }
  return loss;
}

/** y = x·r·w per row (r = 1/√(mean x² + eps)); returns r. */
function rmsnormForward(
  x: Float32Array,
  w: Float32Array,
  eps: number,
  rows: number,
  d: number,
  y: Float32Array,
): Float32Array {
  const r = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[i * d + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    r[i] = inv;
    for (let j = 0; j < d; j++) y[i * d + j] = x[i * d + j]! * inv * w[j]!;
  }
  return r;
}

/** dx += r·(w⊙dy) − x·r³·Σ(w⊙dy⊙x)/d per row; dw += Σ_rows dy⊙x·r. */
function rmsnormBackward(
  x: Float32Array,
  r: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  rows: number,
  d: number,
  dx: Float32Array,
  dw: Float32Array,
): void {
  for (let i = 0; i < rows; i++) {
    const ri = r[i]!;
    let dot = 0;
    for (let j = 0; j < d; j++) dot += w[j]! * dy[i * d + j]! * x[i * d + j]!;
    const c = (ri * ri * ri * dot) / d;
    for (let j = 0; j < d; j++) {
      const g = dy[i * d + j]!;
      dx[i * d + j] = dx[i * d + j]! + ri * w[j]! * g - c * x[i * d + j]!;
      dw[j] = dw[j]! + g * x[i * d + j]! * ri;
    }
  }
}

/** RoPE on rows of position t (row n = b·T + t): sign +1 rotates, −1 rotates back. */
function rope(
  x: Float32Array,
  N: number,
  T: number,
  heads: number,
  hd: number,
  table: RopeTable,
  sign: 1 | -1,
): void {
  table.ensure(T);
  const half = hd / 2;
  for (let n = 0; n < N; n++) {
    const tb = (n % T) * half;
    for (let h = 0; h < heads; h++) {
      const base = (n * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const c = table.cos[tb + i]!, s = sign * table.sin[tb + i]!;
        const a = x[base + i]!, b = x[base + half + i]!;
        x[base + i] = a * c - b * s;
        x[base + half + i] = b * c + a * s;
      }
    }
  }
}

/**
 * The trainable model: parameters, gradients, forward and backward (see the module doc).
 *
 * @example One gradient step lowers the loss of a tiny random model on its batch
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * import { LlamaTrainer } from "./llama_train.ts";
 * const c = llamaConfig({ hiddenSize: 16, numLayers: 1, vocabSize: 32, intermediateSize: 32 });
 * const t = new LlamaTrainer(c, randomLlamaWeights(c, 1));
 * const tokens = [1, 2, 3, 4, 5, 6, 7, 8];
 * const before = t.forwardBackward(tokens, 2, 4);
 * for (let i = 0; i < t.params.length; i++) t.params[i]! -= 0.05 * t.grads[i]!;
 * if (!(t.loss(tokens, 2, 4) < before)) throw new Error();
 * ```
 */
export class LlamaTrainer {
  /** The configuration. */
  readonly config: LlamaConfig;
  /** All parameters, one buffer (the optimizer's view). */
  readonly params: Float32Array;
  /** Their gradients, same layout (written by {@linkcode forwardBackward}). */
  readonly grads: Float32Array;
  /** The parameters as model weights (views of `params`). */
  readonly weights: ReferenceWeights;
  /** The gradients as model weights (views of `grads`). */
  readonly gradWeights: ReferenceWeights;
  readonly #rope: RopeTable;

  /** A trainer starting from `init` (copied). */
  constructor(config: LlamaConfig, init: ReferenceWeights) {
    const c = config;
    checkForwardSupports(modelFamily(c.architecture), "the trainer");
    if (c.qkvBias || c.oBias || c.mlpBias || c.slidingWindow !== null) {
      throw new QuantlabError(
        "unsupported",
        `Training supports Llama layers without biases or sliding windows; this ${c.architecture} ` +
          "config has them",
      );
    }
    if (c.headDim % 2 !== 0 || c.numHeads % c.numKvHeads !== 0) {
      throw new QuantlabError(
        "bad-argument",
        `Head size ${c.headDim} must be even and ${c.numHeads} heads a multiple of ` +
          `${c.numKvHeads} key/value heads`,
      );
    }
    this.config = c;
    const n = parameterCount(c);
    this.params = new Float32Array(n);
    this.grads = new Float32Array(n);
    this.weights = viewsOf(c, this.params);
    this.gradWeights = viewsOf(c, this.grads);
    const w = this.weights;
    w.embed.set(init.embed);
    w.norm.set(init.norm);
    if (!c.tieWordEmbeddings) w.lmHead.weight.set(init.lmHead.weight);
    init.layers.forEach((l, i) => {
      const dst = w.layers[i]!;
      dst.inputNorm.set(l.inputNorm);
      dst.postNorm.set(l.postNorm);
      for (const k of LINEAR_KINDS) dst[k].weight.set(l[k].weight);
    });
    this.#rope = new RopeTable(c);
  }

  #check(tokens: ArrayLike<number>, B: number, T: number): void {
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 2 || tokens.length !== B * T) {
      throw new QuantlabError(
        "bad-shape",
        `A batch of ${B} × ${T} tokens (T ≥ 2) needs ${B * T} ids; got ${tokens.length}`,
      );
    }
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) {
        throw new QuantlabError(
          "bad-argument",
          `Token ${t} at ${i} is not in [0, ${this.config.vocabSize})`,
        );
      }
    }
  }

  /**
   * Mean next-token cross-entropy (nats) of B sequences of T tokens (`tokens` row-major): each
   * sequence's positions 0…T−2 predict tokens 1…T−1.
   */
  loss(tokens: ArrayLike<number>, B: number, T: number): number {
    this.#check(tokens, B, T);
    return this.#run(tokens, B, T, false);
  }

  /** {@linkcode loss}, and its gradient into {@linkcode grads} (overwritten). */
  forwardBackward(tokens: ArrayLike<number>, B: number, T: number): number {
    this.#check(tokens, B, T);
    return this.#run(tokens, B, T, true);
  }

  #run(tokens: ArrayLike<number>, B: number, T: number, backward: boolean): number {
    const c = this.config, w = this.weights;
    const d = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim;
    const I = c.intermediateSize, V = c.vocabSize, N = B * T, eps = c.rmsNormEps;
    const qd = H * hd, kvd = KV * hd, group = H / KV, scale = 1 / Math.sqrt(hd);
    const lin = (x: Float32Array, W: Float32Array, rows: number, inF: number, outF: number) =>
      sgemm({
        transB: true,
        M: rows,
        N: outF,
        K: inF,
        A: x,
        B: W,
        C: new Float32Array(rows * outF),
      });

    // ---- forward ----
    let x = new Float32Array(N * d);
    for (let n = 0; n < N; n++) {
      x.set(w.embed.subarray(tokens[n]! * d, (tokens[n]! + 1) * d), n * d);
    }
    const caches: LayerCache[] = [];
    for (const L of w.layers) {
      const n1 = new Float32Array(N * d);
      const r1 = rmsnormForward(x, L.inputNorm, eps, N, d, n1);
      const q = lin(n1, L.q_proj.weight, N, d, qd);
      const k = lin(n1, L.k_proj.weight, N, d, kvd);
      const v = lin(n1, L.v_proj.weight, N, d, kvd);
      rope(q, N, T, H, hd, this.#rope, 1);
      rope(k, N, T, KV, hd, this.#rope, 1);
      const p = new Float32Array(B * H * T * T);
      const att = new Float32Array(N * qd);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const P = p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T);
          const kv = Math.floor(h / group);
          sgemm({
            transB: true,
            M: T,
            N: T,
            K: hd,
            alpha: scale,
            A: q.subarray(b * T * qd + h * hd),
            lda: qd,
            B: k.subarray(b * T * kvd + kv * hd),
            ldb: kvd,
            C: P,
          });
          causalSoftmax(P, T);
          sgemm({
            M: T,
            N: hd,
            K: T,
            A: P,
            B: v.subarray(b * T * kvd + kv * hd),
            ldb: kvd,
            C: att.subarray(b * T * qd + h * hd),
            ldc: qd,
          });
        }
      }
      const y = lin(att, L.o_proj.weight, N, qd, d);
      const x2 = new Float32Array(N * d);
      add(x, y, x2);
      const n2 = new Float32Array(N * d);
      const r2 = rmsnormForward(x2, L.postNorm, eps, N, d, n2);
      const g = lin(n2, L.gate_proj.weight, N, d, I);
      const u = lin(n2, L.up_proj.weight, N, d, I);
      const hact = new Float32Array(N * I);
      swiglu(g, u, hact);
      const m = lin(hact, L.down_proj.weight, N, I, d);
      const x3 = new Float32Array(N * d);
      add(x2, m, x3);
      caches.push({ x, n1, r1, q, k, v, p, att, x2, n2, r2, g, u, h: hact });
      x = x3;
    }
    const xf = new Float32Array(N * d);
    const rf = rmsnormForward(x, w.norm, eps, N, d, xf);
    const logits = lin(xf, w.lmHead.weight, N, d, V);
    // Cross-entropy over positions t < T−1 of each sequence; logits become dL/dlogits.
    const count = B * (T - 1);
    const loss = crossEntropy(logits, tokens, N, T, V, count, backward) / count;
    if (!backward) return loss;

    // ---- backward ----
    const gw = this.gradWeights;
    this.grads.fill(0);
    const dl = logits;
    // dW += dYᵀ·X for Y = X·Wᵀ; dX = dY·W.
    const dW = (
      dy: Float32Array,
      X: Float32Array,
      rows: number,
      inF: number,
      outF: number,
      G: Float32Array,
    ) => sgemm({ transA: true, M: outF, N: inF, K: rows, A: dy, B: X, C: G, beta: 1 });
    const dX = (dy: Float32Array, W: Float32Array, rows: number, inF: number, outF: number) =>
      sgemm({ M: rows, N: inF, K: outF, A: dy, B: W, C: new Float32Array(rows * inF) });
    dW(dl, xf, N, d, V, gw.lmHead.weight);
    const dxf = dX(dl, w.lmHead.weight, N, d, V);
    let dx = new Float32Array(N * d);
    rmsnormBackward(x, rf, w.norm, dxf, N, d, dx, gw.norm);
    for (let li = c.numLayers - 1; li >= 0; li--) {
      const L = w.layers[li]!, G = gw.layers[li]!, s = caches[li]!;
      // MLP: x3 = x2 + down(silu(g)·u).
      dW(dx, s.h, N, I, d, G.down_proj.weight);
      const dh = dX(dx, L.down_proj.weight, N, I, d);
      const dg = new Float32Array(N * I), du = new Float32Array(N * I);
      swigluBackward(dh, s.g, s.u, dg, du);
      dW(dg, s.n2, N, d, I, G.gate_proj.weight);
      dW(du, s.n2, N, d, I, G.up_proj.weight);
      const dn2 = dX(dg, L.gate_proj.weight, N, d, I);
      sgemm({ M: N, N: d, K: I, A: du, B: L.up_proj.weight, C: dn2, beta: 1 });
      const dx2 = dx.slice();
      rmsnormBackward(s.x2, s.r2, L.postNorm, dn2, N, d, dx2, G.postNorm);
      // Attention: x2 = x + o_proj(att).
      dW(dx2, s.att, N, qd, d, G.o_proj.weight);
      const datt = dX(dx2, L.o_proj.weight, N, qd, d);
      const dq = new Float32Array(N * qd), dk = new Float32Array(N * kvd);
      const dv = new Float32Array(N * kvd), dP = new Float32Array(T * T);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const P = s.p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T);
          const kv = Math.floor(h / group);
          const qo = b * T * qd + h * hd, ko = b * T * kvd + kv * hd;
          // dP = dO·Vᵀ; dV += Pᵀ·dO.
          sgemm({
            transB: true,
            M: T,
            N: T,
            K: hd,
            A: datt.subarray(qo),
            lda: qd,
            B: s.v.subarray(ko),
            ldb: kvd,
            C: dP,
          });
          sgemm({
            transA: true,
            M: T,
            N: hd,
            K: T,
            A: P,
            B: datt.subarray(qo),
            ldb: qd,
            C: dv.subarray(ko),
            ldc: kvd,
            beta: 1,
          });
          // dS = P ⊙ (dP − Σ_s P·dP), in place in dP.
          softmaxBackward(P, dP, T);
          // dQ = dS·K·scale; dK += dSᵀ·Q·scale.
          sgemm({
            M: T,
            N: hd,
            K: T,
            alpha: scale,
            A: dP,
            B: s.k.subarray(ko),
            ldb: kvd,
            C: dq.subarray(qo),
            ldc: qd,
          });
          sgemm({
            transA: true,
            M: T,
            N: hd,
            K: T,
            alpha: scale,
            A: dP,
            B: s.q.subarray(qo),
            ldb: qd,
            C: dk.subarray(ko),
            ldc: kvd,
            beta: 1,
          });
        }
      }
      rope(dq, N, T, H, hd, this.#rope, -1);
      rope(dk, N, T, KV, hd, this.#rope, -1);
      dW(dq, s.n1, N, d, qd, G.q_proj.weight);
      dW(dk, s.n1, N, d, kvd, G.k_proj.weight);
      dW(dv, s.n1, N, d, kvd, G.v_proj.weight);
      const dn1 = dX(dq, L.q_proj.weight, N, d, qd);
      sgemm({ M: N, N: d, K: kvd, A: dk, B: L.k_proj.weight, C: dn1, beta: 1 });
      sgemm({ M: N, N: d, K: kvd, A: dv, B: L.v_proj.weight, C: dn1, beta: 1 });
      const dxin = dx2.slice();
      rmsnormBackward(s.x, s.r1, L.inputNorm, dn1, N, d, dxin, G.inputNorm);
      dx = dxin;
    }
    for (let n = 0; n < N; n++) {
      const t = tokens[n]!;
      for (let j = 0; j < d; j++) gw.embed[t * d + j] = gw.embed[t * d + j]! + dx[n * d + j]!;
    }
    return loss;
  }
}
