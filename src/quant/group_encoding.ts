// This module is browser compatible.
/**
 * What a group encoding is, shared by every data-free baseline (RTN and the normal-float family
 * NF4/AF4/FP4): where the groups of a weight lie ({@linkcode GroupLayout}), how a group's codes
 * are chosen ({@linkcode EncodeMode}: a lookup table or an affine grid, with an optional clipping
 * search), and the parameters stored per group. The encoders are `group_encoder.ts` (CPU worker
 * pool) and `group_encoder_gpu.ts` (WebGPU).
 *
 * Two modes:
 * - **table** (symmetric / absmax): scale s = clip·max|w| / max|level|, code = nearest table level
 *   to w·(1/s) (ties to the lower level, like bitsandbytes' `torch.bucketize`).
 * - **affine** (asymmetric): s = clip·(max − min)/(2^b − 1), zero z = −clip·min/s in code units
 *   (rounded to an integer with `roundZero`, as GPTQ/AWQ do), code = clamp(round(w·(1/s) + z)),
 *   table = [0 … 2^b − 1], decoded (code − z)·s.
 *
 * @module
 */
import { assertFinite, QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";

/** Where the groups of a [rows, cols] weight lie (format conventions, no padding). */
export interface GroupLayout {
  /** Rows of the weight. */
  rows: number;
  /** Columns of the weight. */
  cols: number;
  /** Weights per group. */
  g: number;
  /** 1: g consecutive columns of a row; 0: g consecutive rows of a column. */
  axis: 0 | 1;
  /** Number of groups. */
  count: number;
}

/**
 * Valid group sizes for a dimension of `n`: its divisors that are multiples of 8 (all divisors when
 * none is).
 *
 * @example
 * ```ts
 * import { validGroupSizes } from "./group_encoding.ts";
 * if (validGroupSizes(96).join() !== "8,16,24,32,48,96") throw new Error();
 * ```
 */
export function validGroupSizes(n: number): number[] {
  const all: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) all.push(d);
  const by8 = all.filter((d) => d % 8 === 0);
  return by8.length > 0 ? by8 : all;
}

function listChoices(n: number): string {
  const v = validGroupSizes(n);
  const shown = v.length > 16 ? [...v.slice(0, 12), "…", ...v.slice(-2)] : v;
  return shown.join(", ");
}

/**
 * Resolves a group size (`null` = per channel: one group per row for axis 1, per column for axis 0)
 * into a {@linkcode GroupLayout}; a size that does not divide the grouped dimension is a
 * `bad-argument` error naming the tensor and the valid choices.
 *
 * @example
 * ```ts
 * import { groupLayout } from "./group_encoding.ts";
 * const l = groupLayout(4, 256, 64, 1);
 * if (l.count !== 16 || groupLayout(4, 256, null, 0).g !== 4) throw new Error();
 * ```
 */
export function groupLayout(
  rows: number,
  cols: number,
  groupSize: number | null | undefined,
  axis: number | undefined = 1,
  name = "tensor",
  defaultGroup = 64,
): GroupLayout {
  if (axis !== 0 && axis !== 1) {
    throw new QuantlabError("bad-argument", `Group axis ${axis} is not valid; use 0 or 1`);
  }
  const along = axis === 1 ? cols : rows;
  const what = axis === 1 ? "columns" : "rows";
  const g = groupSize === null ? along : groupSize ?? Math.min(defaultGroup, along);
  if (!Number.isInteger(g) || g < 1) {
    throw new QuantlabError(
      "bad-argument",
      `Cannot quantize "${name}": group size ${g} is not a positive integer; ` +
        `use one of ${
          listChoices(along)
        } (divisors of its ${along} ${what}) or null for per channel`,
    );
  }
  if (along % g !== 0) {
    throw new QuantlabError(
      "bad-argument",
      `Cannot quantize "${name}": group size ${g} does not divide its ${along} ${what}` +
        ` (axis ${axis}); use one of ${listChoices(along)} or null for per channel`,
    );
  }
  return { rows, cols, g, axis, count: (rows * cols) / g };
}

/**
 * Checks a weight's shape and values: a `bad-shape` error when the length is not rows·cols, a
 * `bad-value` error naming the tensor and the first NaN/±Inf index.
 *
 * @example
 * ```ts
 * import { checkWeights } from "./group_encoding.ts";
 * checkWeights(new Float32Array(6), 2, 3, "w"); // 2 × 3 values: returns
 * let message = "";
 * try {
 *   checkWeights(new Float32Array(6), 0, 3, "w");
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * if (message !== 'Cannot quantize "w": rows is 0; expected ≥ 1') throw new Error(message);
 * ```
 */
export function checkWeights(w: Float32Array, rows: number, cols: number, name = "tensor"): void {
  for (const [k, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new QuantlabError("bad-shape", `Cannot quantize "${name}": ${k} is ${v}; expected ≥ 1`);
    }
  }
  if (w.length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot quantize "${name}": it holds ${w.length} values, not ${rows} × ${cols}`,
    );
  }
  assertFinite(w, name);
}

/** Rounds `x` to the stored precision. */
export function roundTo(x: number, dtype: "F16" | "F32"): number {
  return dtype === "F16" ? f16BitsToF32(f32ToF16Bits(x)) : Math.fround(x);
}

/** How codes are chosen; plain data so it can travel to the workers and to the GPU. */
export interface EncodeMode {
  /** "table": nearest table level; "affine": round((w − min)/scale). */
  kind: "table" | "affine";
  /** Bits per code. */
  bits: number;
  /** Table mode: the distinct levels, sorted ascending. */
  sorted: Float32Array;
  /** Table mode: midpoints between consecutive sorted levels. */
  bounds: Float32Array;
  /** Table mode: the code of each sorted level. */
  codeOf: Uint16Array;
  /** Table mode: max |level| (the scale maps the group's absmax to it). */
  levelMax: number;
  /** Table mode: the level used for constant groups (a power of two: exact scaling). */
  constLevel: number;
  /** Affine mode: 2^bits − 1. */
  maxq: number;
  /** Affine mode: round the zero to an integer. */
  roundZero: boolean;
  /** Clip ratios to search (f32, first = 1), or null for none. */
  ratios: Float32Array | null;
  /**
   * Table mode: a lookup from (y − lutLo)·lutScale to a lower bound of the number of midpoints
   * below y, so the nearest level costs one load and usually one comparison.
   */
  lut: Uint16Array;
  /** Lower bound of the value range the lookup table covers. */
  lutLo: number;
  /** Lookup-table entries per unit of value. */
  lutScale: number;
}

/** The lookup of {@linkcode EncodeMode.lut}: cells narrower than half the smallest gap. */
function buildLut(sorted: Float32Array, bounds: Float32Array): [Uint16Array, number, number] {
  if (bounds.length === 0) return [new Uint16Array(1), 0, 0];
  const lo = sorted[0]!;
  const range = sorted[sorted.length - 1]! - lo;
  let gap = range;
  for (let i = 1; i < bounds.length; i++) gap = Math.min(gap, bounds[i]! - bounds[i - 1]!);
  const size = Math.min(1 << 16, Math.max(256, 2 ** Math.ceil(Math.log2((2 * range) / gap))));
  const scale = size / range;
  const lut = new Uint16Array(size);
  let k = 0;
  for (let i = 0; i < size; i++) {
    const edge = lo + (i - 0.5) / scale; // half a cell early: the entry never overcounts
    while (k < bounds.length && bounds[k]! < edge) k++;
    lut[i] = k;
  }
  return [lut, lo, scale];
}

/**
 * A table-mode {@linkcode EncodeMode} for `levels` (2^bits values in code order; duplicates keep
 * their first code).
 *
 * @example
 * ```ts
 * import { tableMode } from "./group_encoding.ts";
 * const m = tableMode(new Float32Array([0, 0.5, -0.5, -1]), 2);
 * if (m.sorted.join() !== "-1,-0.5,0,0.5" || m.codeOf.join() !== "3,2,0,1") throw new Error();
 * ```
 */
export function tableMode(
  levels: Float32Array,
  bits: number,
  ratios: Float32Array | null = null,
): EncodeMode {
  if (levels.length !== 2 ** bits) {
    throw new QuantlabError(
      "bad-argument",
      `A ${bits}-bit table needs ${2 ** bits} levels; got ${levels.length}`,
    );
  }
  const idx = [...levels.keys()].sort((a, b) => levels[a]! - levels[b]! || a - b);
  const sortedList: number[] = [];
  const codes: number[] = [];
  for (const i of idx) {
    const v = levels[i]!;
    if (sortedList.length > 0 && sortedList[sortedList.length - 1] === v) continue;
    sortedList.push(v);
    codes.push(i);
  }
  const sorted = Float32Array.from(sortedList);
  const bounds = new Float32Array(sorted.length - 1);
  for (let i = 0; i < bounds.length; i++) {
    bounds[i] = Math.fround(Math.fround(sorted[i]! + sorted[i + 1]!) / 2);
  }
  const levelMax = Math.max(Math.abs(sorted[0]!), Math.abs(sorted[sorted.length - 1]!));
  if (!(levelMax > 0)) {
    throw new QuantlabError("bad-argument", "A quantization table needs a nonzero level");
  }
  // A positive power-of-two level with its negative also present: scale = |c| / level is exact.
  let constLevel = 0;
  for (const v of sorted) {
    if (v > 0 && Math.log2(v) === Math.round(Math.log2(v)) && sorted.includes(-v)) {
      constLevel = Math.max(constLevel, v);
    }
  }
  if (constLevel === 0) constLevel = levelMax;
  const [lut, lutLo, lutScale] = buildLut(sorted, bounds);
  return {
    kind: "table",
    bits,
    sorted,
    bounds,
    codeOf: Uint16Array.from(codes),
    levelMax,
    constLevel,
    maxq: 2 ** bits - 1,
    roundZero: false,
    ratios,
    lut,
    lutLo,
    lutScale,
  };
}

/**
 * An affine-mode {@linkcode EncodeMode}: levels 0 … 2^bits − 1 with a per-group zero.
 *
 * @example
 * ```ts
 * import { affineMode } from "./group_encoding.ts";
 * if (affineMode(3, true).maxq !== 7) throw new Error();
 * ```
 */
export function affineMode(
  bits: number,
  roundZero: boolean,
  ratios: Float32Array | null = null,
): EncodeMode {
  return {
    kind: "affine",
    bits,
    sorted: new Float32Array(0),
    bounds: new Float32Array(0),
    codeOf: new Uint16Array(0),
    levelMax: 0,
    constLevel: 0,
    maxq: 2 ** bits - 1,
    roundZero,
    ratios,
    lut: new Uint16Array(1),
    lutLo: 0,
    lutScale: 0,
  };
}

/**
 * The clip ratios of the search: 1, 1 − 1/grid, … while > 1 − maxShrink (f32), GPTQ's grid.
 *
 * @example
 * ```ts
 * import { clipRatios } from "./group_encoding.ts";
 * const r = clipRatios(100, 0.8);
 * if (r.length !== 80 || r[0] !== 1 || Math.abs(r[79]! - 0.21) > 1e-6) throw new Error();
 * ```
 */
export function clipRatios(grid: number, maxShrink: number): Float32Array {
  if (!Number.isInteger(grid) || grid < 1) {
    throw new QuantlabError("bad-argument", `Clip grid ${grid} is not valid; use an integer ≥ 1`);
  }
  if (!(maxShrink > 0 && maxShrink < 1)) {
    throw new QuantlabError(
      "bad-argument",
      `Clip max shrink ${maxShrink} is not valid; use a number in (0, 1), e.g. 0.8`,
    );
  }
  const n = Math.max(1, Math.floor(maxShrink * grid + 1e-9));
  const r = new Float32Array(n);
  for (let i = 0; i < n; i++) r[i] = 1 - i / grid;
  return r;
}

/**
 * Index of the first bound ≥ y (the sorted index of the nearest level, ties to the lower one, as
 * `torch.bucketize`): a lookup gives a lower bound, a few comparisons finish it.
 *
 * @example
 * ```ts
 * import { nearestIndex, tableMode } from "./group_encoding.ts";
 * const m = tableMode(new Float32Array([-1, 0, 0.5, 1]), 2);
 * if (nearestIndex(m, 0.25) !== 1 || nearestIndex(m, 0.26) !== 2 || nearestIndex(m, 9) !== 3) {
 *   throw new Error();
 * }
 * ```
 */
export function nearestIndex(m: EncodeMode, y: number): number {
  const { lut, bounds } = m;
  const f = (y - m.lutLo) * m.lutScale;
  let k = f > 0 ? lut[f < lut.length ? f | 0 : lut.length - 1]! : 0;
  const nb = bounds.length;
  while (k < nb && bounds[k]! < y) k++;
  return k;
}

/** Per-group parameters: stored scales (and zeros) plus what the encoder multiplies/adds. */
export interface GroupParams {
  /** Decoded scales at their stored precision. */
  scales: Float32Array;
  /** Decoded zeros (affine mode) at their stored precision. */
  zeros?: Float32Array;
  /** Per group: [1/scale, zero] used by the encoder (interleaved, f32). */
  enc: Float32Array;
}

/** The result of encoding groups. */
export interface EncodedGroups {
  /** Packed codes (format layout). */
  codes: Uint32Array;
  /** Parameters as stored. */
  params: GroupParams;
  /** Raw statistics [min, max, clip ratio] per group. */
  stats: Float32Array;
}
