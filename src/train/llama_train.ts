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
import { attentionBackward, type AttentionDims, attentionForward } from "./attention_train.ts";
import { type TrainWorkspace, trainWorkspace } from "./workspace.ts";

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
  #train: TrainWorkspace | null = null;
  #eval: TrainWorkspace | null = null;

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

  /**
   * Which element-wise kernels the last step ran: `"wasm"` (WebAssembly SIMD) or `"typescript"`
   * (no WebAssembly SIMD here, or an arena over 4 GiB); null before the first step.
   */
  get kernels(): "wasm" | "typescript" | null {
    return (this.#train ?? this.#eval)?.kernels.kind ?? null;
  }

  /**
   * The workspace of a batch shape: one for training and one forward-only are kept, each made
   * again when the shape changes (so evaluating between steps keeps the training one).
   */
  #workspace(B: number, T: number, training: boolean): TrainWorkspace {
    const ws = training ? this.#train : this.#eval;
    if (ws !== null && ws.B === B && ws.T === T) return ws;
    const made = trainWorkspace(this.config, B, T, training);
    if (training) this.#train = made;
    else this.#eval = made;
    return made;
  }

  #run(tokens: ArrayLike<number>, B: number, T: number, backward: boolean): number {
    const c = this.config, w = this.weights;
    const d = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim;
    const I = c.intermediateSize, V = c.vocabSize, N = B * T, eps = c.rmsNormEps;
    const qd = H * hd, kvd = KV * hd, group = H / KV, scale = 1 / Math.sqrt(hd);
    const attn: AttentionDims = { B, T, H, group, hd, qd, kvd, scale };
    const ws = this.#workspace(B, T, backward), K = ws.kernels;
    const cacheOf = (l: number) => ws.caches[l % ws.caches.length]!;
    // Y = X·Wᵀ (+ Y when accumulating).
    const lin = (
      X: Float32Array,
      W: Float32Array,
      Y: Float32Array,
      inF: number,
      outF: number,
      beta = 0,
    ) => sgemm({ transB: true, M: N, N: outF, K: inF, A: X, B: W, C: Y, beta });
    const norm = (x: Float32Array, weight: Float32Array, y: Float32Array, r: Float32Array) => {
      ws.wv.set(weight);
      K.rmsnormFwd(x, ws.wv, y, r, N, d, eps);
    };

    // ---- forward ----
    const x0 = cacheOf(0).x;
    for (let n = 0; n < N; n++) {
      x0.set(w.embed.subarray(tokens[n]! * d, (tokens[n]! + 1) * d), n * d);
    }
    for (let li = 0; li < c.numLayers; li++) {
      const L = w.layers[li]!, s = cacheOf(li);
      norm(s.x, L.inputNorm, s.n1, s.r1);
      lin(s.n1, L.q_proj.weight, s.q, d, qd);
      lin(s.n1, L.k_proj.weight, s.k, d, kvd);
      lin(s.n1, L.v_proj.weight, s.v, d, kvd);
      rope(s.q, N, T, H, hd, this.#rope, 1);
      rope(s.k, N, T, KV, hd, this.#rope, 1);
      attentionForward(s, K, attn);
      s.x2.set(s.x);
      lin(s.att, L.o_proj.weight, s.x2, qd, d, 1);
      norm(s.x2, L.postNorm, s.n2, s.r2);
      lin(s.n2, L.gate_proj.weight, s.g, d, I);
      lin(s.n2, L.up_proj.weight, s.u, d, I);
      K.swigluFwd(s.g, s.u, ws.h, N * I);
      const out = li + 1 < c.numLayers ? cacheOf(li + 1).x : ws.xL;
      out.set(s.x2);
      lin(ws.h, L.down_proj.weight, out, I, d, 1);
    }
    norm(ws.xL, w.norm, ws.xf, ws.rf);
    lin(ws.xf, w.lmHead.weight, ws.logits, d, V);
    // Cross-entropy over positions t < T−1 of each sequence; logits become dL/dlogits.
    const count = B * (T - 1);
    for (let n = 0; n < N; n++) ws.tgt[n] = n % T === T - 1 ? -1 : tokens[n + 1]!;
    K.xentRows(ws.logits, N, V, ws.tgt, backward ? 1 / count : 0, ws.stats);
    let sum = 0;
    for (let n = 0; n < N; n++) sum += ws.stats[2 * n]! + Math.log(ws.stats[2 * n + 1]!);
    const loss = sum / count;
    if (!backward) return loss;

    // ---- backward ----
    const gw = this.gradWeights;
    this.grads.fill(0);
    // dW += dYᵀ·X for Y = X·Wᵀ; dX = dY·W (+ dX when accumulating).
    const dW = (dy: Float32Array, X: Float32Array, inF: number, outF: number, G: Float32Array) =>
      sgemm({ transA: true, M: outF, N: inF, K: N, A: dy, B: X, C: G, beta: 1 });
    const dX = (
      dy: Float32Array,
      W: Float32Array,
      out: Float32Array,
      inF: number,
      outF: number,
      beta = 0,
    ) => sgemm({ M: N, N: inF, K: outF, A: dy, B: W, C: out, beta });
    // dx += RMSNorm backward of dy; the weight's gradient into G.
    const normBack = (
      x: Float32Array,
      r: Float32Array,
      weight: Float32Array,
      dy: Float32Array,
      dx: Float32Array,
      G: Float32Array,
    ) => {
      ws.wv.set(weight);
      ws.dwv.fill(0);
      K.rmsnormBwd(x, r, ws.wv, dy, dx, ws.dwv, N, d);
      for (let j = 0; j < d; j++) G[j] = G[j]! + ws.dwv[j]!;
    };
    dW(ws.logits, ws.xf, d, V, gw.lmHead.weight);
    dX(ws.logits, w.lmHead.weight, ws.dn, d, V);
    const dx = ws.dx, dx2 = ws.dx2;
    dx.fill(0);
    normBack(ws.xL, ws.rf, w.norm, ws.dn, dx, gw.norm);
    for (let li = c.numLayers - 1; li >= 0; li--) {
      const L = w.layers[li]!, G = gw.layers[li]!, s = cacheOf(li);
      // MLP: x3 = x2 + down(silu(g)·u); h is recomputed, g and u become their gradients.
      K.swigluFwd(s.g, s.u, ws.h, N * I);
      dW(dx, ws.h, I, d, G.down_proj.weight);
      dX(dx, L.down_proj.weight, ws.dh, I, d);
      K.swigluBwd(ws.dh, s.g, s.u, N * I);
      dW(s.g, s.n2, d, I, G.gate_proj.weight);
      dW(s.u, s.n2, d, I, G.up_proj.weight);
      dX(s.g, L.gate_proj.weight, ws.dn, d, I);
      dX(s.u, L.up_proj.weight, ws.dn, d, I, 1);
      dx2.set(dx);
      normBack(s.x2, s.r2, L.postNorm, ws.dn, dx2, G.postNorm);
      // Attention: x2 = x + o_proj(att).
      dW(dx2, s.att, qd, d, G.o_proj.weight);
      dX(dx2, L.o_proj.weight, ws.datt, qd, d);
      attentionBackward(s, ws, attn);
      rope(ws.dq, N, T, H, hd, this.#rope, -1);
      rope(ws.dk, N, T, KV, hd, this.#rope, -1);
      dW(ws.dq, s.n1, d, qd, G.q_proj.weight);
      dW(ws.dk, s.n1, d, kvd, G.k_proj.weight);
      dW(ws.dv, s.n1, d, kvd, G.v_proj.weight);
      dX(ws.dq, L.q_proj.weight, ws.dn, d, qd);
      dX(ws.dk, L.k_proj.weight, ws.dn, d, kvd, 1);
      dX(ws.dv, L.v_proj.weight, ws.dn, d, kvd, 1);
      dx.set(dx2);
      normBack(s.x, s.r1, L.inputNorm, ws.dn, dx, G.inputNorm);
    }
    for (let n = 0; n < N; n++) {
      const t = tokens[n]!;
      for (let j = 0; j < d; j++) gw.embed[t * d + j] = gw.embed[t * d + j]! + dx[n * d + j]!;
    }
    return loss;
  }
}
