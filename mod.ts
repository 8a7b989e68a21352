/**
 * quantlab: data-free LLM weight quantization (HIGGS, HQQ, NF4, RTN) on WebGPU and CPU.
 *
 * @example
 * ```ts
 * import { Tensor } from "./mod.ts";
 * const t = Tensor.zeros([4, 4]);
 * if (t.numel !== 16) throw new Error("unexpected");
 * ```
 *
 * @module
 */
export * from "./src/core/errors.ts";
export * from "./src/core/tensor.ts";
export * from "./src/core/prng.ts";
export * from "./src/core/distributions.ts";
export * from "./src/core/dtype.ts";
export * from "./src/cpu/pool.ts";
export * from "./src/cpu/gemm.ts";
export * from "./src/cpu/blas.ts";
export * from "./src/cpu/matmul.ts";
export * from "./src/gpu/device.ts";
export * from "./src/gpu/backend.ts";
export * from "./src/quant/format.ts";
export * from "./src/quant/packing.ts";
export * from "./src/quant/decode.ts";
export type * from "./src/quant/quantizer.ts";
export * from "./src/io/safetensors_format.ts";
export * from "./src/io/safetensors.ts";
export * from "./src/io/sharded.ts";
export * from "./src/grids/normal.ts";
export * from "./src/grids/lloyd_max.ts";
export * from "./src/grids/grid.ts";
export * from "./src/grids/encode.ts";
export * from "./src/grids/parallel.ts";
export * from "./src/grids/encode_gpu.ts";
export * from "./src/grids/lloyd_gpu.ts";
export * from "./src/grids/build.ts";
export * from "./src/grids/load.ts";
export * from "./src/model/config.ts";
export * from "./src/model/types.ts";
export * from "./src/model/linear.ts";
export * from "./src/model/rope.ts";
export * from "./src/model/ops.ts";
export * from "./src/model/ops_wasm.ts";
export * from "./src/model/reference.ts";
export * from "./src/model/random.ts";
export * from "./src/model/kv_positions.ts";
export * from "./src/model/llama.ts";
export * from "./src/model/build.ts";
export * from "./src/model/gpu_ops.ts";
export * from "./src/model/gpu_llama.ts";
export * from "./src/model/tokenizer.ts";
export * from "./src/model/tiny.ts";
export * from "./src/model/generate.ts";
export * from "./src/model/loader.ts";
export * from "./src/eval/perplexity.ts";
export * from "./src/eval/paired.ts";
export * from "./src/eval/kl.ts";
export * from "./src/eval/results.ts";
export * from "./src/eval/ppl_job.ts";
export * from "./src/hadamard/mod.ts";
export * from "./src/quant/meta_quant.ts";
export * from "./src/quant/rtn.ts";
export * from "./src/quant/normal_float.ts";
export * from "./src/quant/hqq.ts";
export * from "./src/quant/higgs.ts";
export * from "./src/quant/higgs_unbiased.ts";
export * from "./src/quant/dequantize.ts";
export * from "./src/quant/error_metrics.ts";
export * from "./src/quant/registry.ts";
export * from "./src/io/quantized_checkpoint.ts";
export * from "./src/lut/cpu.ts";
export * from "./src/lut/dense_gpu.ts";
export * from "./src/lut/gpu.ts";
export * from "./src/lut/linear.ts";
export * from "./src/lut/reference.ts";
export * from "./src/lut/rotate.ts";
export * from "./src/lut/support.ts";
export * from "./src/model/quantized.ts";
export type { LutKernelMeta } from "./src/lut/cpu_kernels.ts";
export * from "./src/lut/cpu_wasm.ts";
export * from "./src/lut/cpu_int8.ts";
export * from "./src/lut/int8_format.ts";
export * from "./src/lut/int8_fallback.ts";
export * from "./src/experiments/allocation.ts";
export * from "./src/experiments/linearity.ts";
export * from "./src/experiments/linearity_configs.ts";
export * from "./src/experiments/linearity_check.ts";
export * from "./src/experiments/linearity_summary.ts";
export * from "./src/experiments/sensitivity_job.ts";
export * from "./src/data/brown.ts";
export * from "./src/data/bpe.ts";
export * from "./src/train/llama_train.ts";
export * from "./src/train/adamw.ts";
export * from "./src/train/train_job.ts";
export * from "./src/experiments/tiny_ppl.ts";
export * from "./src/experiments/demo.ts";
