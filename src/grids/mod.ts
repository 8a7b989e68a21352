// This module is browser compatible.
/**
 * HIGGS grids: the normal distribution, Lloyd–Max and the grid builder, loading the shipped grids,
 * and the nearest-point encoders (CPU, worker pool, WebGPU).
 *
 * @module
 */
export * from "./normal.ts";
export * from "./lloyd_max.ts";
export * from "./grid.ts";
export * from "./encode_plan.ts";
export { exactSumSign } from "./encode_exact.ts";
export * from "./encode.ts";
export * from "./parallel.ts";
export * from "./encode_gpu.ts";
export * from "./lloyd_gpu.ts";
export * from "./build.ts";
export * from "./load.ts";
