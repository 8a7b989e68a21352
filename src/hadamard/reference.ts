// This module is browser compatible.
/**
 * The specification of the blockwise (randomized) Hadamard transform: a plain textbook radix-2
 * butterfly in f64, and the explicit Sylvester matrix. The fast CPU kernels and the WGSL kernels
 * are tested against these. See `common.ts` for the definition.
 *
 * @module
 */
import { randSign } from "../core/prng.ts";
import { type HadamardOptions, type HadamardResult, planHadamard } from "./common.ts";

/**
 * The n×n Sylvester Hadamard matrix (entries ±1, row-major): H_1 = [1],
 * H_2m = [[H_m, H_m], [H_m, −H_m]].
 *
 * @example
 * ```ts
 * import { hadamardMatrix } from "./reference.ts";
 * if (hadamardMatrix(2).join() !== "1,1,1,-1") throw new Error();
 * ```
 */
export function hadamardMatrix(n: number): Float64Array {
  const h = new Float64Array(n * n);
  h[0] = 1;
  for (let m = 1; m < n; m *= 2) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        const v = h[i * n + j]!;
        h[i * n + j + m] = v;
        h[(i + m) * n + j] = v;
        h[(i + m) * n + j + m] = -v;
      }
    }
  }
  return h;
}

/**
 * The blockwise Hadamard transform of a row-major [rows, cols] matrix, computed in f64 with the
 * textbook O(n log n) butterfly. Rows are zero-padded to a multiple of the block size (or, with
 * `strict`, a `bad-shape` error is thrown). Returns a new array; `x` is not modified. Does not
 * check for NaN.
 *
 * @example
 * ```ts
 * import { fwhtReference } from "./reference.ts";
 * const r = fwhtReference(new Float32Array([1, 2, 3]), 1, 3, { blockSize: 4 });
 * // H4 · [1, 2, 3, 0] / 2
 * if (r.data.join() !== "3,1,0,-2" || r.cols !== 4 || !r.padded) throw new Error();
 * ```
 */
export function fwhtReference(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: HadamardOptions,
): HadamardResult {
  const p = planHadamard(rows, cols, opts, x.length);
  const { n, scale } = p;
  const out = new Float32Array(rows * p.cols);
  const v = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < p.cols; c0 += n) {
      for (let j = 0; j < n; j++) {
        const c = c0 + j;
        const val = c < cols ? x[r * cols + c]! : 0;
        v[j] = p.mode === 1 ? val * randSign(p.seed, c) : val;
      }
      butterflyF64(v, 0, n);
      for (let j = 0; j < n; j++) {
        const s = p.mode === 2 ? randSign(p.seed, c0 + j) : 1;
        out[r * p.cols + c0 + j] = v[j]! * scale * s;
      }
    }
  }
  return { data: out, rows, cols: p.cols, originalCols: cols, padded: p.padded };
}

/**
 * The textbook radix-2 butterfly, unscaled, in place on the `n` values of `a` from `offset`
 * (Sylvester order): `a ← H·a`. The one f64 FWHT of the project: the reference transform above,
 * and the LUT matmul's activation rotation (`src/lut/rotate.ts`) use it.
 *
 * @example
 * ```ts
 * import { butterflyF64 } from "./reference.ts";
 * const a = new Float64Array([1, 2, 3, 0]);
 * butterflyF64(a, 0, 4);
 * if (a.join() !== "6,2,0,-4") throw new Error();
 * ```
 */
export function butterflyF64(a: Float64Array, offset: number, n: number): void {
  for (let h = 1; h < n; h *= 2) {
    for (let i = offset; i < offset + n; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const x = a[j]!;
        const y = a[j + h]!;
        a[j] = x + y;
        a[j + h] = x - y;
      }
    }
  }
}

/**
 * In-place orthonormal fast Walsh–Hadamard transform of `n` values of `a` from `offset`
 * (Sylvester order, scaled by 1/√n).
 *
 * @example
 * ```ts
 * import { fwhtF64InPlace } from "./reference.ts";
 * const a = new Float64Array([1, 0, 0, 0]);
 * fwhtF64InPlace(a, 0, 4);
 * if (a.join() !== "0.5,0.5,0.5,0.5") throw new Error();
 * ```
 */
export function fwhtF64InPlace(a: Float64Array, offset: number, n: number): void {
  butterflyF64(a, offset, n);
  const s = 1 / Math.sqrt(n);
  for (let i = offset; i < offset + n; i++) a[i] = a[i]! * s;
}
