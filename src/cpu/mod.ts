/**
 * The CPU engine: the worker pool over SharedArrayBuffers, BLAS through `Deno.dlopen` and the
 * TypeScript GEMM it falls back to.
 *
 * @module
 */
export * from "./pool.ts";
export * from "./gemm_args.ts";
export * from "./gemm.ts";
export * from "./blas.ts";
export * from "./matmul.ts";
export * from "./wasm_gemm.ts";
export * from "./widen.ts";
export * from "./half_matmul.ts";
