// This module is browser compatible.
/**
 * The plain Llama-family forward, written for clarity: the specification the optimised CPU
 * forward (`llama.ts`) and the WebGPU forward (`gpu_llama.ts`) are tested against. One token
 * position at a time, f64 accumulation, no caches, no BLAS.
 *
 * Per layer: `x += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))` with
 * `n = rmsnorm(x)`, then `x += down_proj(silu(gate_proj(n)) · up_proj(n))` with
 * `n = rmsnorm(x)`; logits = `lm_head(rmsnorm(x))`. Attention is causal; a layer with a sliding
 * window W lets position p see keys `p − W + 1 … p`.
 *
 * @module
 */
import { layerWindow, type LlamaConfig } from "./config.ts";
import { ropeInvFreq } from "./rope.ts";
import { checkForwardSupports, modelFamily } from "./family.ts";
import type { LinearKind } from "./types.ts";

/** A dense projection: weight `[out, in]` and optional bias. */
export interface DenseWeights {
  /** `[out, in]` row-major. */
  weight: Float32Array;
  /** `[out]`. */
  bias?: Float32Array;
}

/** One decoder layer's weights. */
export type ReferenceLayer =
  & { inputNorm: Float32Array; postNorm: Float32Array }
  & Record<
    LinearKind,
    DenseWeights
  >;

/** All weights of a model, dense f32. */
export interface ReferenceWeights {
  /** `[vocab, d]`. */
  embed: Float32Array;
  /** Decoder layers. */
  layers: ReferenceLayer[];
  /** Final norm `[d]`. */
  norm: Float32Array;
  /** LM head `[vocab, d]`. */
  lmHead: DenseWeights;
}

function linear(w: DenseWeights, x: Float64Array, outF: number): Float64Array {
  const inF = x.length;
  const y = new Float64Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = w.bias ? w.bias[o]! : 0;
    for (let i = 0; i < inF; i++) s += w.weight[o * inF + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

function rope(x: Float64Array, heads: number, hd: number, pos: number, inv: Float32Array): void {
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inv[i]!); // HF computes the angle in f32
      const c = Math.cos(angle), s = Math.sin(angle);
      const a = x[h * hd + i]!, b = x[h * hd + half + i]!;
      x[h * hd + i] = a * c - b * s;
      x[h * hd + half + i] = b * c + a * s;
    }
  }
}

/**
 * Hidden states after the decoder layers `[from, to)` for `T` positions (input `[T, d]`, rows at
 * positions 0…T−1). Returns `[T, d]`.
 *
 * @example
 * ```ts
 * import { llamaLayersReference } from "./reference.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig({ numLayers: 1 });
 * const h = llamaLayersReference(c, randomLlamaWeights(c, 1), new Float32Array(3 * 32), 3, 0, 1);
 * if (h.length !== 96) throw new Error("unexpected");
 * ```
 */
export function llamaLayersReference(
  c: LlamaConfig,
  w: ReferenceWeights,
  hidden: Float32Array,
  T: number,
  from = 0,
  to: number = c.numLayers,
): Float32Array {
  const d = c.hiddenSize, H = c.numHeads, KvH = c.numKvHeads, hd = c.headDim;
  const inv = ropeInvFreq(hd, c.ropeTheta, c.ropeScaling);
  const x: Float64Array[] = [];
  for (let t = 0; t < T; t++) x.push(Float64Array.from(hidden.subarray(t * d, (t + 1) * d)));
  for (let l = from; l < to; l++) {
    const L = w.layers[l]!;
    const window = layerWindow(c, l);
    const qs: Float64Array[] = [], ks: Float64Array[] = [], vs: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const n = rmsnorm(x[t]!, L.inputNorm, c.rmsNormEps);
      const q = linear(L.q_proj, n, H * hd);
      const k = linear(L.k_proj, n, KvH * hd);
      rope(q, H, hd, t, inv);
      rope(k, KvH, hd, t, inv);
      qs.push(q);
      ks.push(k);
      vs.push(linear(L.v_proj, n, KvH * hd));
    }
    for (let t = 0; t < T; t++) {
      const att = new Float64Array(H * hd);
      const first = window > 0 ? Math.max(0, t - window + 1) : 0;
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KvH));
        const scores: number[] = [];
        for (let j = first; j <= t; j++) {
          let s = 0;
          for (let i = 0; i < hd; i++) s += qs[t]![h * hd + i]! * ks[j]![g * hd + i]!;
          scores.push(s / Math.sqrt(hd));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = first; j <= t; j++) {
          const p = e[j - first]! / z;
          for (let i = 0; i < hd; i++) att[h * hd + i] = att[h * hd + i]! + p * vs[j]![g * hd + i]!;
        }
      }
      const o = linear(L.o_proj, att, d);
      for (let i = 0; i < d; i++) x[t]![i] = x[t]![i]! + o[i]!;
    }
    for (let t = 0; t < T; t++) {
      const n = rmsnorm(x[t]!, L.postNorm, c.rmsNormEps);
      const g = linear(L.gate_proj, n, c.intermediateSize);
      const u = linear(L.up_proj, n, c.intermediateSize);
      const a = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!);
      const dn = linear(L.down_proj, a, d);
      for (let i = 0; i < d; i++) x[t]![i] = x[t]![i]! + dn[i]!;
    }
  }
  const out = new Float32Array(T * d);
  for (let t = 0; t < T; t++) out.set(x[t]!, t * d);
  return out;
}

/**
 * Logits `[T, vocab]` of the token sequence `tokens` (positions 0…T−1): embedding lookup, every
 * decoder layer, final norm, LM head.
 *
 * @example
 * ```ts
 * import { llamaForwardReference } from "./reference.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig();
 * const logits = llamaForwardReference(c, randomLlamaWeights(c, 1), [1, 2, 3]);
 * if (logits.length !== 3 * c.vocabSize) throw new Error("unexpected");
 * ```
 */
export function llamaForwardReference(
  c: LlamaConfig,
  w: ReferenceWeights,
  tokens: ArrayLike<number>,
): Float32Array {
  checkForwardSupports(modelFamily(c.architecture), "the reference forward");
  const d = c.hiddenSize, T = tokens.length;
  const h0 = new Float32Array(T * d);
  for (let t = 0; t < T; t++) {
    const id = tokens[t]!;
    h0.set(w.embed.subarray(id * d, (id + 1) * d), t * d);
  }
  const h = llamaLayersReference(c, w, h0, T);
  const logits = new Float32Array(T * c.vocabSize);
  for (let t = 0; t < T; t++) {
    const n = rmsnorm(Float64Array.from(h.subarray(t * d, (t + 1) * d)), w.norm, c.rmsNormEps);
    logits.set(linear(w.lmHead, n, c.vocabSize), t * c.vocabSize);
  }
  return logits;
}
