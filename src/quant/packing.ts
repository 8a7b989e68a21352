// This module is browser compatible.
/**
 * Bit packing of code words of any width 1–16 (p-dimensional joint codes included).
 *
 * Layout (little-endian, documented because checkpoints and kernels depend on it): each row of
 * `codesPerRow` codes is a bit stream starting at a 32-bit word boundary; code j of a row occupies
 * bits [j·b, j·b + b) of that stream, where bit k of the stream is bit (k mod 32) of word ⌊k/32⌋
 * (least significant first). A code may straddle two words when 32 mod b ≠ 0 (b = 3, 5, 6, 7, …).
 * Rows are `rowStrideWords(codesPerRow, b)` words apart, so rows can be processed independently.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
    throw new QuantlabError("bad-argument", `Code width ${bits} is not valid; use 1 to 16 bits`);
  }
}

/**
 * Words per packed row of `codesPerRow` codes of `bits` bits.
 *
 * @example
 * ```ts
 * import { rowStrideWords } from "./packing.ts";
 * if (rowStrideWords(10, 3) !== 1 || rowStrideWords(11, 3) !== 2) throw new Error();
 * ```
 */
export function rowStrideWords(codesPerRow: number, bits: number): number {
  checkBits(bits);
  return Math.ceil((codesPerRow * bits) / 32);
}

/**
 * Packs `rows × codesPerRow` codes (row-major) of width `bits` into u32 words.
 *
 * @example
 * ```ts
 * import { packCodes, unpackCodes } from "./packing.ts";
 * const codes = new Uint16Array([1, 7, 3, 0, 5]);
 * const packed = packCodes(codes, 1, 5, 3);
 * if (unpackCodes(packed, 1, 5, 3).join() !== "1,7,3,0,5") throw new Error();
 * ```
 */
export function packCodes(
  codes: ArrayLike<number>,
  rows: number,
  codesPerRow: number,
  bits: number,
): Uint32Array {
  const stride = rowStrideWords(codesPerRow, bits);
  if (codes.length !== rows * codesPerRow) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot pack ${codes.length} codes as ${rows} rows × ${codesPerRow} codes`,
    );
  }
  const limit = 2 ** bits;
  const out = new Uint32Array(rows * stride);
  for (let r = 0; r < rows; r++) {
    const base = r * stride;
    const src = r * codesPerRow;
    for (let j = 0; j < codesPerRow; j++) {
      const c = codes[src + j]!;
      if (!(c >= 0 && c < limit && Number.isInteger(c))) {
        throw new QuantlabError(
          "bad-value",
          `Code ${c} at index ${src + j} does not fit in ${bits} bits (0 to ${limit - 1})`,
        );
      }
      const bit = j * bits;
      const w = base + (bit >>> 5);
      const sh = bit & 31;
      out[w] = (out[w]! | (c << sh)) >>> 0;
      if (sh + bits > 32) out[w + 1] = (out[w + 1]! | (c >>> (32 - sh))) >>> 0;
    }
  }
  return out;
}

/**
 * Unpacks codes packed by {@linkcode packCodes}; validates the packed length.
 *
 * @example
 * ```ts
 * import { packCodes, unpackCodes } from "./packing.ts";
 * const codes = Uint16Array.from({ length: 40 }, (_, i) => (i * 37) % 4096);
 * const back = unpackCodes(packCodes(codes, 4, 10, 12), 4, 10, 12);
 * if (back.some((c, i) => c !== codes[i])) throw new Error();
 * ```
 */
export function unpackCodes(
  packed: Uint32Array,
  rows: number,
  codesPerRow: number,
  bits: number,
  out: Uint16Array = new Uint16Array(rows * codesPerRow),
): Uint16Array {
  const stride = rowStrideWords(codesPerRow, bits);
  if (packed.length !== rows * stride) {
    throw new QuantlabError(
      "bad-shape",
      `Packed codes hold ${packed.length} words; ${rows} rows × ${codesPerRow} codes of ` +
        `${bits} bits need ${rows * stride}`,
    );
  }
  if (out.length < rows * codesPerRow) {
    throw new QuantlabError(
      "bad-shape",
      `Output holds ${out.length} codes; need ${rows * codesPerRow}`,
    );
  }
  const mask = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    const base = r * stride;
    const dst = r * codesPerRow;
    for (let j = 0; j < codesPerRow; j++) {
      const bit = j * bits;
      const w = base + (bit >>> 5);
      const sh = bit & 31;
      let v = packed[w]! >>> sh;
      if (sh + bits > 32) v |= packed[w + 1]! << (32 - sh);
      out[dst + j] = v & mask;
    }
  }
  return out;
}

/**
 * Reads code `j` of row `row` straight from packed words (the access pattern of LUT kernels).
 *
 * @example
 * ```ts
 * import { getCode, packCodes } from "./packing.ts";
 * const packed = packCodes([3, 1, 2, 0], 2, 2, 5);
 * if (getCode(packed, 1, 1, 0, 5) !== 2) throw new Error();
 * ```
 */
export function getCode(
  packed: Uint32Array,
  strideWords: number,
  row: number,
  j: number,
  bits: number,
): number {
  const bit = j * bits;
  const w = row * strideWords + (bit >>> 5);
  const sh = bit & 31;
  let v = packed[w]! >>> sh;
  if (sh + bits > 32) v |= packed[w + 1]! << (32 - sh);
  return v & ((1 << bits) - 1);
}
