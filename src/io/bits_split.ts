/**
 * Bits per weight of a quantized tensor split into what they pay for: the codes of the original
 * columns, the codes of padding columns, scales (and zeros), and the table amortized over the
 * tensor. The parts add up to `bitsPerWeight` of `format.ts` (the figure `quantlab error` prints);
 * they are computed from a checkpoint's descriptor and the table's length, without reading codes.
 *
 * @module
 */

/** How one scale or zero array is stored (the descriptor's `scaleStorage` / `zeroStorage`). */
export type StoredParams =
  | { kind: "float"; dtype: "F32" | "F16" | "BF16" }
  | { kind: "int8"; group: number; map: string };

/** What the split needs to know of a quantized tensor. */
export interface BitsSplitInput {
  /** Original [rows, cols]. */
  shape: readonly [number, number];
  /** Columns after padding. */
  paddedCols: number;
  /** Weights per code. */
  p: number;
  /** Bits per code. */
  codeBits: number;
  /** Weights per scale group. */
  groupSize: number;
  /** Scale storage. */
  scaleStorage: StoredParams;
  /** Zero storage, for affine methods (absent: no zeros, unless `hasZeros`). */
  zeroStorage?: StoredParams;
  /** Zeros stored without a storage descriptor (f32). */
  hasZeros?: boolean;
  /** Entries of the table (floats). */
  tableLength: number;
  /** Table precision. */
  tableDtype: "F32" | "F16";
}

/** Bits per original weight, by part. */
export interface BitsSplit {
  /** Codes of the original columns. */
  codes: number;
  /** Codes of the zero-padding columns. */
  padding: number;
  /** Scales and zeros (with meta-quantization). */
  scales: number;
  /** The table, amortized. */
  table: number;
  /** The sum: bits per weight. */
  total: number;
}

function storageBits(s: StoredParams, count: number): number {
  if (s.kind === "float") return count * (s.dtype === "F32" ? 32 : 16);
  return count * 8 + Math.ceil(count / s.group) * 32 * (s.map === "affine" ? 2 : 1);
}

/**
 * The bits per weight of a quantized tensor by part.
 *
 * @example
 * ```ts
 * import { bitsSplit } from "./bits_split.ts";
 * const s = bitsSplit({
 *   shape: [1, 48], paddedCols: 64, p: 1, codeBits: 4, groupSize: 64,
 *   scaleStorage: { kind: "float", dtype: "F16" }, tableLength: 16, tableDtype: "F16",
 * });
 * // 4 bits of codes; 16 padding columns × 4 bits over 48 weights; 16/48 scale; 256/48 table
 * if (s.codes !== 4 || Math.abs(s.padding - 4 / 3) > 1e-12 || s.scales !== 1 / 3) throw new Error();
 * ```
 */
export function bitsSplit(t: BitsSplitInput): BitsSplit {
  const [rows, cols] = t.shape;
  const weights = rows * cols;
  const groups = (rows * t.paddedCols) / t.groupSize;
  const codes = (rows * (cols / t.p) * t.codeBits) / weights;
  const padding = (rows * ((t.paddedCols - cols) / t.p) * t.codeBits) / weights;
  let scaleBits = storageBits(t.scaleStorage, groups);
  if (t.zeroStorage) scaleBits += storageBits(t.zeroStorage, groups);
  else if (t.hasZeros) scaleBits += groups * 32;
  const scales = scaleBits / weights;
  const table = (t.tableLength * (t.tableDtype === "F32" ? 32 : 16)) / weights;
  return { codes, padding, scales, table, total: codes + padding + scales + table };
}
