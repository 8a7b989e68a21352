/**
 * quantlab: data-free LLM weight quantization (HIGGS, HQQ, NF4, RTN) on WebGPU and CPU.
 *
 * The public API, grouped by layer (lowest first; see `docs/architecture.md`): each
 * `src/<layer>/mod.ts` lists what of its layer is public — `core`, `cpu`, `gpu`, `hadamard`,
 * `grids`, `quant` (the methods), `io` (file formats), `data`, `lut`, `model`, `train`, `eval`
 * and `jobs` (whole-model work such as `quantizeCheckpoint`).
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
export * from "./src/core/mod.ts";
export * from "./src/cpu/mod.ts";
export * from "./src/gpu/mod.ts";
export * from "./src/hadamard/mod.ts";
export * from "./src/grids/mod.ts";
export * from "./src/quant/mod.ts";
export * from "./src/io/mod.ts";
export * from "./src/data/mod.ts";
export * from "./src/lut/mod.ts";
export * from "./src/model/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/eval/mod.ts";
export * from "./src/jobs/mod.ts";
