// This module is browser compatible.
/**
 * The memory roofline of the Hadamard benchmark on the worker pool: a chunked copy, so the pooled
 * transform can be compared with a copy that also uses every core.
 *
 * @module
 */

/**
 * Copies `src[start·width, end·width)` into `dst` with `Float32Array.prototype.set`.
 *
 * @example
 * ```ts
 * import { copyChunk } from "./roofline.ts";
 * const dst = new Float32Array(4);
 * copyChunk(dst, new Float32Array([1, 2, 3, 4]), 2, 1, 2);
 * if (dst.join() !== "0,0,3,4") throw new Error();
 * ```
 */
export function copyChunk(
  dst: Float32Array,
  src: Float32Array,
  width: number,
  start: number,
  end: number,
): number {
  dst.set(src.subarray(start * width, end * width), start * width);
  return end - start;
}
