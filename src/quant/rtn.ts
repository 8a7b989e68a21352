// This module is browser compatible.
/**
 * Round-to-nearest uniform quantization (int1–int8), and the group machinery every data-free
 * baseline shares (RTN, NF4/AF4/FP4): group layout and its errors, per-group statistics with an
 * optional clipping search, parameters at their stored precision, and encoding into the shared
 * format — on the CPU worker pool or as WebGPU kernels (`shaders/absmax.wgsl`).
 *
 * Two modes:
 * - **table** (symmetric / absmax): scale s = clip·max|w| / max|level|, code = nearest table level
 *   to w·(1/s) (ties to the lower level, like bitsandbytes' `torch.bucketize`). Symmetric RTN uses
 *   the uniform midrise table k − (2^b − 1)/2 (k = 0 … 2^b − 1; no zero level, the optimal uniform
 *   quantizer's shape), so no zeros are stored.
 * - **affine** (asymmetric): s = clip·(max − min)/(2^b − 1), zero z = −clip·min/s in code units
 *   (rounded to an integer with `roundZero`, as GPTQ/AWQ do), code = clamp(round(w·(1/s) + z)),
 *   table = [0 … 2^b − 1], decoded (code − z)·s.
 *
 * Codes are computed against the stored (f16- or f32-rounded) scale and zero, so the decoder sees
 * exactly what the encoder assumed. The optional clipping search tries the ratios
 * 1, 1 − 1/grid, … (down to 1 − maxShrink, GPTQ's `mse` search) per group and keeps the one with the
 * least squared error. Constant groups are exact (decoded = the constant when its value fits the
 * stored precision; always with F32): table mode uses a power-of-two level (±max|level| or ±½) with
 * scale |c|/|level|; affine mode uses s = |c|, z ∈ {0, 1}. All-zero groups decode to 0.
 *
 * @module
 */
import { assertFinite, QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import { parallelFor, poolSize, sharedF32, sharedU32, toShared } from "../cpu/pool.ts";
import type { Backend } from "../gpu/backend.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import type { QuantizedTensor } from "./format.ts";
import { rowStrideWords } from "./packing.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even

// ---------------------------------------------------------------------------------------------
// Group layout
// ---------------------------------------------------------------------------------------------

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
 * import { validGroupSizes } from "./rtn.ts";
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
 * import { groupLayout } from "./rtn.ts";
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
 * import { checkWeights } from "./rtn.ts";
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

// ---------------------------------------------------------------------------------------------
// Encoding mode (what a group's codes mean)
// ---------------------------------------------------------------------------------------------

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
 * import { tableMode } from "./rtn.ts";
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
 * import { affineMode } from "./rtn.ts";
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
 * import { clipRatios } from "./rtn.ts";
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
 * import { nearestIndex, tableMode } from "./rtn.ts";
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

/** Squared error of one group for a candidate clip ratio (f32 candidate parameters). */
function candidateError(
  w: Float32Array,
  base: number,
  step: number,
  g: number,
  mn: number,
  mx: number,
  p: number,
  m: EncodeMode,
): number {
  const fr = Math.fround;
  let err = 0;
  if (m.kind === "table") {
    const a = Math.max(Math.abs(mn), Math.abs(mx));
    const s = fr(fr(a * p) / m.levelMax);
    const inv = s > 0 ? fr(1 / s) : 0;
    const { sorted } = m;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      const d = x - sorted[nearestIndex(m, fr(x * inv))]! * s;
      err += d * d;
    }
  } else {
    const mnp = fr(mn * p);
    const mxp = fr(mx * p);
    const s = fr(fr(mxp - mnp) / m.maxq);
    if (s === 0) return 0;
    let z = fr(-mnp / s);
    if (m.roundZero) z = (z + MAGIC) - MAGIC;
    const inv = fr(1 / s);
    const maxq = m.maxq;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      let q = (fr(fr(x * inv) + z) + MAGIC) - MAGIC;
      q = q < 0 ? 0 : q > maxq ? maxq : q;
      const d = x - (q - z) * s;
      err += d * d;
    }
  }
  return err;
}

/**
 * Pool kernel: per-group statistics for groups [start, end): `stats[3i..3i+2]` = min, max and the
 * chosen clip ratio (1 without a search).
 *
 * @example
 * ```ts
 * import { affineMode, groupStatsChunk } from "./rtn.ts";
 * const stats = new Float32Array(3);
 * groupStatsChunk(new Float32Array([1, -2, 3, 0]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   affineMode(2, true), stats, 0, 1);
 * if (stats.join() !== "-2,3,1") throw new Error();
 * ```
 */
export function groupStatsChunk(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  stats: Float32Array,
  start: number,
  end: number,
): void {
  const { g, cols } = L;
  const step = L.axis === 1 ? 1 : cols;
  const ratios = m.ratios;
  for (let gi = start; gi < end; gi++) {
    const base = L.axis === 1 ? gi * g : (Math.floor(gi / cols) * g) * cols + (gi % cols);
    let mn = Infinity;
    let mx = -Infinity;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    let best = 1;
    if (ratios && ratios.length > 1 && mn !== mx) {
      let bestErr = Infinity;
      for (let r = 0; r < ratios.length; r++) {
        const e = candidateError(w, base, step, g, mn, mx, ratios[r]!, m);
        if (e < bestErr) {
          bestErr = e;
          best = ratios[r]!;
        }
      }
    }
    stats[3 * gi] = mn;
    stats[3 * gi + 1] = mx;
    stats[3 * gi + 2] = best;
  }
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

/**
 * Turns statistics into parameters at the stored precision (`dtype`); throws when a scale does
 * not fit f16. Codes are then computed against these rounded values.
 *
 * @example
 * ```ts
 * import { groupParams, tableMode } from "./rtn.ts";
 * const m = tableMode(new Float32Array([-1.5, -0.5, 0.5, 1.5]), 2);
 * const p = groupParams(new Float32Array([-3, 1, 1]), m, "F32");
 * if (p.scales[0] !== 2 || p.enc[0] !== 0.5) throw new Error();
 * ```
 */
export function groupParams(
  stats: Float32Array,
  m: EncodeMode,
  dtype: "F16" | "F32",
  name = "tensor",
): GroupParams {
  const count = stats.length / 3;
  const fr = Math.fround;
  const scales = new Float32Array(count);
  const zeros = m.kind === "affine" ? new Float32Array(count) : undefined;
  const enc = new Float32Array(2 * count);
  for (let gi = 0; gi < count; gi++) {
    const mn = stats[3 * gi]!;
    const mx = stats[3 * gi + 1]!;
    const p = stats[3 * gi + 2]!;
    let s: number;
    let z = 0;
    if (m.kind === "table") {
      if (mn === mx && mn !== 0) s = roundTo(Math.abs(mn) / m.constLevel, dtype);
      else s = roundTo(fr(fr(Math.max(Math.abs(mn), Math.abs(mx)) * p) / m.levelMax), dtype);
    } else if (mn === mx) {
      s = roundTo(Math.abs(mn), dtype);
      z = mn < 0 ? 1 : 0;
    } else {
      const mnp = fr(mn * p);
      const mxp = fr(mx * p);
      s = roundTo(fr(fr(mxp - mnp) / m.maxq), dtype);
      if (s > 0) {
        z = fr(-mnp / s);
        if (m.roundZero) z = (z + MAGIC) - MAGIC;
        z = roundTo(z, dtype);
      }
    }
    if (!Number.isFinite(s) || !Number.isFinite(z)) {
      throw new QuantlabError(
        "bad-value",
        `Cannot quantize "${name}": group ${gi} needs a scale of ${
          Math.max(Math.abs(mn), Math.abs(mx))
        }-magnitude weights that does not fit ${dtype}; use scale dtype F32`,
      );
    }
    scales[gi] = s;
    if (zeros) zeros[gi] = z;
    enc[2 * gi] = s > 0 ? fr(1 / s) : 0;
    enc[2 * gi + 1] = z;
  }
  return { scales, zeros, enc };
}

/**
 * Pool kernel: encodes rows [start, end) with per-group `enc` = [1/scale, zero] and packs the codes
 * into `packed` (format layout, `stride` words per row).
 *
 * @example
 * ```ts
 * import { affineMode, encodeRowsChunk } from "./rtn.ts";
 * const packed = new Uint32Array(1);
 * encodeRowsChunk(new Float32Array([0, 1, 2, 3]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   affineMode(2, true), new Float32Array([1, 0]), packed, 1, 0, 1);
 * if (packed[0] !== 0b11100100) throw new Error();
 * ```
 */
export function encodeRowsChunk(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  enc: Float32Array,
  packed: Uint32Array,
  stride: number,
  start: number,
  end: number,
): void {
  const fr = Math.fround;
  const { g, cols } = L;
  const bits = m.bits;
  const gpr = cols / g;
  const { codeOf, maxq } = m;
  const table = m.kind === "table";
  for (let r = start; r < end; r++) {
    let acc = 0;
    let nb = 0;
    let wi = r * stride;
    const rowBase = r * cols;
    const gRow = L.axis === 1 ? r * gpr : Math.floor(r / g) * cols;
    // Axis 1: one parameter pair per segment of g columns; axis 0: one per column.
    const seg = L.axis === 1 ? g : 1;
    for (let c0 = 0, gi = gRow; c0 < cols; c0 += seg, gi++) {
      const inv = enc[2 * gi]!;
      const z = enc[2 * gi + 1]!;
      for (let i = rowBase + c0, e = i + seg; i < e; i++) {
        const x = w[i]!;
        const q = table
          ? codeOf[nearestIndex(m, fr(x * inv))]!
          : Math.min(Math.max((fr(fr(x * inv) + z) + MAGIC) - MAGIC, 0), maxq) | 0;
        acc |= q << nb;
        nb += bits;
        if (nb >= 32) {
          packed[wi++] = acc;
          nb -= 32;
          acc = nb > 0 ? q >>> (bits - nb) : 0;
        }
      }
    }
    if (nb > 0) packed[wi] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Orchestration: CPU pool or WebGPU
// ---------------------------------------------------------------------------------------------

/** The result of encoding groups. */
export interface EncodedGroups {
  /** Packed codes (format layout). */
  codes: Uint32Array;
  /** Parameters as stored. */
  params: GroupParams;
  /** Raw statistics [min, max, clip ratio] per group. */
  stats: Float32Array;
}

const SELF = import.meta.url;

/** Elements per pool chunk below which a kernel stays on the calling thread. */
const MIN_CHUNK_ELEMS = 1 << 16;

function useWorkers(units: number, minChunk: number): boolean {
  return poolSize() > 1 && units >= 2 * minChunk;
}

/**
 * Encodes all groups of `w` on the CPU (worker pool) or, with a WebGPU backend, with the kernels of
 * `shaders/absmax.wgsl`. `params` may replace the stored parameters between statistics and codes
 * (double quantization uses it); by default {@linkcode groupParams}.
 *
 * @example
 * ```ts
 * import { affineMode, encodeGroups, groupLayout } from "./rtn.ts";
 * const w = new Float32Array([0, 1, 2, 3]);
 * const e = await encodeGroups(w, groupLayout(1, 4, 4, 1), affineMode(2, true), "F32");
 * if (e.params.scales[0] !== 1 || e.codes[0] !== 0b11100100) throw new Error();
 * ```
 */
export async function encodeGroups(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  dtype: "F16" | "F32",
  backend: Backend = { kind: "cpu" },
  name = "tensor",
  params: (stats: Float32Array) => GroupParams = (s) => groupParams(s, m, dtype, name),
): Promise<EncodedGroups> {
  if (backend.kind === "webgpu") return await encodeGroupsGpu(backend.gpu, w, L, m, params);
  const stride = rowStrideWords(L.cols, m.bits);
  const statMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.g / (m.ratios ? m.ratios.length : 1)));
  const rowMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.cols));
  const par = useWorkers(L.count, statMin) || useWorkers(L.rows, rowMin);
  const ws = par ? toShared(w) : w;
  const stats = par ? sharedF32(3 * L.count) : new Float32Array(3 * L.count);
  await parallelFor(SELF, "groupStatsChunk", L.count, [ws, L, m, stats], { minChunk: statMin });
  const p = params(stats);
  const packed = par ? sharedU32(L.rows * stride) : new Uint32Array(L.rows * stride);
  const enc = par ? toShared(p.enc) : p.enc;
  await parallelFor(SELF, "encodeRowsChunk", L.rows, [ws, L, m, enc, packed, stride], {
    minChunk: rowMin,
  });
  return { codes: par ? packed.slice() : packed, params: p, stats: par ? stats.slice() : stats };
}

let chunkBytesOverride: number | undefined;

/**
 * Caps the bytes of one GPU weight chunk below the device limit (`undefined` restores the limit):
 * lets tests run the multi-chunk paths of the kernels on small matrices.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { gpuRowChunks, groupLayout, setGpuChunkBytes } from "./rtn.ts";
 * const gpu = await getGpu();
 * setGpuChunkBytes(1024); // 8 rows of 256 bytes: 2 chunks of 4 rows
 * try {
 *   if (gpu && gpuRowChunks(gpu, groupLayout(8, 64, 64, 1), 256).length !== 2) throw new Error();
 * } finally {
 *   setGpuChunkBytes(undefined);
 * }
 * ```
 */
export function setGpuChunkBytes(bytes: number | undefined): void {
  chunkBytesOverride = bytes;
}

/**
 * Row ranges whose weights fit one storage binding (multiples of g rows for axis 0).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { gpuRowChunks, groupLayout } from "./rtn.ts";
 * const gpu = await getGpu();
 * if (gpu && gpuRowChunks(gpu, groupLayout(8, 64, 64, 1), 256).length !== 1) throw new Error();
 * ```
 */
export function gpuRowChunks(gpu: Gpu, L: GroupLayout, bytesPerRow: number): [number, number][] {
  const limit = Math.min(
    gpu.limits.maxStorageBufferBindingSize,
    gpu.limits.maxBufferSize,
    chunkBytesOverride ?? Infinity,
  );
  const unit = L.axis === 0 ? L.g : 1;
  const unitsPerChunk = Math.floor(limit / (bytesPerRow * unit));
  if (unitsPerChunk < 1) {
    throw new QuantlabError(
      "unsupported",
      `A block of ${unit} rows × ${L.cols} columns needs ${
        unit * bytesPerRow
      } bytes; this GPU binds ` +
        `at most ${limit} per buffer; use the CPU backend or a smaller group size`,
    );
  }
  const out: [number, number][] = [];
  for (let r = 0; r < L.rows; r += unitsPerChunk * unit) {
    out.push([r, Math.min(L.rows, r + unitsPerChunk * unit)]);
  }
  return out;
}

/**
 * Workgroup grid for `n` workgroups (x ≤ 65535).
 *
 * @example
 * ```ts
 * import { workgroupGrid } from "./rtn.ts";
 * if (workgroupGrid(70000).join() !== "65535,2") throw new Error();
 * ```
 */
export function workgroupGrid(n: number): [number, number] {
  const x = Math.min(Math.max(n, 1), 65535);
  return [x, Math.ceil(Math.max(n, 1) / x)];
}

async function encodeGroupsGpu(
  gpu: Gpu,
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  params: (stats: Float32Array) => GroupParams,
): Promise<EncodedGroups> {
  const code = await loadShader("absmax");
  const consts = { AFFINE: m.kind === "affine" ? 1 : 0 };
  const statsPipe = gpu.pipeline("absmax_stats", code, { ...consts, STAGE: 0 });
  const encPipe = gpu.pipeline("absmax_encode", code, { ...consts, STAGE: 1 });
  const ratios = m.ratios ?? new Float32Array([1]);
  const nL = m.sorted.length;
  const ratioBase = nL > 0 ? 3 * nL - 1 : 0;
  const tab = new Float32Array(ratioBase + ratios.length);
  tab.set(m.sorted, 0);
  tab.set(m.bounds, nL);
  for (let i = 0; i < nL; i++) tab[2 * nL - 1 + i] = m.codeOf[i]!;
  tab.set(ratios, ratioBase);
  const tabBuf = gpu.storage(tab, "absmax_table");
  const stride = rowStrideWords(L.cols, m.bits);
  const chunks = gpuRowChunks(gpu, L, L.cols * 4);
  const gPerRow = L.count / L.rows; // axis 1: groups per row; axis 0: cols / g
  const stats = new Float32Array(3 * L.count);
  const codes = new Uint32Array(L.rows * stride);
  const made: GPUBuffer[] = [tabBuf];
  try {
    const perChunk = chunks.map(([r0, r1]) => {
      const nG = (r1 - r0) * gPerRow;
      const g0 = r0 * gPerRow;
      const [wx, wy] = workgroupGrid(Math.ceil(nG / 64));
      const u = new Uint32Array(16);
      const f = new Float32Array(u.buffer);
      u.set([r1 - r0, L.cols, L.g, L.axis, nG, wx, m.bits, stride, nL, ratios.length]);
      f[10] = m.maxq;
      u[11] = m.roundZero ? 1 : 0;
      f[12] = m.levelMax || 1;
      const wBuf = gpu.storage(w.subarray(r0 * L.cols, r1 * L.cols), "absmax_w");
      const sBuf = gpu.storage(3 * nG * 4, "absmax_stats");
      const pBuf = gpu.storage(2 * nG * 4, "absmax_params");
      const cBuf = gpu.storage((r1 - r0) * stride * 4, "absmax_codes");
      const uBuf = gpu.uniform(u, "absmax_params_u");
      made.push(wBuf, sBuf, pBuf, cBuf, uBuf);
      return { r0, r1, g0, nG, wx, wy, wBuf, sBuf, pBuf, cBuf, uBuf };
    });
    await gpu.runMany(
      "absmax_stats",
      perChunk.map((c) => ({
        pipeline: statsPipe,
        buffers: [c.uBuf, c.wBuf, tabBuf, c.sBuf, c.pBuf, c.cBuf],
        workgroups: [c.wx, c.wy],
      })),
      { wait: false },
    );
    // Every readback in flight at once (each awaited one costs Deno's ~11 ms device poll).
    const statParts = await Promise.all(perChunk.map((c) => gpu.read(c.sBuf, 3 * c.nG * 4)));
    perChunk.forEach((c, i) => stats.set(new Float32Array(statParts[i]!), 3 * c.g0));
    const p = params(stats);
    for (const c of perChunk) gpu.write(c.pBuf, p.enc.subarray(2 * c.g0, 2 * (c.g0 + c.nG)));
    await gpu.runMany(
      "absmax_encode",
      perChunk.map((c) => ({
        pipeline: encPipe,
        buffers: [c.uBuf, c.wBuf, tabBuf, c.sBuf, c.pBuf, c.cBuf],
        workgroups: [c.wx, c.wy],
      })),
      { wait: false },
    );
    const codeParts = await Promise.all(
      perChunk.map((c) => gpu.read(c.cBuf, (c.r1 - c.r0) * stride * 4)),
    );
    perChunk.forEach((c, i) => codes.set(new Uint32Array(codeParts[i]!), c.r0 * stride));
    return { codes, params: p, stats };
  } finally {
    for (const b of made) b.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// RTN
// ---------------------------------------------------------------------------------------------

/** Round-to-nearest configuration. */
export interface RtnConfig {
  /** Bits per weight, 1–8. */
  bits: number;
  /** Weights per group; null = per channel. */
  groupSize: number | null;
  /** Group axis (format convention). */
  axis: 0 | 1;
  /** Symmetric midrise levels (absmax scale, no zero) instead of min–max affine. */
  symmetric: boolean;
  /** Affine: round the zero to an integer code. */
  roundZero: boolean;
  /** Search a clip ratio per group for the least squared error. */
  clipSearch: boolean;
  /** Clip search: ratios 1, 1 − 1/grid, …. */
  clipGrid: number;
  /** Clip search: ratios go down to 1 − maxShrink (exclusive). */
  clipMaxShrink: number;
  /** Stored precision of scales and zeros. */
  scaleDtype: "F16" | "F32";
}

/**
 * A full RTN configuration from partial options (defaults: 4 bits, group 64, axis 1, asymmetric
 * with integer zero, no clipping search, f16 scale/zero).
 *
 * @example
 * ```ts
 * import { rtnConfig } from "./rtn.ts";
 * const c = rtnConfig({ bits: 3, symmetric: true });
 * if (c.groupSize !== 64 || !c.symmetric || c.scaleDtype !== "F16") throw new Error();
 * ```
 */
export function rtnConfig(opts: Partial<RtnConfig> = {}): RtnConfig {
  const c: RtnConfig = {
    bits: 4,
    groupSize: 64,
    axis: 1,
    symmetric: false,
    roundZero: true,
    clipSearch: false,
    clipGrid: 100,
    clipMaxShrink: 0.8,
    scaleDtype: "F16",
    ...stripUndefined(opts),
  };
  if (!Number.isInteger(c.bits) || c.bits < 1 || c.bits > 8) {
    throw new QuantlabError("bad-argument", `RTN bits ${c.bits} is not valid; use 1 to 8`);
  }
  if (c.scaleDtype !== "F16" && c.scaleDtype !== "F32") {
    throw new QuantlabError(
      "bad-argument",
      `Scale dtype ${c.scaleDtype} is not valid; use F16 or F32`,
    );
  }
  if (c.clipSearch) clipRatios(c.clipGrid, c.clipMaxShrink);
  return c;
}

/** Drops undefined members so spreads keep the defaults. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The table of symmetric RTN: k − (2^b − 1)/2. */
function midriseLevels(bits: number): Float32Array {
  const n = 2 ** bits;
  return Float32Array.from({ length: n }, (_, k) => k - (n - 1) / 2);
}

function rtnMode(c: RtnConfig): EncodeMode {
  const ratios = c.clipSearch ? clipRatios(c.clipGrid, c.clipMaxShrink) : null;
  return c.symmetric
    ? tableMode(midriseLevels(c.bits), c.bits, ratios)
    : affineMode(c.bits, c.roundZero, ratios);
}

function rtnTensor(
  c: RtnConfig,
  L: GroupLayout,
  codes: Uint32Array,
  p: GroupParams,
): QuantizedTensor {
  const q: QuantizedTensor = {
    method: "rtn",
    shape: [L.rows, L.cols],
    paddedCols: L.cols,
    p: 1,
    codeBits: c.bits,
    codes,
    table: c.symmetric
      ? midriseLevels(c.bits)
      : Float32Array.from({ length: 2 ** c.bits }, (_, k) => k),
    tableDtype: "F16",
    groupSize: L.g,
    groupAxis: L.axis,
    scales: p.scales,
    scaleStorage: { kind: "float", dtype: c.scaleDtype },
    rotation: { kind: "none" },
    params: {
      bits: c.bits,
      groupSize: c.groupSize,
      axis: c.axis,
      symmetric: c.symmetric,
      roundZero: c.symmetric ? false : c.roundZero,
      clipSearch: c.clipSearch,
      clipGrid: c.clipGrid,
      clipMaxShrink: c.clipMaxShrink,
      scaleDtype: c.scaleDtype,
    },
  };
  if (p.zeros) {
    q.zeros = p.zeros;
    q.zeroStorage = { kind: "float", dtype: c.scaleDtype };
  }
  return q;
}

/**
 * The specification of RTN: plain loops, one group at a time, no pool.
 *
 * @example
 * ```ts
 * import { rtnConfig, rtnReference } from "./rtn.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = new Float32Array([0, 1, 2, 3]);
 * const q = rtnReference(w, 1, 4, rtnConfig({ bits: 2, groupSize: 4, scaleDtype: "F32" }));
 * if (decodeRotated(q).join() !== "0,1,2,3") throw new Error();
 * ```
 */
export function rtnReference(
  w: Float32Array,
  rows: number,
  cols: number,
  c: RtnConfig,
  name = "tensor",
): QuantizedTensor {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const m = rtnMode(c);
  const stats = new Float32Array(3 * L.count);
  groupStatsChunk(w, L, m, stats, 0, L.count);
  const p = groupParams(stats, m, c.scaleDtype, name);
  const stride = rowStrideWords(cols, c.bits);
  const codes = new Uint32Array(rows * stride);
  encodeRowsChunk(w, L, m, p.enc, codes, stride, 0, rows);
  return rtnTensor(c, L, codes, p);
}

/**
 * Round-to-nearest quantization on the CPU pool or WebGPU.
 *
 * @example
 * ```ts
 * import { rtnConfig, rtnQuantize } from "./rtn.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i));
 * const q = await rtnQuantize(w, 2, 64, rtnConfig({ bits: 8 }));
 * const d = decodeRotated(q);
 * if (Math.abs(d[5]! - w[5]!) > 0.01) throw new Error();
 * ```
 */
export async function rtnQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  c: RtnConfig,
  backend: Backend = { kind: "cpu" },
  name = "tensor",
): Promise<QuantizedTensor> {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const m = rtnMode(c);
  const e = await encodeGroups(w, L, m, c.scaleDtype, backend, name);
  return rtnTensor(c, L, e.codes, e.params);
}

/**
 * Reads method options from `extra`, rejecting unknown keys and wrong types with a clear error.
 *
 * @example
 * ```ts
 * import { readExtra } from "./rtn.ts";
 * const x = readExtra("rtn", { symmetric: true }, { symmetric: "boolean", clipGrid: "number" });
 * if (x.symmetric !== true) throw new Error();
 * ```
 */
export function readExtra(
  method: string,
  extra: Record<string, string | number | boolean> | undefined,
  spec: Record<string, "boolean" | "number" | "string">,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(extra ?? {})) {
    const t = spec[k];
    if (!t) {
      throw new QuantlabError(
        "bad-argument",
        `Option "${k}" is not valid for ${method}; use ${Object.keys(spec).join(", ")}`,
      );
    }
    let val: string | number | boolean = v;
    if (t === "boolean" && typeof v === "string" && (v === "true" || v === "false")) {
      val = v === "true";
    }
    if (t === "number" && typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) {
      val = Number(v);
    }
    const ok = t === "boolean"
      ? typeof val === "boolean"
      : t === "number"
      ? typeof val === "number" && Number.isFinite(val)
      : typeof val === "string";
    if (!ok) {
      throw new QuantlabError(
        "bad-argument",
        `Option "${k}" of ${method} is ${JSON.stringify(v)}; expected a ${t}`,
      );
    }
    out[k] = val;
  }
  return out;
}

/** The RTN configuration a {@linkcode QuantOptions} asks for. */
export function rtnConfigFromOptions(opts: QuantOptions): RtnConfig {
  const x = readExtra("rtn", opts.extra, {
    symmetric: "boolean",
    roundZero: "boolean",
    clipSearch: "boolean",
    clipGrid: "number",
    clipMaxShrink: "number",
  });
  return rtnConfig({
    bits: opts.bits,
    groupSize: opts.groupSize,
    axis: opts.axis,
    scaleDtype: opts.scaleDtype,
    symmetric: x.symmetric as boolean | undefined,
    roundZero: x.roundZero as boolean | undefined,
    clipSearch: x.clipSearch as boolean | undefined,
    clipGrid: x.clipGrid as number | undefined,
    clipMaxShrink: x.clipMaxShrink as number | undefined,
  });
}

/**
 * Round-to-nearest int1–int8 (`extra`: `symmetric`, `roundZero`, `clipSearch`, `clipGrid`,
 * `clipMaxShrink`).
 *
 * @example
 * ```ts
 * import { rtnQuantizer } from "./rtn.ts";
 * const q = await rtnQuantizer.quantize(new Float32Array(64).fill(0.5), 1, 64, { bits: 3 });
 * if (q.method !== "rtn" || q.codeBits !== 3) throw new Error();
 * ```
 */
export const rtnQuantizer: Quantizer = {
  method: "rtn",
  summary: "round-to-nearest int1–int8, symmetric or min–max, per group, optional clip search",
  async quantize(w, rows, cols, opts, backend, name) {
    return await rtnQuantize(w, rows, cols, rtnConfigFromOptions(opts), backend, name);
  },
};
