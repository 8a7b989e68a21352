// This module is browser compatible.
/**
 * The Llama-family runtime: configuration, the reference forward (the spec), the CPU and WebGPU
 * forwards, KV cache, generation, tokenizer wrapper, building a model from tensors and loading a
 * model folder.
 *
 * @module
 */
export * from "./family.ts";
export * from "./config.ts";
export * from "./types.ts";
export * from "./linear.ts";
export * from "./rope.ts";
export * from "./ops.ts";
export * from "./ops_wasm.ts";
export * from "./reference.ts";
export * from "./random.ts";
export * from "./kv_positions.ts";
export * from "./kv_cache.ts";
export * from "./llama.ts";
export * from "./embedding.ts";
export * from "./build.ts";
export * from "./gpu_ops.ts";
export * from "./kv_cache_gpu.ts";
export * from "./gpu_llama.ts";
export * from "./tokenizer.ts";
export * from "./generate.ts";
export * from "./loader.ts";
export * from "./quantized.ts";
export * from "./hessian_capture.ts";
export * from "./sequential_capture.ts";
