// This module is browser compatible.
/**
 * The one error metric every method is compared by: the relative squared layer error
 * t² = ‖W − Ŵ‖²_F / ‖W‖²_F (the quantity of the linearity theorem), together with bits per weight,
 * per tensor and for a whole model (totals weight each tensor by its size).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { bitsPerWeight, type QuantizedTensor } from "./format.ts";
import { dequantize } from "./dequantize.ts";
import { syrkUpper } from "../cpu/matmul.ts";

/** The error of one quantized tensor. */
export interface TensorError {
  /** Tensor name. */
  name: string;
  /** Original shape [rows, cols]. */
  shape: [number, number];
  /** Method that produced the quantized tensor. */
  method: string;
  /** ‖W − Ŵ‖² (f64 accumulation). */
  sqError: number;
  /** ‖W‖². */
  sqNorm: number;
  /** sqError / sqNorm (0 when both are 0; Infinity when only W is 0). */
  relMse: number;
  /** Bits per weight, everything needed to decode counted (table included). */
  bitsPerWeight: number;
}

/** Totals over several tensors. */
export interface ErrorTotal {
  /** Number of tensors. */
  tensors: number;
  /** Number of weights. */
  weights: number;
  /** Σ sqError / Σ sqNorm: the relative error of the model's quantized weights as one vector. */
  relMse: number;
  /** Mean of the per-tensor relMse weighted by size (each tensor's t² counts by its numel). */
  meanRelMse: number;
  /** Bits per weight over all tensors (total bits / total weights). */
  bitsPerWeight: number;
}

/**
 * ‖a − b‖² and ‖a‖² accumulated in f64.
 *
 * @example
 * ```ts
 * import { squaredError } from "./error_metrics.ts";
 * const { sqError, sqNorm } = squaredError(new Float32Array([3, 4]), new Float32Array([3, 3]));
 * if (sqError !== 1 || sqNorm !== 25) throw new Error();
 * ```
 */
export function squaredError(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { sqError: number; sqNorm: number } {
  if (a.length !== b.length) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot compare tensors of ${a.length} and ${b.length} elements; the lengths must match`,
    );
  }
  let e = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const d = x - b[i]!;
    e += d * d;
    s += x * x;
  }
  return { sqError: e, sqNorm: s };
}

/** t² from the two sums: 0 when both are 0, Infinity when only the reference is 0. */
function ratio(sqError: number, sqNorm: number): number {
  if (sqNorm > 0) return sqError / sqNorm;
  return sqError > 0 ? Infinity : 0;
}

/**
 * Relative squared error ‖W − Ŵ‖²/‖W‖² of a reconstruction.
 *
 * @example
 * ```ts
 * import { relativeMse } from "./error_metrics.ts";
 * if (relativeMse(new Float32Array([1, 1]), new Float32Array([1, 0])) !== 0.5) throw new Error();
 * ```
 */
export function relativeMse(w: ArrayLike<number>, what: ArrayLike<number>): number {
  const { sqError, sqNorm } = squaredError(w, what);
  return ratio(sqError, sqNorm);
}

/**
 * The error of quantized tensor `q` against the original `w` ([rows, cols] f32, row-major);
 * `what` is q's reconstruction when the caller already has it (e.g. from `dequantizeParallel`).
 *
 * @example
 * ```ts
 * import { tensorError } from "./error_metrics.ts";
 * import { packCodes } from "./packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 2] as [number, number], paddedCols: 2, p: 1, codeBits: 1,
 *   codes: packCodes([0, 1], 1, 2, 1), table: new Float32Array([0, 1]), tableDtype: "F32" as const,
 *   groupSize: 2, groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const e = tensorError("w", new Float32Array([0, 2]), q);
 * if (e.relMse !== 0.25) throw new Error();
 * ```
 */
export function tensorError(
  name: string,
  w: Float32Array,
  q: QuantizedTensor,
  what?: Float32Array,
): TensorError {
  const [rows, cols] = q.shape;
  if (w.length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Tensor "${name}" holds ${w.length} values but its quantized form is ${rows} × ${cols}`,
    );
  }
  const { sqError, sqNorm } = squaredError(w, what ?? dequantize(q));
  return {
    name,
    shape: [rows, cols],
    method: q.method,
    sqError,
    sqNorm,
    relMse: ratio(sqError, sqNorm),
    bitsPerWeight: bitsPerWeight(q),
  };
}

/**
 * Totals over per-tensor errors.
 *
 * @example
 * ```ts
 * import { totalError } from "./error_metrics.ts";
 * const t = totalError([
 *   { name: "a", shape: [1, 4], method: "higgs", sqError: 1, sqNorm: 10, relMse: 0.1, bitsPerWeight: 4 },
 *   { name: "b", shape: [1, 4], method: "higgs", sqError: 3, sqNorm: 10, relMse: 0.3, bitsPerWeight: 2 },
 * ]);
 * if (t.relMse !== 0.2 || t.bitsPerWeight !== 3 || t.weights !== 8) throw new Error();
 * ```
 */
export function totalError(errors: readonly TensorError[]): ErrorTotal {
  let e = 0;
  let s = 0;
  let weights = 0;
  let bits = 0;
  let weighted = 0;
  for (const t of errors) {
    const n = t.shape[0] * t.shape[1];
    e += t.sqError;
    s += t.sqNorm;
    weights += n;
    bits += t.bitsPerWeight * n;
    weighted += t.relMse * n;
  }
  return {
    tensors: errors.length,
    weights,
    relMse: ratio(e, s),
    meanRelMse: weights > 0 ? weighted / weights : 0,
    bitsPerWeight: weights > 0 ? bits / weights : 0,
  };
}

/**
 * The data-aware layer error tr((W − Ŵ)·H·(W − Ŵ)ᵀ), = 2‖(W − Ŵ)Xᵀ‖² for H = 2XᵀX (GPTQ's
 * objective), with W, Ŵ [rows, cols] and a symmetric H [cols, cols] row-major. Computed as
 * Σᵢⱼ Hᵢⱼ·(EᵀE)ᵢⱼ with E = W − Ŵ: EᵀE's upper triangle by one `ssyrk` (rows·cols² multiply-adds,
 * half the E·H `sgemm`), the off-diagonal terms counted twice; summed in f64.
 *
 * @example
 * ```ts
 * import { hessianError } from "./error_metrics.ts";
 * const w = new Float32Array([1, 2, 0, 1]);
 * const d = new Float32Array([0, 2, 0, 0]);
 * // E = [[1, 0], [0, 1]]: tr(E·H·Eᵀ) = H[0, 0] + H[1, 1] = 8
 * if (hessianError(w, d, new Float32Array([3, 1, 1, 5]), 2, 2) !== 8) throw new Error();
 * ```
 */
export function hessianError(
  w: Float32Array,
  what: Float32Array,
  h: Float32Array,
  rows: number,
  cols: number,
): number {
  if (w.length !== rows * cols || what.length !== rows * cols || h.length !== cols * cols) {
    throw new QuantlabError(
      "bad-shape",
      `hessianError: W holds ${w.length}, Ŵ ${what.length} and H ${h.length} values; ` +
        `[${rows}, ${cols}] and [${cols}, ${cols}] need ${rows * cols} and ${cols * cols}`,
    );
  }
  const e = new Float32Array(w.length);
  for (let i = 0; i < e.length; i++) e[i] = w[i]! - what[i]!;
  const g = syrkUpper(cols, rows, 1, e, new Float32Array(cols * cols));
  let diag = 0, off = 0;
  for (let i = 0; i < cols; i++) {
    const r = i * cols;
    diag += h[r + i]! * g[r + i]!;
    for (let j = i + 1; j < cols; j++) off += h[r + j]! * g[r + j]!;
  }
  return diag + 2 * off;
}
