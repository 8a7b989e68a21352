// This module is browser compatible.
/**
 * The activation side of a rotated quantized layer (HIGGS): `R(x)`, the same orthonormal,
 * optionally sign-randomized, blockwise Walsh–Hadamard transform that `src/quant/higgs.ts` applies
 * to the weight rows before quantizing them. With Ŵrot = `decodeRotated(q)`,
 *
 *     y = Ŵ·x = Ŵrot · R(x),   R(x)[block] = Hₒ · D · pad(x)[block],
 *
 * where `pad` zero-extends x from `cols` to `paddedCols`, blocks are `h` consecutive columns,
 * Hₒ = H/√h is the orthonormal Sylvester Hadamard matrix (entry (i, j) = (−1)^popcount(i & j) / √h)
 * and D = diag(randSign(seed, c)) over the padded column c (D = I when `seed` is null). Without a
 * rotation, R is just the zero padding.
 *
 * The transform runs in f64 (an in-place radix-2 fast Walsh–Hadamard transform, h·log2 h adds per
 * block), so it adds no error visible at f32 precision.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randSign } from "../core/prng.ts";
import type { Rotation } from "../quant/format.ts";
import { fwhtF64InPlace } from "../hadamard/reference.ts";

/**
 * The ±1 sign vector D of a rotation over `paddedCols` columns, or null when there is none
 * (no rotation, or a plain Hadamard with `seed: null`).
 *
 * @example
 * ```ts
 * import { rotationSigns } from "./rotate.ts";
 * const d = rotationSigns({ kind: "hadamard", size: 4, seed: 7 }, 8);
 * if (!d || d.length !== 8 || d.some((v) => Math.abs(v) !== 1)) throw new Error();
 * if (rotationSigns({ kind: "none" }, 8) !== null) throw new Error();
 * ```
 */
export function rotationSigns(rotation: Rotation, paddedCols: number): Float64Array | null {
  if (rotation.kind !== "hadamard" || rotation.seed === null) return null;
  const out = new Float64Array(paddedCols);
  for (let c = 0; c < paddedCols; c++) out[c] = randSign(rotation.seed, c);
  return out;
}

/**
 * `R(x)` for `batch` rows of `cols` activations: zero-padded to `paddedCols` and, for a Hadamard
 * rotation, transformed blockwise (see the module doc). Returns `[batch, paddedCols]` in f64
 * (into `out` when given). `signs` may pass a precomputed {@linkcode rotationSigns} vector.
 *
 * @example
 * ```ts
 * import { rotateActivations } from "./rotate.ts";
 * const y = rotateActivations(new Float32Array([1, 1, 1]), 1, 3, 4, {
 *   kind: "hadamard", size: 4, seed: null,
 * });
 * // H·[1, 1, 1, 0]/2 = [1.5, 0.5, 0.5, -0.5]
 * if (y.join() !== "1.5,0.5,0.5,-0.5") throw new Error();
 * ```
 */
export function rotateActivations(
  x: ArrayLike<number>,
  batch: number,
  cols: number,
  paddedCols: number,
  rotation: Rotation,
  signs: Float64Array | null = rotationSigns(rotation, paddedCols),
  out: Float64Array = new Float64Array(batch * paddedCols),
): Float64Array {
  if (x.length !== batch * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Activations hold ${x.length} values; batch ${batch} × ${cols} features needs ${
        batch * cols
      }`,
    );
  }
  if (paddedCols < cols || out.length < batch * paddedCols) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot pad ${cols} features to ${paddedCols} into an output of ${out.length} values`,
    );
  }
  const h = rotation.kind === "hadamard" ? rotation.size : 0;
  if (h && paddedCols % h !== 0) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard size ${h} does not divide the padded width ${paddedCols}`,
    );
  }
  for (let b = 0; b < batch; b++) {
    const o = b * paddedCols;
    const xi = b * cols;
    if (signs) {
      for (let c = 0; c < cols; c++) out[o + c] = x[xi + c]! * signs[c]!;
    } else {
      for (let c = 0; c < cols; c++) out[o + c] = x[xi + c]!;
    }
    out.fill(0, o + cols, o + paddedCols);
    if (h) { for (let blk = 0; blk < paddedCols; blk += h) fwhtF64InPlace(out, o + blk, h); }
  }
  return out;
}

/**
 * The inverse of the weight-side rotation on one decoded row in place: ŵ = D·Hₒ·ŵrot per block
 * (Hₒ is symmetric and its own inverse). Used to turn `decodeRotated` rows into dense weights.
 *
 * @example
 * ```ts
 * import { unrotateRow } from "./rotate.ts";
 * const r = new Float64Array([1.5, 0.5, 0.5, -0.5]);
 * unrotateRow(r, 0, 4, { kind: "hadamard", size: 4, seed: null }, null);
 * if (r.join() !== "1,1,1,0") throw new Error();
 * ```
 */
export function unrotateRow(
  row: Float64Array,
  offset: number,
  paddedCols: number,
  rotation: Rotation,
  signs: Float64Array | null,
): void {
  if (rotation.kind !== "hadamard") return;
  const h = rotation.size;
  for (let blk = 0; blk < paddedCols; blk += h) fwhtF64InPlace(row, offset + blk, h);
  if (signs) {
    for (let c = 0; c < paddedCols; c++) {
      row[offset + c] = row[offset + c]! * signs[c]!;
    }
  }
}
