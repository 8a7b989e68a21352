// This module is browser compatible.
/**
 * Dequantization of the shared format, every method: Ŵ = inverse-rotate(decodeRotated(q)) with the
 * padding dropped, and the inference form that rotates the activation instead of the weight.
 *
 * With the orthonormal randomized Hadamard R = Hₒ·D per block (Hₒ = H/√h, D = diag of
 * `randSign(seed, c)`), the quantizer stored Ŵrot ≈ W·Rᵀ blockwise (each row block w_b became
 * R·w_b), so Ŵ = Ŵrot·R blockwise, i.e. each row block is D·Hₒ·ŵrot_b, the `inverse` transform of
 * `src/hadamard`. For an activation x: Ŵ·x = Ŵrot·(R·x), so {@linkcode rotateActivation} applies
 * the *forward* transform to x (zero-padded), and a LUT matmul on the codes never de-rotates.
 *
 * Decoding is deterministic (the same f32 operations in the same order on every call and in
 * every worker), so a checkpoint reloaded from disk dequantizes bit-exactly to the Ŵ computed
 * before saving.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fwhtInPlace, hadamard } from "../hadamard/fwht.ts";
import type { QuantizedTensor, Rotation } from "./format.ts";
import { validateQuantized } from "./format.ts";
import { decodeRotated } from "./decode.ts";
import { rowStrideWords } from "./packing.ts";

/**
 * Decodes to the rotated, padded domain [rows, paddedCols]: bit-identical to `decodeRotated`
 * (`decode.ts`, the reference), faster for groups along the columns.
 *
 * @example
 * ```ts
 * import { decodeRotatedFast } from "./dequantize.ts";
 * import { decodeRotated } from "./decode.ts";
 * import { packCodes } from "./packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 4] as [number, number], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32" as const, groupSize: 2, groupAxis: 1 as const,
 *   scales: new Float32Array([0.5, 2]), scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * if (decodeRotatedFast(q).join() !== decodeRotated(q).join()) throw new Error();
 * ```
 */
export function decodeRotatedFast(q: QuantizedTensor, out?: Float32Array): Float32Array {
  validateQuantized(q);
  if (q.groupAxis !== 1) {
    const r = decodeRotated(q);
    if (!out) return r;
    out.set(r);
    return out;
  }
  const [rows] = q.shape;
  const { p, codeBits: bits, paddedCols: pc, groupSize: g, table, scales, zeros, codes } = q;
  const cpr = pc / p;
  const stride = rowStrideWords(cpr, bits);
  const mask = (1 << bits) - 1;
  const gpr = pc / g;
  const cpg = g / p;
  const y = out ?? new Float32Array(rows * pc);
  for (let r = 0; r < rows; r++) {
    const wbase = r * stride;
    for (let k = 0; k < gpr; k++) {
      const gi = r * gpr + k;
      const s = scales[gi]!;
      const z = zeros ? zeros[gi]! : 0;
      for (let jj = 0; jj < cpg; jj++) {
        const j = k * cpg + jj;
        const bit = j * bits;
        const w = wbase + (bit >>> 5);
        const sh = bit & 31;
        let code = codes[w]! >>> sh;
        if (sh + bits > 32) code |= codes[w + 1]! << (32 - sh);
        code &= mask;
        const o = r * pc + j * p;
        for (let e = 0; e < p; e++) y[o + e] = (table[code * p + e]! - z) * s;
      }
    }
  }
  return y;
}

/**
 * Applies the inverse of `rotation` to each row of a [rows, paddedCols] matrix, in place.
 *
 * @example
 * ```ts
 * import { inverseRotate } from "./dequantize.ts";
 * const x = new Float32Array([1, 1, 1, 1]);
 * inverseRotate(x, 1, 4, { kind: "hadamard", size: 4, seed: null });
 * if (x.join() !== "2,0,0,0") throw new Error();
 * ```
 */
export function inverseRotate(
  x: Float32Array,
  rows: number,
  paddedCols: number,
  rotation: Rotation,
): Float32Array {
  if (rotation.kind === "none") return x;
  return fwhtInPlace(x, rows, paddedCols, {
    blockSize: rotation.size,
    seed: rotation.seed,
    inverse: true,
  });
}

function dropPadding(x: Float32Array, rows: number, pc: number, cols: number): Float32Array {
  if (pc === cols) return x;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * pc, r * pc + cols), r * cols);
  return out;
}

/**
 * The reconstruction Ŵ [rows, cols] (f32, row-major) of any quantized tensor.
 *
 * @example
 * ```ts
 * import { dequantize } from "./dequantize.ts";
 * import { packCodes } from "./packing.ts";
 * const w = dequantize({
 *   method: "rtn", shape: [1, 3], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([2]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * });
 * if (w.join() !== "0,2,4") throw new Error();
 * ```
 */
export function dequantize(q: QuantizedTensor): Float32Array {
  const [rows, cols] = q.shape;
  const rot = decodeRotatedFast(q);
  inverseRotate(rot, rows, q.paddedCols, q.rotation);
  return dropPadding(rot, rows, q.paddedCols, cols);
}

/**
 * {@linkcode dequantize} with the inverse rotation on the worker pool (bit-identical result).
 *
 * @example
 * ```ts
 * import { dequantizeParallel } from "./dequantize.ts";
 * import { packCodes } from "./packing.ts";
 * const w = await dequantizeParallel({
 *   method: "higgs", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 1,
 *   codes: packCodes([1, 1, 1, 1], 1, 4, 1), table: new Float32Array([-1, 1]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "hadamard", size: 4, seed: null },
 *   params: {},
 * });
 * if (w.join() !== "2,0,0,0") throw new Error();
 * ```
 */
export async function dequantizeParallel(q: QuantizedTensor): Promise<Float32Array> {
  const [rows, cols] = q.shape;
  if (q.rotation.kind === "none") return dequantize(q);
  const pc = q.paddedCols;
  const rot = decodeRotatedFast(q, new Float32Array(new SharedArrayBuffer(rows * pc * 4)));
  const r = await hadamard(rot, rows, pc, {
    blockSize: q.rotation.size,
    seed: q.rotation.seed,
    inverse: true,
    strict: true,
  });
  return dropPadding(r.data, rows, pc, cols);
}

/**
 * Rotates activations x [batch, cols] (cols = the weight's input dimension) into the weight's
 * rotated domain, zero-padded to [batch, paddedCols], so that Ŵ·x = decodeRotated(q)·x' for each
 * row of the batch (y[b, o] = Σ_c Ŵrot[o, c]·x'[b, c]): the inference form of HIGGS, where the LUT
 * matmul runs on the codes and only the activation is transformed (forward orthonormal randomized
 * Hadamard per block, O(h log h) per block).
 *
 * @example
 * ```ts
 * import { rotateActivation } from "./dequantize.ts";
 * import { packCodes } from "./packing.ts";
 * const q = {
 *   method: "higgs" as const, shape: [1, 4] as [number, number], paddedCols: 4, p: 1, codeBits: 1,
 *   codes: packCodes([1, 0, 0, 0], 1, 4, 1), table: new Float32Array([0, 1]),
 *   tableDtype: "F32" as const, groupSize: 4, groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "hadamard" as const, size: 4, seed: null }, params: {},
 * };
 * const x = rotateActivation(q, new Float32Array([1, 2, 3, 4]), 1);
 * if (x.join() !== "5,-1,-2,0") throw new Error();
 * ```
 */
export function rotateActivation(q: QuantizedTensor, x: Float32Array, batch: number): Float32Array {
  const [, cols] = q.shape;
  if (!Number.isSafeInteger(batch) || batch < 1 || x.length !== batch * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Activation holds ${x.length} values; batch ${batch} × ${cols} input features needs ` +
        `${batch * cols}`,
    );
  }
  const pc = q.paddedCols;
  const out = new Float32Array(batch * pc);
  for (let b = 0; b < batch; b++) out.set(x.subarray(b * cols, (b + 1) * cols), b * pc);
  if (q.rotation.kind === "none") return out;
  return fwhtInPlace(out, batch, pc, { blockSize: q.rotation.size, seed: q.rotation.seed });
}
