// This module is browser compatible.
/**
 * The quantization methods, one per file, each on one matrix: the shared `QuantizedTensor` format,
 * packing and decoding, the group encoder of the data-free baselines, RTN, NF4/AF4/FP4, HQQ,
 * HIGGS, dequantization, error metrics and the method registry.
 *
 * @module
 */
export * from "./format.ts";
export * from "./packing.ts";
export * from "./decode.ts";
export type * from "./quantizer.ts";
export * from "./meta_quant.ts";
export * from "./group_encoding.ts";
export * from "./group_encoder.ts";
export * from "./group_encoder_gpu.ts";
export * from "./rtn.ts";
export * from "./normal_float.ts";
export { HQQ_BITS, type HqqConfig, hqqConfig, hqqLevels, type HqqTrace } from "./hqq_config.ts";
export * from "./hqq_reference.ts";
export * from "./hqq.ts";
export * from "./higgs_params.ts";
export { checkWeight, higgsTable, higgsTensor, roundScale } from "./higgs_tensor.ts";
export * from "./higgs.ts";
export { setHiggsGpuChunkBytes } from "./higgs_gpu.ts";
export * from "./higgs_unbiased.ts";
export * from "./dequantize.ts";
export * from "./error_metrics.ts";
export * from "./registry.ts";
export * from "./grid_spec.ts";
export * from "./gptq_linalg.ts";
export * from "./gptq_grid.ts";
export * from "./gptq.ts";
export * from "./gptq_sweep.ts";
export * from "./gptq_reference.ts";
export type * from "./gptq_problem.ts";
