// This module is browser compatible.
/**
 * The contract every quantization method implements, so `quantlab quantize --method …`, the demo,
 * checkpoints and the experiments treat them alike. One method = one file exporting a
 * {@linkcode Quantizer}; `registry.ts` lists them.
 *
 * @module
 */
import type { Backend } from "../gpu/backend.ts";
import type { QuantizedLayout, QuantizedTensor, QuantMethod } from "./format.ts";

/**
 * Options shared by the methods (each method documents which it reads and rejects invalid ones
 * with a clear error). Method-specific knobs go in `extra`.
 */
export interface QuantOptions {
  /** Bits per weight of the codes (HIGGS: bits per coordinate; the grid has 2^(p·bits) points). */
  bits?: number;
  /** Weights per scale group; `null` = one group per row (per channel). */
  groupSize?: number | null;
  /** Group axis: 1 = along the input dimension (default), 0 = along the output dimension. */
  axis?: 0 | 1;
  /** HIGGS: vector dimension of the grid. */
  p?: number;
  /** HIGGS: explicit grid size n (overrides bits). */
  gridSize?: number;
  /**
   * HIGGS: Hadamard block size h (0 = no rotation). Unset: `auto`, per tensor the largest power
   * of two ≤ {@linkcode QuantOptions.hadamardMax} that divides the input width.
   */
  hadamard?: number;
  /** HIGGS with `hadamard` unset (auto): the largest block it may pick (default 1024). */
  hadamardMax?: number;
  /** Random-sign seed for the rotation; `null` = plain Hadamard. */
  seed?: number | null;
  /** Stored precision of scales and zeros. */
  scaleDtype?: "F16" | "F32";
  /** Method-specific options (e.g. HQQ's `roundZero`, `iters`, RTN's `symmetric`, `clipSearch`). */
  extra?: Record<string, string | number | boolean>;
}

/** A quantization method. */
export interface Quantizer {
  /** Method name as used on the command line. */
  readonly method: QuantMethod;
  /** One line for help output. */
  readonly summary: string;
  /**
   * Quantizes a row-major [rows, cols] f32 weight (rows = output features). `name` is used in error
   * messages (NaN/Inf: name the tensor and first bad index; bad group size: name the valid
   * choices).
   */
  quantize(
    w: Float32Array,
    rows: number,
    cols: number,
    opts: QuantOptions,
    backend?: Backend,
    name?: string,
  ): Promise<QuantizedTensor>;
  /**
   * Every setting that changes this method's output for `opts`, defaults filled in (what a
   * resumed run is checked against, so a run with an explicit default and one without agree,
   * and a changed default cannot resume silently). Throws what `quantize` throws for invalid
   * options. Optional: without it a run keys on `opts` as given.
   */
  settings?(opts: QuantOptions): Record<string, unknown>;
  /**
   * Throws what `quantize` would throw for the shape of a [rows, cols] weight named `name` with
   * `opts` (group size against the width, rotation, …) without quantizing, so a whole-checkpoint
   * run checks every tensor before it quantizes the first. Optional.
   */
  checkShape?(rows: number, cols: number, opts: QuantOptions, name?: string): void;
  /**
   * What `quantize` stores for a [rows, cols] weight with `opts` (padded width, code bits, group
   * layout, how scales and zeros are stored), without quantizing: a checkpoint run plans its
   * files from it and checks each result against it. Throws what `checkShape` throws. Optional:
   * a method without it cannot quantize a whole checkpoint.
   */
  layout?(rows: number, cols: number, opts: QuantOptions, name?: string): QuantizedLayout;
}
