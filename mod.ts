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
