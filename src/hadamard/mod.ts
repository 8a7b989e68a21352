// This module is browser compatible.
/**
 * Blockwise (randomized) Walsh–Hadamard transforms on the CPU and WebGPU: the rotation of HIGGS,
 * applied to weights at quantization time and to activations at inference time.
 *
 * - {@linkcode fwhtReference}: the specification (f64 textbook butterfly), and
 *   {@linkcode hadamardMatrix}, the explicit Sylvester matrix.
 * - {@linkcode fwhtInPlace}: fast, in place, on the calling thread (WebAssembly SIMD kernels where
 *   available, bit-for-bit equal to the TypeScript fallback).
 * - {@linkcode hadamard}: fast, on every core (worker pool), zero-padding columns when needed.
 * - {@linkcode hadamardGpu} and {@linkcode encodeHadamard}: WebGPU, f32 or f16 buffers, chainable
 *   without readback.
 *
 * Per block of n = 2^k columns (2 ≤ n ≤ 32768), with D = diag(randSign(seed, column)) when a seed
 * is given: forward y = H·D·x·f, inverse x = D·H·y·g, where f = g = 1/√n (orthonormal) or f = 1,
 * g = 1/n (unnormalized, the ±1 convention of the HF HIGGS integration).
 *
 * @example
 * ```ts
 * import { fwhtInPlace, fwhtReference } from "./mod.ts";
 * const x = new Float32Array([3, 1, 4, 1, 5, 9, 2, 6]);
 * const want = fwhtReference(x, 2, 4, { blockSize: 4, seed: 1 }).data;
 * fwhtInPlace(x, 2, 4, { blockSize: 4, seed: 1 });
 * if (x.some((v, i) => Math.abs(v - want[i]!) > 1e-6)) throw new Error();
 * ```
 *
 * @module
 */
export {
  checkBlockSize,
  type HadamardNormalization,
  type HadamardOptions,
  type HadamardResult,
  hadamardScale,
  isPowerOfTwo,
  log2Exact,
  MAX_HADAMARD_SIZE,
  padColumns,
} from "./common.ts";
export { butterflyF64, fwhtF64InPlace, fwhtReference, hadamardMatrix } from "./reference.ts";
export { fwhtInPlace, hadamard } from "./fwht.ts";
export {
  encodeHadamard,
  hadamardGpu,
  type HadamardGpuOptions,
  type HadamardStorage,
  workgroupBlockLimit,
} from "./gpu.ts";
