// This module is browser compatible.
/**
 * Random-weight Llama-family models for tests, examples and benchmarks: seeded (project PRNG),
 * scaled so activations stay O(1) through the layers, as dense weights or as the tensors of a
 * Hugging Face checkpoint.
 *
 * @module
 */
import { fillNormal } from "../core/prng.ts";
import { Tensor } from "../core/tensor.ts";
import { tensorFromF32 } from "../core/dtype.ts";
import type { LlamaConfig } from "./config.ts";
import type { DenseWeights, ReferenceLayer, ReferenceWeights } from "./reference.ts";
import { LINEAR_KINDS, projectionHasBias, projectionShape } from "./types.ts";
import { modelFamily } from "./family.ts";

/**
 * Random dense weights for `c`: projections N(0, 1/in), embedding N(0, 1), norms 1 + N(0, 0.01),
 * biases N(0, 0.01). The LM head is the embedding when `tieWordEmbeddings`.
 *
 * @example
 * ```ts
 * import { randomLlamaWeights } from "./random.ts";
 * import { llamaConfig } from "./config.ts";
 * const w = randomLlamaWeights(llamaConfig({ tieWordEmbeddings: true }), 7);
 * if (w.lmHead.weight !== w.embed) throw new Error("unexpected");
 * ```
 */
export function randomLlamaWeights(c: LlamaConfig, seed: number): ReferenceWeights {
  let offset = 0;
  const normal = (n: number, scale: number, shift = 0): Float32Array => {
    const a = fillNormal(new Float32Array(n), seed, offset, scale);
    offset += n + (n & 1); // keep streams disjoint and even-aligned
    if (shift) { for (let i = 0; i < n; i++) a[i] = a[i]! + shift; }
    return a;
  };
  const d = c.hiddenSize;
  const embed = normal(c.vocabSize * d, 1);
  const layers: ReferenceLayer[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const layer = { inputNorm: normal(d, 0.1, 1), postNorm: normal(d, 0.1, 1) } as ReferenceLayer;
    for (const kind of LINEAR_KINDS) {
      const [o, i] = projectionShape(c, kind);
      const w: DenseWeights = { weight: normal(o * i, 1 / Math.sqrt(i)) };
      if (projectionHasBias(c, kind)) w.bias = normal(o, 0.1);
      layer[kind] = w;
    }
    layers.push(layer);
  }
  const norm = normal(d, 0.1, 1);
  const lmHead = c.tieWordEmbeddings
    ? { weight: embed }
    : { weight: normal(c.vocabSize * d, 1 / Math.sqrt(d)) };
  return { embed, layers, norm, lmHead };
}

/**
 * The tensors of a Hugging Face checkpoint holding `w` (names such as
 * `model.layers.0.self_attn.q_proj.weight`), converted to `dtype`. `lm_head.weight` is left out
 * for tied embeddings.
 *
 * @example
 * ```ts
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * import { llamaConfig } from "./config.ts";
 * const c = llamaConfig();
 * const t = llamaTensors(c, randomLlamaWeights(c, 1), "BF16");
 * if (t["model.norm.weight"]?.dtype !== "BF16") throw new Error("unexpected");
 * ```
 */
export function llamaTensors(
  c: LlamaConfig,
  w: ReferenceWeights,
  dtype: "F32" | "F16" | "BF16" = "F32",
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const put = (name: string, shape: number[], data: Float32Array): void => {
    out[name] = tensorFromF32(Tensor.f32(shape, data), dtype);
  };
  const d = c.hiddenSize;
  const names = modelFamily(c.architecture).tensors;
  put(names.embed, [c.vocabSize, d], w.embed);
  w.layers.forEach((L, l) => {
    put(names.inputNorm(l), [d], L.inputNorm);
    put(names.postNorm(l), [d], L.postNorm);
    for (const kind of LINEAR_KINDS) {
      const name = names.projection(l, kind);
      put(`${name}.weight`, projectionShape(c, kind), L[kind].weight);
      const b = L[kind].bias;
      if (b) put(`${name}.bias`, [b.length], b);
    }
  });
  put(names.finalNorm, [d], w.norm);
  if (!c.tieWordEmbeddings) put(names.lmHead, [c.vocabSize, d], w.lmHead.weight);
  return out;
}
