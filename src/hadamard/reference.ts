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
      for (let h = 1; h < n; h *= 2) {
        for (let i = 0; i < n; i += 2 * h) {
          for (let j = i; j < i + h; j++) {
            const a = v[j]!;
            const b = v[j + h]!;
            v[j] = a + b;
            v[j + h] = a - b;
          }
        }
      }
      for (let j = 0; j < n; j++) {
        const s = p.mode === 2 ? randSign(p.seed, c0 + j) : 1;
        out[r * p.cols + c0 + j] = v[j]! * scale * s;
      }
    }
  }
  return { data: out, rows, cols: p.cols, originalCols: cols, padded: p.padded };
}
