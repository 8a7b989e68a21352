// This module is browser compatible.
/**
 * The token embedding `[vocab, d]` of the CPU model, held in f32 or, for a bf16 / f16
 * checkpoint loaded with `halfWeights: "keep"`, in its stored 16-bit form: a lookup then widens
 * only the rows it reads.
 *
 * @module
 */
import { widenHalf } from "../cpu/widen.ts";
import type { HalfWeight } from "./linear.ts";

/** An embedding matrix: f32, or 16-bit as stored. */
export type EmbeddingWeight = Float32Array | HalfWeight;

/**
 * Rows `tokens` of the embedding `e` (`d` wide) as `[T, d]` f32 (ids are not checked here).
 *
 * @example
 * ```ts
 * import { embeddingRows } from "./embedding.ts";
 * const e = { data: new Uint16Array([0x3f80, 0x4000, 0x4040, 0x4080]), dtype: "BF16" as const };
 * if (embeddingRows(e, [1, 0], 2).join() !== "3,4,1,2") throw new Error();
 * ```
 */
export function embeddingRows(
  e: EmbeddingWeight,
  tokens: ArrayLike<number>,
  d: number,
): Float32Array {
  const x = new Float32Array(tokens.length * d);
  for (let t = 0; t < tokens.length; t++) {
    const id = tokens[t]!;
    const row = e instanceof Float32Array
      ? e.subarray(id * d, (id + 1) * d)
      : widenHalf(e.data.subarray(id * d, (id + 1) * d), e.dtype);
    x.set(row, t * d);
  }
  return x;
}

/**
 * The whole embedding in f32: `e` itself, or a widened copy of a 16-bit one.
 *
 * @example
 * ```ts
 * import { embeddingF32 } from "./embedding.ts";
 * const f = new Float32Array([1, 2]);
 * if (embeddingF32(f) !== f) throw new Error();
 * if (embeddingF32({ data: new Uint16Array([0x3c00]), dtype: "F16" })[0] !== 1) throw new Error();
 * ```
 */
export function embeddingF32(e: EmbeddingWeight): Float32Array {
  return e instanceof Float32Array ? e : widenHalf(e.data, e.dtype);
}
