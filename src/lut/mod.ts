// This module is browser compatible.
/**
 * Matrix products on packed codes (LUT matmul on the CPU, WebAssembly and WebGPU), the activation
 * rotation, dense GPU baselines, and the `Linear` contract the model runs on.
 *
 * @module
 */
export * from "./cpu.ts";
export * from "./dense_gpu.ts";
export * from "./gpu.ts";
export * from "./linear.ts";
export * from "./linear_layer.ts";
export * from "./reference.ts";
export * from "./rotate.ts";
export * from "./support.ts";
export type { LutKernelMeta } from "./cpu_kernels.ts";
export * from "./cpu_wasm.ts";
export * from "./cpu_int8.ts";
export * from "./int8_format.ts";
export * from "./int8_fallback.ts";
