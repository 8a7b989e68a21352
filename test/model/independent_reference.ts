/**
 * A plain f64 forward of a Llama-family model for the tests, written from the Hugging Face modeling
 * code's definitions and nothing of quantlab's model code (no import of its RoPE, window, GQA or
 * attention): RMSNorm x·w/√(mean x² + ε); rotate-half RoPE with θ^(−2i/d) on pairs (i, i + d/2);
 * query head h reads KV head ⌊h / (heads / kvHeads)⌋; a sliding window W lets position t attend to
 * positions t − W + 1 … t (HF: masked where s ≤ t − W); SiLU-gated MLP; biases where present.
 *
 * @module
 */
import type { ReferenceWeights } from "../../src/model/reference.ts";

/** What the forward needs of a configuration (plain numbers, as config.json has them). */
export interface PlainConfig {
  vocabSize: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  /** Keys each query sees (itself included), or null for full causal attention. */
  slidingWindow: number | null;
}

function linear(
  x: Float64Array,
  rows: number,
  w: Float32Array,
  out: number,
  inp: number,
  bias?: Float32Array,
): Float64Array {
  const y = new Float64Array(rows * out);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < out; o++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < inp; i++) s += w[o * inp + i]! * x[t * inp + i]!;
      y[t * out + o] = s;
    }
  }
  return y;
}

function rmsNorm(x: Float64Array, rows: number, d: number, g: Float32Array, eps: number) {
  const y = new Float64Array(x.length);
  for (let t = 0; t < rows; t++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[t * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i]! * inv * g[i]!;
  }
  return y;
}

function rope(x: Float64Array, rows: number, heads: number, hd: number, theta: number): void {
  const half = hd / 2;
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * hd;
      for (let i = 0; i < half; i++) {
        const a = t * Math.pow(theta, (-2 * i) / hd);
        const x1 = x[base + i]!, x2 = x[base + i + half]!;
        x[base + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
        x[base + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
  }
}

/** Logits [ids.length, vocabSize] of the model `w` on `ids`, positions from 0, in f64. */
export function independentForward(
  c: PlainConfig,
  w: ReferenceWeights,
  ids: readonly number[],
): Float64Array {
  const T = ids.length, d = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim;
  let x = new Float64Array(T * d);
  ids.forEach((id, t) => {
    for (let i = 0; i < d; i++) x[t * d + i] = w.embed[id * d + i]!;
  });
  for (const L of w.layers) {
    const h = rmsNorm(x, T, d, L.inputNorm, c.rmsNormEps);
    const q = linear(h, T, L.q_proj.weight, H * hd, d, L.q_proj.bias);
    const k = linear(h, T, L.k_proj.weight, KV * hd, d, L.k_proj.bias);
    const v = linear(h, T, L.v_proj.weight, KV * hd, d, L.v_proj.bias);
    rope(q, T, H, hd, c.ropeTheta);
    rope(k, T, KV, hd, c.ropeTheta);
    const att = new Float64Array(T * H * hd);
    for (let head = 0; head < H; head++) {
      const g = Math.floor(head / (H / KV));
      for (let t = 0; t < T; t++) {
        const first = c.slidingWindow === null ? 0 : Math.max(0, t - c.slidingWindow + 1);
        const scores: number[] = [];
        for (let s = first; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) {
            dot += q[(t * H + head) * hd + i]! * k[(s * KV + g) * hd + i]!;
          }
          scores.push(dot / Math.sqrt(hd));
        }
        const m = Math.max(...scores);
        const e = scores.map((z) => Math.exp(z - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = first; s <= t; s++) {
          const p = e[s - first]! / z;
          for (let i = 0; i < hd; i++) {
            const at = (t * H + head) * hd + i;
            att[at] = att[at]! + p * v[(s * KV + g) * hd + i]!;
          }
        }
      }
    }
    const o = linear(att, T, L.o_proj.weight, d, H * hd, L.o_proj.bias);
    x = x.map((xi, i) => xi + o[i]!);
    const h2 = rmsNorm(x, T, d, L.postNorm, c.rmsNormEps);
    const inter = L.gate_proj.weight.length / d;
    const gate = linear(h2, T, L.gate_proj.weight, inter, d, L.gate_proj.bias);
    const up = linear(h2, T, L.up_proj.weight, inter, d, L.up_proj.bias);
    const act = gate.map((gi, i) => (gi / (1 + Math.exp(-gi))) * up[i]!);
    const down = linear(act, T, L.down_proj.weight, d, inter, L.down_proj.bias);
    x = x.map((xi, i) => xi + down[i]!);
  }
  const f = rmsNorm(x, T, d, w.norm, c.rmsNormEps);
  return linear(f, T, w.lmHead.weight, c.vocabSize, d);
}

/** NLL (nats) of each `ids[t]`, t ≥ 1, under row t − 1 of `logits` [ids.length, vocab]. */
export function nllFromLogits(logits: ArrayLike<number>, ids: readonly number[], vocab: number) {
  const out: number[] = [];
  for (let t = 1; t < ids.length; t++) {
    let m = -Infinity;
    for (let j = 0; j < vocab; j++) m = Math.max(m, logits[(t - 1) * vocab + j]!);
    let z = 0;
    for (let j = 0; j < vocab; j++) z += Math.exp(logits[(t - 1) * vocab + j]! - m);
    out.push(m + Math.log(z) - logits[(t - 1) * vocab + ids[t]!]!);
  }
  return out;
}
