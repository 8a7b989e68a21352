// This module is browser compatible.
/**
 * A tiny kernel for the pool's doc example and tests: `out[i] = i` on `[start, end)`.
 *
 * @module
 */

/**
 * Writes `out[i] = i` for `i` in `[start, end)` and returns the chunk's length.
 *
 * @example
 * ```ts
 * import { fill } from "./pool_example.ts";
 * const out = new Float32Array(3);
 * fill(out, 0, 3);
 * if (out[2] !== 2) throw new Error();
 * ```
 */
export function fill(out: Float32Array, start: number, end: number): number {
  for (let i = start; i < end; i++) out[i] = i;
  return end - start;
}
