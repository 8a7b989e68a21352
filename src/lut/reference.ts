// This module is browser compatible.
/**
 * The specification of the LUT matmul (llm.c style): decode the whole weight with the reference
 * decoder, rotate the activations, multiply in f64. Slow and simple; every kernel is tested
 * against it.
 *
 * @module
 */
import type { QuantizedTensor } from "../quant/format.ts";
import { decodeRotated } from "../quant/decode.ts";
import { rotateActivations } from "./rotate.ts";
import { checkLutCall } from "./support.ts";

/**
 * `y[b, o] = Σ_c decodeRotated(q)[o, c] · R(x)[b, c]` in f64 (`[batch, rows]`), with R the
 * padding + blockwise rotation of `rotate.ts`: equal to `dequantize(q) · x`.
 *
 * @example
 * ```ts
 * import { lutMatmulReference } from "./reference.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const y = lutMatmulReference({
 *   method: "rtn", shape: [1, 3], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([1, 2, 3, 0], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([2]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * }, new Float32Array([1, 1, 1]), 1);
 * if (y[0] !== 12) throw new Error();
 * ```
 */
export function lutMatmulReference(
  q: QuantizedTensor,
  x: ArrayLike<number>,
  batch: number,
): Float64Array {
  const [rows, cols] = q.shape;
  checkLutCall(x, batch, cols, rows);
  const pc = q.paddedCols;
  const w = decodeRotated(q);
  const xr = rotateActivations(x, batch, cols, pc, q.rotation);
  const y = new Float64Array(batch * rows);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < rows; o++) {
      let s = 0;
      for (let c = 0; c < pc; c++) s += w[o * pc + c]! * xr[b * pc + c]!;
      y[b * rows + o] = s;
    }
  }
  return y;
}
