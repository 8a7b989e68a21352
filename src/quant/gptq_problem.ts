/**
 * The state of one GPTQ problem handed from the setup (`gptq.ts`) to the sweeps (the blocked one in
 * `gptq_sweep.ts`, the plain reference in `gptq_reference.ts`): its own module so that neither
 * sweep imports the setup.
 *
 * @module
 */
import type { QuantizedTensor } from "./format.ts";
import type { GptqGrid } from "./gptq_grid.ts";

/** The state of one GPTQ problem before the sweep (shared with the reference). */
export interface GptqProblem {
  /** The working weight [rows, n] in sweep order (rotated for HIGGS), f32. */
  w: Float32Array;
  /** The damped Hessian [n, n] in sweep order. */
  h: Float32Array;
  /** Rows. */
  rows: number;
  /** Columns of the sweep (padded for HIGGS). */
  n: number;
  /** Sweep position of a tuple → its tuple index in the grid's column order (null: identity). */
  perm: Int32Array | null;
  /** The inner quantizer. */
  grid: GptqGrid;
  /** The data-free template. */
  template: QuantizedTensor;
  /** λ. */
  damp: number;
  /** Dead columns. */
  dead: number;
  /** Static groups in use. */
  staticGroups: boolean;
}
