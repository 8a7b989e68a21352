/**
 * Model shapes shared by the benchmarks: the Llama-3.2-1B shape of issue 21 (d 2048, 16 layers,
 * 32 heads / 8 KV heads, SwiGLU 8192, vocabulary 32000, tied embeddings) and the embedded tiny
 * Llama's (d 256 × 4 layers, vocabulary 4096, tied).
 *
 * @module
 */
import { type LlamaConfig, llamaConfig, TINY_LLAMA_SHAPE } from "../src/model/config.ts";

/** The Llama-3.2-1B shape (vocabulary cut to 32000), `layers` layers (default 16). */
export function llama1bConfig(layers = 16): LlamaConfig {
  return llamaConfig({
    hiddenSize: 2048,
    numLayers: layers,
    numHeads: 32,
    numKvHeads: 8,
    intermediateSize: 8192,
    vocabSize: 32000,
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: true,
  });
}

/** The embedded tiny Llama's shape, tied embeddings. */
export function tinyConfig(): LlamaConfig {
  return llamaConfig({ ...TINY_LLAMA_SHAPE, tieWordEmbeddings: true });
}
