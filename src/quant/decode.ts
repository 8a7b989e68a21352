// This module is browser compatible.
/**
 * The reference decoder of the shared format (the spec the LUT kernels are tested against): codes →
 * table → (· − zero) · scale, giving the rotated, padded reconstruction. `dequantize.ts` adds the
 * inverse rotation and drops the padding.
 *
 * @module
 */
import { type QuantizedTensor, validateQuantized } from "./format.ts";
import { rowStrideWords } from "./packing.ts";

/**
 * Decodes `q` to a [rows, paddedCols] f32 matrix in the rotated domain (no inverse rotation).
 *
 * @example
 * ```ts
 * import { decodeRotated } from "./decode.ts";
 * import { packCodes } from "./packing.ts";
 * const w = decodeRotated({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([0.5]),
 *   zeros: new Float32Array([1]), scaleStorage: { kind: "float", dtype: "F32" },
 *   rotation: { kind: "none" }, params: {},
 * });
 * if (w.join() !== "-0.5,0,0.5,1") throw new Error();
 * ```
 */
export function decodeRotated(q: QuantizedTensor): Float32Array {
  validateQuantized(q);
  const [rows] = q.shape;
  const { p, codeBits: bits, paddedCols: pc, groupSize: g, table, scales, zeros } = q;
  const cpr = pc / p;
  const stride = rowStrideWords(cpr, bits);
  const mask = (1 << bits) - 1;
  const out = new Float32Array(rows * pc);
  const groupsPerRow = pc / g;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cpr; j++) {
      const bit = j * bits;
      const w = r * stride + (bit >>> 5);
      const sh = bit & 31;
      let code = q.codes[w]! >>> sh;
      if (sh + bits > 32) code |= q.codes[w + 1]! << (32 - sh);
      code &= mask;
      for (let k = 0; k < p; k++) {
        const c = j * p + k;
        const gi = q.groupAxis === 1
          ? r * groupsPerRow + Math.floor(c / g)
          : Math.floor(r / g) * pc + c;
        const z = zeros ? zeros[gi]! : 0;
        out[r * pc + c] = (table[code * p + k]! - z) * scales[gi]!;
      }
    }
  }
  return out;
}
