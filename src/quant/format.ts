// This module is browser compatible.
/**
 * `QuantizedTensor`: one shape for every method (HIGGS, HQQ, NF4/AF4/FP4, RTN), so that one
 * dequantizer, one LUT-matmul path, one checkpoint format and one error metric serve them all.
 *
 * Decoding rule for a 2-D weight W[rows, cols] (rows = output features, cols = input features):
 * codes are packed per row (see `packing.ts`); each code word covers `p` consecutive columns of the
 * (padded, possibly rotated) row. With g the group of element (r, c),
 *
 *     Ŵrot[r, c…c+p−1] = (table[code·p … code·p+p−1] − zero[g]) · scale[g]      (zero = 0 if absent)
 *
 * and, when `rotation.kind === "hadamard"`, Ŵ = inverse-rotate(Ŵrot) blockwise along the columns,
 * then the padding columns are dropped. Groups run along the columns (`groupAxis: 1`, the input
 * dimension: group index r·(paddedCols/g) + ⌊c/g⌋) or along the rows (`groupAxis: 0`: g
 * consecutive rows of one column, group index ⌊r/g⌋·paddedCols + c).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { rowStrideWords } from "./packing.ts";

/** Quantization methods. */
export type QuantMethod = "higgs" | "hqq" | "nf4" | "af4" | "fp4" | "rtn";

/** Valid method names. */
export const QUANT_METHODS: readonly QuantMethod[] = ["higgs", "hqq", "nf4", "af4", "fp4", "rtn"];

/** The rotation applied before quantization. */
export type Rotation =
  | { kind: "none" }
  | {
    kind: "hadamard";
    /** Block size h (power of two); columns are rotated in independent blocks of h. */
    size: number;
    /** Seed of the random ±1 signs (H·D); null for the plain Hadamard of the HF integration. */
    seed: number | null;
  };

/**
 * How per-group parameters (scales or zeros) are stored. Their decoded values always live in
 * `scales`/`zeros` as f32 (already rounded to the stored precision, so save → load is exact);
 * this says what a checkpoint holds and what `bitsPerWeight` counts.
 */
export type ParamStorage =
  | { kind: "float"; dtype: "F32" | "F16" | "BF16" }
  | {
    /** 8-bit meta-quantization (HQQ quant_scale/quant_zero, bitsandbytes double quantization). */
    kind: "int8";
    /** Parameters per meta group. */
    group: number;
    /** The 8-bit codes, one per parameter. */
    codes: Uint8Array;
    /** Meta scale per meta group (f32 as stored). */
    metaScale: Float32Array;
    /** Meta zero / offset per meta group (f32), if affine. */
    metaZero?: Float32Array;
  };

/** How per-group parameters are stored, without their values (see {@linkcode QuantizedLayout}). */
export type ParamLayout =
  | { kind: "float"; dtype: "F32" | "F16" | "BF16" }
  | { kind: "int8"; group: number; metaZero: boolean };

/**
 * What a quantized [rows, cols] weight stores, known from its shape and the settings before it
 * is quantized (`Quantizer.layout`): a checkpoint run plans every file's header and data offsets
 * from it, so shards can write their tensors in place.
 */
export interface QuantizedLayout {
  /** Original shape [rows, cols]. */
  shape: [number, number];
  /** Columns after zero-padding. */
  paddedCols: number;
  /** Weights per code word. */
  p: number;
  /** Bits per code word. */
  codeBits: number;
  /** Stored precision of the table. */
  tableDtype: "F32" | "F16";
  /** Weights per group. */
  groupSize: number;
  /** Group axis. */
  groupAxis: 0 | 1;
  /** How scales are stored. */
  scaleStorage: ParamLayout;
  /** How zeros are stored (affine methods). */
  zeroStorage?: ParamLayout;
}

/**
 * The layout of a quantized tensor (to check it against the planned one).
 *
 * @example
 * ```ts
 * import { layoutOf } from "./format.ts";
 * import { packCodes } from "./packing.ts";
 * const l = layoutOf({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * });
 * if (l.scaleStorage.kind !== "float" || l.zeroStorage !== undefined) throw new Error();
 * ```
 */
export function layoutOf(q: QuantizedTensor): QuantizedLayout {
  const param = (s: ParamStorage): ParamLayout =>
    s.kind === "float"
      ? { kind: "float", dtype: s.dtype }
      : { kind: "int8", group: s.group, metaZero: s.metaZero !== undefined };
  const l: QuantizedLayout = {
    shape: [q.shape[0], q.shape[1]],
    paddedCols: q.paddedCols,
    p: q.p,
    codeBits: q.codeBits,
    tableDtype: q.tableDtype,
    groupSize: q.groupSize,
    groupAxis: q.groupAxis,
    scaleStorage: param(q.scaleStorage),
  };
  if (q.zeros) l.zeroStorage = param(q.zeroStorage ?? { kind: "float", dtype: "F32" });
  return l;
}

/** A quantized 2-D tensor. */
export interface QuantizedTensor {
  /** Method that produced it. */
  method: QuantMethod;
  /** Original shape [rows, cols] (rows = output features). */
  shape: [number, number];
  /** Columns after zero-padding (a multiple of the rotation size and of p·groupSize); ≥ cols. */
  paddedCols: number;
  /** Weights per code word (1 = scalar codes; 2 = HIGGS pairs, …). */
  p: number;
  /** Bits per code word (1–16); the table has 2^codeBits entries of p values. */
  codeBits: number;
  /** Packed codes, rows × rowStrideWords(paddedCols / p, codeBits) words. */
  codes: Uint32Array;
  /** Lookup table: 2^codeBits × p values (grid points, NF4 levels, or uniform levels 0…2^b−1). */
  table: Float32Array;
  /** Stored precision of the table (counted once, amortized over the tensor). */
  tableDtype: "F32" | "F16";
  /** Weights per group sharing one scale (and zero). */
  groupSize: number;
  /** 1: groups run along the columns (input dim); 0: along the rows (output dim). */
  groupAxis: 0 | 1;
  /** Decoded per-group scales (f32 values exactly as the storage decodes them). */
  scales: Float32Array;
  /** How scales are stored. */
  scaleStorage: ParamStorage;
  /** Decoded per-group zeros (affine methods) in table units: ŵ = (table[code] − zero)·scale. */
  zeros?: Float32Array;
  /** How zeros are stored. */
  zeroStorage?: ParamStorage;
  /** Rotation applied to the columns before quantization. */
  rotation: Rotation;
  /** Method parameters for reports and checkpoints (JSON-serialisable). */
  params: Record<string, string | number | boolean | null>;
}

/** Number of groups of a quantized tensor. */
export function groupCount(q: Pick<QuantizedTensor, "shape" | "paddedCols" | "groupSize">): number {
  return (q.shape[0] * q.paddedCols) / q.groupSize;
}

/**
 * Checks a QuantizedTensor's internal consistency (shapes, lengths, table size); throws a
 * `bad-file` QuantlabError naming the field, so a tampered checkpoint never decodes to garbage.
 *
 * @example
 * ```ts
 * import { validateQuantized } from "./format.ts";
 * import { packCodes } from "./packing.ts";
 * validateQuantized({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * }); // consistent: returns (an inconsistent tensor throws a QuantlabError naming the field)
 * ```
 */
export function validateQuantized(q: QuantizedTensor, name = "tensor"): void {
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-file", `Quantized tensor "${name}": ${msg}`);
  };
  const [rows, cols] = q.shape;
  if (!QUANT_METHODS.includes(q.method)) bad(`unknown method "${q.method}"`);
  for (const [k, v] of [["rows", rows], ["cols", cols], ["paddedCols", q.paddedCols]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) bad(`${k} is ${v}; expected a positive integer`);
  }
  if (q.paddedCols < cols) bad(`paddedCols ${q.paddedCols} is less than cols ${cols}`);
  if (!Number.isInteger(q.p) || q.p < 1 || q.paddedCols % q.p !== 0) {
    bad(`p = ${q.p} does not divide paddedCols ${q.paddedCols}`);
  }
  if (!Number.isInteger(q.codeBits) || q.codeBits < 1 || q.codeBits > 16) {
    bad(`codeBits is ${q.codeBits}; expected 1 to 16`);
  }
  const words = rows * rowStrideWords(q.paddedCols / q.p, q.codeBits);
  if (q.codes.length !== words) bad(`codes hold ${q.codes.length} words; expected ${words}`);
  const tableLen = 2 ** q.codeBits * q.p;
  if (q.table.length !== tableLen) {
    bad(`table holds ${q.table.length} values; expected ${tableLen}`);
  }
  if (q.groupAxis !== 0 && q.groupAxis !== 1) bad(`groupAxis is ${q.groupAxis}; expected 0 or 1`);
  const g = q.groupSize;
  const along = q.groupAxis === 1 ? q.paddedCols : rows;
  if (!Number.isInteger(g) || g < 1 || along % g !== 0) {
    bad(`group size ${g} does not divide ${q.groupAxis === 1 ? "paddedCols" : "rows"} ${along}`);
  }
  if (q.groupAxis === 1 && g % q.p !== 0) bad(`group size ${g} is not a multiple of p = ${q.p}`);
  const groups = groupCount(q);
  if (q.scales.length !== groups) bad(`scales hold ${q.scales.length}; expected ${groups}`);
  if (q.zeros && q.zeros.length !== groups) bad(`zeros hold ${q.zeros.length}; expected ${groups}`);
  for (const [k, arr] of [["table", q.table], ["scales", q.scales], ["zeros", q.zeros]] as const) {
    if (!arr) continue;
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i]!)) bad(`${k}[${i}] is ${arr[i]}; expected a finite number`);
    }
  }
  if (q.rotation.kind === "hadamard") {
    const h = q.rotation.size;
    if (!Number.isInteger(h) || h < 2 || (h & (h - 1)) !== 0 || q.paddedCols % h !== 0) {
      bad(`Hadamard size ${h} is not a power of two dividing paddedCols ${q.paddedCols}`);
    }
  }
}

function storageBits(s: ParamStorage | undefined, count: number): number {
  if (!s) return 0;
  if (s.kind === "float") return count * (s.dtype === "F32" ? 32 : 16);
  const metaGroups = Math.ceil(count / s.group);
  return count * 8 + metaGroups * 32 * (s.metaZero ? 2 : 1);
}

/**
 * Bits per original weight, counting everything needed to decode: codes, scales and zeros at
 * their stored precision (with any meta-quantization), and the table amortized over the tensor.
 * Padding columns count against the tensor (they are stored). The rotation seed is free.
 *
 * @example
 * ```ts
 * import { bitsPerWeight } from "./format.ts";
 * import { packCodes } from "./packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1, codeBits: 4,
 *   codes: packCodes(new Array(64).fill(0), 1, 64, 4), table: new Float32Array(16),
 *   tableDtype: "F32" as const, groupSize: 64, groupAxis: 1 as const, scales: new Float32Array(1),
 *   scaleStorage: { kind: "float" as const, dtype: "F16" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * // 4 code bits + 16/64 scale bits + 16·32 table bits / 64 weights:
 * if (bitsPerWeight(q, { includeTable: false }) !== 4.25) throw new Error();
 * ```
 */
export function bitsPerWeight(q: QuantizedTensor, opts: { includeTable?: boolean } = {}): number {
  const [rows, cols] = q.shape;
  const groups = groupCount(q);
  let bits = rows * (q.paddedCols / q.p) * q.codeBits;
  bits += storageBits(q.scaleStorage, groups);
  if (q.zeros) bits += storageBits(q.zeroStorage ?? { kind: "float", dtype: "F32" }, groups);
  if (opts.includeTable ?? true) bits += q.table.length * (q.tableDtype === "F32" ? 32 : 16);
  return bits / (rows * cols);
}
