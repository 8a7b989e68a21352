// This module is browser compatible.
/**
 * HIGGS (Malinovskii et al., NAACL 2025): randomized Hadamard rotation + per-group scale + nearest
 * point of an MSE-optimal Gaussian grid, for any shape, any grid in `assets/grids/`, on the CPU
 * (worker pool) or WebGPU.
 *
 * The exact algorithm (the spec is {@linkcode higgsQuantizeReference}); W is [rows, cols], rows =
 * output features, h = Hadamard size, g = group size (g divides h, or h divides g), p = grid
 * dimension:
 * 1. Zero-pad every row to `paddedCols` = a multiple of max(h, g) (groups nest with the blocks:
 *    g divides h, or is a multiple of it when p does not divide h).
 * 2. Rotate each row blockwise: block b (columns bh … bh+h−1) becomes x = Hₒ·D·w_b with
 *    Hₒ = H/√h the orthonormal Sylvester Walsh–Hadamard matrix and D = diag(randSign(seed, c)) for
 *    the padded column c (D = I when `seed` is null: the plain Hadamard of the HF integration).
 * 3. Scale per group of g consecutive rotated values (g a multiple of p; default g = h, or
 *    lcm(h, p) when p does not divide h): s = RMS = √(Σx²/g), rounded to the stored
 *    precision (f16 by default). Because Hₒ is orthonormal, with g = h this is exactly the
 *    reference integration's stored scale ‖w_block‖/√h; with g < h each group of the rotated block
 *    gets its own RMS (≈ the same value for Gaussian-like blocks, never worse in MSE).
 * 4. Normalize with the stored scale: y = f32(x · f32(1/s)) (y = 0 when s = 0, e.g. all-zero or
 *    padded groups), then code each p-tuple of y as its nearest grid point, ties → lowest index.
 *    The grid is rounded to the table's precision *before* the search (f16 by default), so the
 *    codes are the nearest points of the table that decoding uses.
 * 5. Decode: Ŵrot = table[code] · s, then Ŵ = D·Hₒ·Ŵrot per block (Hₒ is its own inverse), and
 *    the padding is dropped. Inference can instead rotate the activation: Ŵx = Ŵrot·(Hₒ·D·x).
 *
 * With `hadamard: 0` the rotation is skipped (only to show why it exists): rows are padded to a
 * multiple of g and step 3 uses the raw values.
 *
 * @module
 */
import { assertFinite, QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import { randSign } from "../core/prng.ts";
import { parallelFor, poolSize, sharedF32, sharedU32, toShared } from "../cpu/pool.ts";
import type { Backend } from "../gpu/backend.ts";
import { fwhtBlocks } from "../hadamard/fwht.ts";
import { type EncodePlan, encodePlan, encodeRange } from "../grids/encode.ts";
import type { GridPoints } from "../grids/grid.ts";
import { loadGrid } from "../grids/load.ts";
import { encodeNearestDispatch, uploadGrid } from "../grids/encode_gpu.ts";
import { encodeHadamard } from "../hadamard/gpu.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import type { QuantizedTensor } from "./format.ts";
import { packCodes, rowStrideWords } from "./packing.ts";
import { unbiasScales } from "./higgs_unbiased.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";

/** Resolved HIGGS parameters (what a checkpoint records). */
export interface HiggsParams {
  /** Grid dimension: weights per code. */
  p: number;
  /** Grid size n (number of points). */
  gridSize: number;
  /** Bits per code word: ⌈log2 n⌉. */
  codeBits: number;
  /** Bits per coordinate log2(n)/p (e.g. 4 for (2,256), 2.5 for (2,32)). */
  bits: number;
  /** Hadamard block size h (power of two, 64–4096); 0 = no rotation. */
  hadamard: number;
  /** Weights per scale (divides h). */
  groupSize: number;
  /** Random-sign seed (u32), or null for the plain Hadamard. */
  seed: number | null;
  /** Stored precision of the scales. */
  scaleDtype: "F16" | "F32";
  /** Stored precision of the grid table (the search uses the rounded grid). */
  tableDtype: "F16" | "F32";
  /**
   * How each group's scale is set: `"rms"` (the group's RMS, the paper's and HF's rule) or
   * `"unbiased"` (‖x‖²/⟨x, d⟩, so the error has no component along the weights; see
   * `higgs_unbiased.ts`).
   */
  scaleRule: "rms" | "unbiased";
}

/** Valid Hadamard sizes. */
export const HIGGS_HADAMARD_SIZES: readonly number[] = [64, 128, 256, 512, 1024, 2048, 4096];

/** The largest block `--hadamard auto` picks unless told otherwise. */
export const HIGGS_AUTO_HADAMARD_MAX = 1024;

/**
 * The Hadamard block `auto` picks for an input width: the largest valid size ≤ `max` that divides
 * `cols` (so nothing is padded), or the smallest valid size (64, the least padding) when none
 * divides it.
 *
 * @example
 * ```ts
 * import { autoHadamardSize } from "./higgs.ts";
 * const sizes = [896, 4864, 2304, 3584, 4096].map((c) => autoHadamardSize(c));
 * if (sizes.join() !== "128,256,256,512,1024") throw new Error(sizes.join());
 * if (autoHadamardSize(4096, 512) !== 512 || autoHadamardSize(100) !== 64) throw new Error();
 * ```
 */
export function autoHadamardSize(cols: number, max: number = HIGGS_AUTO_HADAMARD_MAX): number {
  let best = 0;
  for (const h of HIGGS_HADAMARD_SIZES) if (h <= max && cols % h === 0) best = h;
  return best || HIGGS_HADAMARD_SIZES[0]!;
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y) [x, y] = [y, x % y];
  return (a / x) * b;
}

/**
 * Resolves and validates HIGGS options. Defaults: p = 2, bits = 4 (n = 2^(p·bits)), h = auto
 * (for an input width `cols`, {@linkcode autoHadamardSize}; without `cols`, the maximum 1024),
 * g = h (lcm(h, p) when p does not divide h), seed = null (plain Hadamard), f16 scales, f16 table,
 * RMS scales. `opts.extra.scaleRule` may be "unbiased" (see `higgs_unbiased.ts`); `opts.extra.tableDtype` may be
 * "F32"; `opts.hadamard = 0` disables the rotation. Only `axis: 1` is valid (the rotation runs
 * along the input dimension).
 *
 * @example
 * ```ts
 * import { resolveHiggsParams } from "./higgs.ts";
 * const p = resolveHiggsParams({ bits: 4, p: 2 });
 * if (p.gridSize !== 256 || p.codeBits !== 8 || p.groupSize !== 1024) throw new Error();
 * ```
 */
export function resolveHiggsParams(
  opts: QuantOptions,
  name = "tensor",
  cols?: number,
): HiggsParams {
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-argument", `Cannot quantize "${name}" with HIGGS: ${msg}`);
  };
  const p = opts.p ?? 2;
  if (!Number.isInteger(p) || p < 1 || p > 16) bad(`p = ${p} is not valid; use an integer 1 to 16`);
  let n: number;
  if (opts.gridSize !== undefined) {
    n = opts.gridSize;
    if (!Number.isInteger(n) || n < 2 || n > 65536) {
      bad(`grid size ${n} is not valid; use an integer from 2 to 65536`);
    }
  } else {
    const bits = opts.bits ?? 4;
    const total = p * bits;
    n = 2 ** total;
    if (!(bits > 0) || !Number.isInteger(n) || n < 2 || n > 65536) {
      bad(
        `bits = ${bits} with p = ${p} gives a grid of 2^${total} points; use bits with p·bits an ` +
          `integer from 1 to 16, or give the grid size n`,
      );
    }
  }
  const codeBits = Math.ceil(Math.log2(n) - 1e-12);
  const max = opts.hadamardMax ?? HIGGS_AUTO_HADAMARD_MAX;
  if (!HIGGS_HADAMARD_SIZES.includes(max)) {
    bad(`Hadamard maximum ${max} is not valid; use one of ${HIGGS_HADAMARD_SIZES.join(", ")}`);
  }
  const h = opts.hadamard ?? (cols === undefined ? max : autoHadamardSize(cols, max));
  if (h !== 0 && !HIGGS_HADAMARD_SIZES.includes(h)) {
    bad(
      `Hadamard size ${h} is not valid; use one of ${
        HIGGS_HADAMARD_SIZES.join(", ")
      } (or 0 for none)`,
    );
  }
  // Groups hold whole p-tuples (g % p = 0) and nest with the rotation blocks (g | h or h | g), so
  // a padded row is a whole number of both. When p does not divide h (p = 3, 5, …) the default
  // group spans p blocks: g = lcm(h, p) = p·h for odd p.
  const gOpt = opts.groupSize ?? null;
  const gDefault = lcm(h || 1024, p);
  const g = gOpt === null ? gDefault : gOpt;
  if (!Number.isInteger(g) || g < 1) bad(`group size ${g} is not valid; use a positive integer`);
  if (g % p !== 0) bad(`group size ${g} is not a multiple of p = ${p}`);
  if (h !== 0 && h % g !== 0 && g % h !== 0) {
    bad(
      `group size ${g} neither divides nor is a multiple of the Hadamard size ${h}; use a ` +
        `divisor of ${h} (${
          h % p === 0 ? `e.g. ${h}, ${h / 2}` : `a multiple of p = ${p}`
        }) or a multiple of ${h}`,
    );
  }
  if ((opts.axis ?? 1) !== 1) {
    // An option the caller chose: fixed by changing it (exit 2), not a limit of the input.
    throw new QuantlabError(
      "bad-argument",
      `Cannot quantize "${name}" with HIGGS along axis ${opts.axis}: the rotation and groups run ` +
        `along the input dimension (axis 1)`,
    );
  }
  const seed = opts.seed ?? null;
  if (seed !== null && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    bad(`seed ${seed} is not valid; use an integer from 0 to 4294967295`);
  }
  const scaleDtype = opts.scaleDtype ?? "F16";
  if (scaleDtype !== "F16" && scaleDtype !== "F32") {
    bad(`scale dtype ${scaleDtype} is not valid; use F16 or F32`);
  }
  for (const k of Object.keys(opts.extra ?? {})) {
    if (k !== "tableDtype" && k !== "scaleRule") {
      bad(`option "${k}" is not a HIGGS option; HIGGS takes tableDtype and scaleRule`);
    }
  }
  const scaleRule = opts.extra?.scaleRule ?? "rms";
  if (scaleRule !== "rms" && scaleRule !== "unbiased") {
    bad(`scale rule ${scaleRule} is not valid; use rms or unbiased`);
  }
  const tableDtype = opts.extra?.tableDtype ?? "F16";
  if (tableDtype !== "F16" && tableDtype !== "F32") {
    bad(`table dtype ${tableDtype} is not valid; use F16 or F32`);
  }
  return {
    p,
    gridSize: n,
    codeBits,
    bits: Math.log2(n) / p,
    hadamard: h,
    groupSize: g,
    seed,
    scaleDtype,
    tableDtype: tableDtype as "F16" | "F32",
    scaleRule: scaleRule as "rms" | "unbiased",
  };
}

/**
 * Columns after padding: a multiple of max(h, g).
 *
 * @example
 * ```ts
 * import { higgsPaddedCols, resolveHiggsParams } from "./higgs.ts";
 * if (higgsPaddedCols(1000, resolveHiggsParams({ hadamard: 256 })) !== 1024) throw new Error();
 * ```
 */
export function higgsPaddedCols(cols: number, params: HiggsParams): number {
  const unit = Math.max(params.hadamard, params.groupSize);
  return Math.ceil(cols / unit) * unit;
}

/**
 * Bits per weight a HIGGS tensor of shape [rows, cols] stores with `opts`, counted exactly as
 * `bitsPerWeight` of `format.ts` counts the quantized tensor (and `quantlab error` prints it):
 * codes and scales of the padded row, the table amortized over the tensor. The Hadamard block
 * and group follow {@linkcode resolveHiggsParams} with this width (so `auto` is per tensor).
 *
 * @example
 * ```ts
 * import { higgsStoredBits } from "./higgs.ts";
 * // 4-bit codes + one f16 scale per 128 columns + a 256 × 2 f16 table over 256·896 weights.
 * const b = higgsStoredBits(256, 896, { p: 2, bits: 4 });
 * if (b !== 4 + 16 / 128 + (512 * 16) / (256 * 896)) throw new Error(String(b));
 * ```
 */
export function higgsStoredBits(rows: number, cols: number, opts: QuantOptions): number {
  const params = resolveHiggsParams(opts, "tensor", cols);
  const padded = higgsPaddedCols(cols, params);
  const codes = rows * (padded / params.p) * params.codeBits;
  const scales = rows * (padded / params.groupSize) * (params.scaleDtype === "F32" ? 32 : 16);
  const table = 2 ** params.codeBits * params.p * (params.tableDtype === "F32" ? 32 : 16);
  return (codes + scales + table) / (rows * cols);
}

/**
 * Rounds a scale to its stored precision (f16 round-to-nearest-even, or f32).
 *
 * @example
 * ```ts
 * import { roundScale } from "./higgs.ts";
 * if (roundScale(1 + 2 ** -12, "F16") !== 1) throw new Error();
 * ```
 */
export function roundScale(s: number, dtype: "F16" | "F32"): number {
  return dtype === "F16" ? f16BitsToF32(f32ToF16Bits(s)) : Math.fround(s);
}

/**
 * The decoding table: the grid points (n·p values) rounded to `tableDtype`, padded with zeros to
 * 2^codeBits points when n is not a power of two (padding points are never chosen).
 *
 * @example
 * ```ts
 * import { higgsTable, resolveHiggsParams } from "./higgs.ts";
 * const t = higgsTable(new Float32Array([-1.1, 0.3, 1]), resolveHiggsParams({ p: 1, gridSize: 3 }));
 * if (t.length !== 4 || t[3] !== 0) throw new Error();
 * ```
 */
export function higgsTable(points: Float32Array, params: HiggsParams): Float32Array {
  const { p, gridSize: n, codeBits, tableDtype } = params;
  if (points.length !== n * p) {
    throw new QuantlabError(
      "bad-shape",
      `Grid (${p}, ${n}) needs ${n * p} values but holds ${points.length}`,
    );
  }
  const out = new Float32Array(2 ** codeBits * p);
  for (let i = 0; i < n * p; i++) {
    out[i] = tableDtype === "F16" ? f16BitsToF32(f32ToF16Bits(points[i]!)) : points[i]!;
  }
  return out;
}

/** Checks the input of a quantizer: shape and finiteness (errors name the tensor). */
export function checkWeight(w: Float32Array, rows: number, cols: number, name: string): void {
  for (const [k, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new QuantlabError(
        "bad-shape",
        `Tensor "${name}": ${k} is ${v}; expected a positive integer`,
      );
    }
  }
  if (w.length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Tensor "${name}" holds ${w.length} values; shape [${rows}, ${cols}] needs ${rows * cols}`,
    );
  }
  assertFinite(w, name);
}

function scaleOverflow(name: string, s: number, row: number, group: number): never {
  throw new QuantlabError(
    "bad-value",
    `Tensor "${name}": the scale ${s} of row ${row}, group ${group} does not fit in f16 ` +
      `(max 65504); use --scale-dtype F32`,
  );
}

/** Builds the QuantizedTensor record around computed codes and scales. */
export function higgsTensor(
  rows: number,
  cols: number,
  params: HiggsParams,
  codes: Uint32Array,
  scales: Float32Array,
  table: Float32Array,
): QuantizedTensor {
  const paddedCols = higgsPaddedCols(cols, params);
  return {
    method: "higgs",
    shape: [rows, cols],
    paddedCols,
    p: params.p,
    codeBits: params.codeBits,
    codes,
    table,
    tableDtype: params.tableDtype,
    groupSize: params.groupSize,
    groupAxis: 1,
    scales,
    scaleStorage: { kind: "float", dtype: params.scaleDtype },
    rotation: params.hadamard
      ? { kind: "hadamard", size: params.hadamard, seed: params.seed }
      : { kind: "none" },
    params: {
      bits: params.bits,
      p: params.p,
      n: params.gridSize,
      hadamard: params.hadamard,
      groupSize: params.groupSize,
      seed: params.seed,
      scaleDtype: params.scaleDtype,
      tableDtype: params.tableDtype,
      // Recorded only when not the default, so earlier checkpoints read back identically.
      ...(params.scaleRule === "unbiased" ? { scaleRule: params.scaleRule } : {}),
    },
  };
}

/**
 * The specification of HIGGS in plain TypeScript (slow: an O(h²) Hadamard straight from its
 * definition H[i][j] = (−1)^popcount(i & j), and a brute-force nearest-point search in f64).
 * `points` are the n·p grid values (unrounded; the table rounding is applied here).
 *
 * @example
 * ```ts
 * import { higgsQuantizeReference, resolveHiggsParams } from "./higgs.ts";
 * import { decodeRotated } from "./decode.ts";
 * const params = resolveHiggsParams({ p: 1, bits: 1, hadamard: 64 });
 * const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
 * const q = higgsQuantizeReference(w, 1, 64, params, new Float32Array([-0.8, 0.8]));
 * if (decodeRotated(q).length !== 64) throw new Error();
 * ```
 */
export function higgsQuantizeReference(
  w: Float32Array,
  rows: number,
  cols: number,
  params: HiggsParams,
  points: Float32Array,
  name = "tensor",
): QuantizedTensor {
  checkWeight(w, rows, cols, name);
  const { p, gridSize: n, hadamard: h, groupSize: g, seed } = params;
  const table = higgsTable(points, params);
  const pc = higgsPaddedCols(cols, params);
  const gpr = pc / g;
  const scales = new Float32Array(rows * gpr);
  const codes = new Uint16Array(rows * (pc / p));
  const row = new Float64Array(pc);
  const rot = new Float32Array(pc);
  const y = new Float32Array(pc);
  for (let r = 0; r < rows; r++) {
    row.fill(0);
    for (let c = 0; c < cols; c++) row[c] = w[r * cols + c]!;
    if (h) {
      if (seed !== null) { for (let c = 0; c < pc; c++) row[c] = row[c]! * randSign(seed, c); }
      const norm = 1 / Math.sqrt(h);
      for (let b = 0; b < pc; b += h) {
        for (let i = 0; i < h; i++) {
          let acc = 0;
          for (let j = 0; j < h; j++) {
            acc += popcountOdd(i & j) ? -row[b + j]! : row[b + j]!;
          }
          rot[b + i] = acc * norm;
        }
      }
    } else {
      rot.set(row);
    }
    for (let k = 0; k < gpr; k++) {
      let ss = 0;
      for (let c = k * g; c < (k + 1) * g; c++) ss += rot[c]! * rot[c]!;
      const s = roundScale(Math.sqrt(ss / g), params.scaleDtype);
      if (!Number.isFinite(s)) scaleOverflow(name, Math.sqrt(ss / g), r, k);
      scales[r * gpr + k] = s;
      const inv = s > 0 ? Math.fround(1 / s) : 0;
      for (let c = k * g; c < (k + 1) * g; c++) y[c] = rot[c]! * inv;
    }
    for (let j = 0; j < pc / p; j++) {
      let best = 0;
      let bestD = Infinity;
      for (let t = 0; t < n; t++) {
        let d = 0;
        for (let e = 0; e < p; e++) {
          const diff = y[j * p + e]! - table[t * p + e]!;
          d += diff * diff;
        }
        if (d < bestD) {
          bestD = d;
          best = t;
        }
      }
      codes[r * (pc / p) + j] = best;
    }
  }
  return higgsTensor(
    rows,
    cols,
    params,
    packCodes(codes, rows, pc / p, params.codeBits),
    scales,
    table,
  );
}

function popcountOdd(x: number): boolean {
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return (x & 1) === 1;
}

// ---------------------------------------------------------------------------------------------
// Fast CPU path (worker pool)

const planCache = new WeakMap<
  Float32Array,
  Map<string, { table: Float32Array; plan: EncodePlan }>
>();

/**
 * The decoding table of `grid` for `params` and the search plan over its first n points (the
 * search runs on the rounded grid, so codes are nearest points of the table that decoding uses).
 * Cached per grid.
 */
function tableAndPlan(
  grid: GridPoints,
  params: HiggsParams,
): { table: Float32Array; plan: EncodePlan } {
  let m = planCache.get(grid.points);
  if (!m) planCache.set(grid.points, m = new Map());
  const key = `${params.codeBits}:${params.tableDtype}`;
  let e = m.get(key);
  if (!e) {
    const table = higgsTable(grid.points, params);
    const points = table.slice(0, grid.n * grid.p);
    e = { table, plan: encodePlan({ p: grid.p, n: grid.n, points }) };
    m.set(key, e);
  }
  return { table: e.table.slice(), plan: e.plan };
}

/** Elements per tile of rows processed together by one worker (a few hundred KiB). */
const TILE_ELEMENTS = 1 << 16;
let tileBuf = new Float32Array(0);
let tileCodes = new Uint16Array(0);

/** What a worker reports when a scale does not fit its storage: [row, group, scale]. */
export type Overflow = [number, number, number] | null;

/**
 * Rows `[start, end)` of the HIGGS encoder (the pool's chunk function; exported for the workers):
 * pad, rotate (randomized orthonormal FWHT), scale per group, find the nearest grid points with
 * `plan`, and pack the codes of each row into `codes` (rows `rowStrideWords` words apart).
 * Returns null, or [row, group, scale] of the first scale that overflows f16.
 *
 * @example
 * ```ts
 * import { higgsEncodeRows } from "./higgs.ts";
 * import { encodePlan } from "../grids/encode.ts";
 * const plan = encodePlan({ p: 1, n: 2, points: new Float32Array([-1, 1]) });
 * const w = new Float32Array([3, -3, 3, -3]);
 * const codes = new Uint32Array(1);
 * const scales = new Float32Array(1);
 * higgsEncodeRows(w, 4, 4, 0, 4, 1, 1, -1, true, plan, codes, scales, 0, 1);
 * if (codes[0] !== 0b0101 || scales[0] !== 3) throw new Error();
 * ```
 */
export function higgsEncodeRows(
  w: Float32Array,
  cols: number,
  pc: number,
  h: number,
  g: number,
  p: number,
  codeBits: number,
  seed: number,
  scaleF16: boolean,
  plan: EncodePlan,
  codes: Uint32Array,
  scales: Float32Array,
  start: number,
  end: number,
): Overflow {
  const tileRows = Math.max(1, Math.floor(TILE_ELEMENTS / pc));
  if (tileBuf.length < tileRows * pc) tileBuf = new Float32Array(tileRows * pc);
  if (tileCodes.length < (tileRows * pc) / p) tileCodes = new Uint16Array((tileRows * pc) / p);
  const buf = tileBuf;
  const cbuf = tileCodes;
  const stride = rowStrideWords(pc / p, codeBits);
  const gpr = pc / g;
  const cpr = pc / p;
  const log = h ? Math.round(Math.log2(h)) : 0;
  const norm = h ? 1 / Math.sqrt(h) : 1;
  for (let r0 = start; r0 < end; r0 += tileRows) {
    const nr = Math.min(tileRows, end - r0);
    for (let i = 0; i < nr; i++) {
      const dst = i * pc;
      buf.set(w.subarray((r0 + i) * cols, (r0 + i + 1) * cols), dst);
      if (pc > cols) buf.fill(0, dst + cols, dst + pc);
    }
    if (h) {
      fwhtBlocks(buf, pc, log, norm, seed >= 0 ? 1 : 0, seed >= 0 ? seed : 0, 0, (nr * pc) / h);
    }
    for (let i = 0; i < nr; i++) {
      for (let k = 0; k < gpr; k++) {
        const a = i * pc + k * g;
        let ss = 0;
        for (let c = a; c < a + g; c++) ss += buf[c]! * buf[c]!;
        const raw = Math.sqrt(ss / g);
        const s = scaleF16 ? f16BitsToF32(f32ToF16Bits(raw)) : Math.fround(raw);
        if (!Number.isFinite(s)) return [r0 + i, k, raw];
        scales[(r0 + i) * gpr + k] = s;
        const inv = s > 0 ? Math.fround(1 / s) : 0;
        for (let c = a; c < a + g; c++) buf[c] = buf[c]! * inv;
      }
    }
    encodeRange(plan, buf, cbuf, 0, nr * cpr);
    packRows(cbuf, nr, cpr, codeBits, codes, r0 * stride, stride);
  }
  return null;
}

/** Packs `rows × cpr` codes into `out` from word `at`, rows `stride` words apart (packing.ts layout). */
function packRows(
  src: Uint16Array,
  rows: number,
  cpr: number,
  bits: number,
  out: Uint32Array,
  at: number,
  stride: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = at + r * stride;
    out.fill(0, base, base + stride);
    const s0 = r * cpr;
    if (32 % bits === 0) {
      const per = 32 / bits;
      for (let j = 0, wi = base; j < cpr; j += per, wi++) {
        let word = 0;
        const lim = Math.min(per, cpr - j);
        for (let k = 0; k < lim; k++) word |= src[s0 + j + k]! << (k * bits);
        out[wi] = word >>> 0;
      }
    } else {
      for (let j = 0; j < cpr; j++) {
        const c = src[s0 + j]!;
        const bit = j * bits;
        const wi = base + (bit >>> 5);
        const sh = bit & 31;
        out[wi] = (out[wi]! | (c << sh)) >>> 0;
        if (sh + bits > 32) out[wi + 1] = (out[wi + 1]! | (c >>> (32 - sh))) >>> 0;
      }
    }
  }
}

/**
 * Quantizes W [rows, cols] with HIGGS against `grid` (its n·p points, unrounded) on the given
 * backend (default: CPU worker pool). Same codes as {@linkcode higgsQuantizeReference} up to exact
 * ties of the floating-point rotation (the FWHT sums in a different order than the O(h²)
 * definition).
 *
 * @example
 * ```ts
 * import { higgsQuantize, resolveHiggsParams } from "./higgs.ts";
 * const params = resolveHiggsParams({ p: 1, bits: 1, hadamard: 64 });
 * const w = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i));
 * const q = await higgsQuantize(w, 2, 64, params, { p: 1, n: 2, points: new Float32Array([-0.8, 0.8]) });
 * if (q.scales.length !== 2) throw new Error();
 * ```
 */
export async function higgsQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  params: HiggsParams,
  grid: GridPoints,
  backend: Backend = { kind: "cpu" },
  name = "tensor",
): Promise<QuantizedTensor> {
  checkWeight(w, rows, cols, name);
  if (grid.p !== params.p || grid.n !== params.gridSize) {
    throw new QuantlabError(
      "bad-argument",
      `Grid (${grid.p}, ${grid.n}) does not match the HIGGS parameters (${params.p}, ${params.gridSize})`,
    );
  }
  const { table, plan } = tableAndPlan(grid, params);
  if (backend.kind === "webgpu") {
    return await higgsQuantizeGpu(w, rows, cols, params, table, backend.gpu, name);
  }
  const pc = higgsPaddedCols(cols, params);
  const { p, codeBits, groupSize: g, hadamard: h } = params;
  const stride = rowStrideWords(pc / p, codeBits);
  const codes = sharedU32(rows * stride);
  const scales = sharedF32(rows * (pc / g));
  const minChunk = Math.max(1, Math.ceil((1 << 17) / pc));
  const results = await parallelFor(
    import.meta.url,
    "higgsEncodeRows",
    rows,
    [
      rows >= 2 * minChunk && poolSize() > 1 ? toShared(w) : w,
      cols,
      pc,
      h,
      g,
      p,
      codeBits,
      params.seed ?? -1,
      params.scaleDtype === "F16",
      plan,
      codes,
      scales,
    ],
    { minChunk },
  );
  for (const r of results as Overflow[]) if (r) scaleOverflow(name, r[2], r[0], r[1]);
  return higgsTensor(rows, cols, params, codes, scales, table);
}

/** Workgroup counts for `count` workgroups, 2-D past the per-dimension limit. */
function grid2d(gpu: Gpu, count: number): [number, number] {
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(count, maxDim));
  return [x, Math.max(1, Math.ceil(count / x))];
}

let gpuChunkBytes = 1 << 28;

/**
 * Sets the largest chunk of rotated values (bytes) the WebGPU encoder keeps on the GPU at once
 * (default 256 MiB, never more than one storage binding); returns the previous value. For tests
 * of the chunked path and for small GPUs.
 *
 * @example
 * ```ts
 * import { setHiggsGpuChunkBytes } from "./higgs.ts";
 * const old = setHiggsGpuChunkBytes(1 << 20);
 * if (setHiggsGpuChunkBytes(old) !== 1 << 20) throw new Error("returns the previous size");
 * ```
 */
export function setHiggsGpuChunkBytes(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 4) {
    throw new QuantlabError("bad-argument", `GPU chunk size ${bytes} is not valid; use bytes ≥ 4`);
  }
  const old = gpuChunkBytes;
  gpuChunkBytes = bytes;
  return old;
}

/**
 * The WebGPU encoder: the rotation (randomized orthonormal FWHT, `src/hadamard/gpu.ts`), the
 * per-group sums of squares and the normalization (`shaders/higgs_scale.wgsl`) and the exact
 * nearest-point search (`shaders/grid_encode.wgsl`) run on the GPU, in row chunks that fit one
 * storage binding. Between the two submissions of a chunk the host turns the sums into stored
 * scales exactly as the CPU path does (√(Σ/g) rounded to the storage precision, multiplier
 * f32(1/s)), so both backends normalize with the same numbers. Codes equal the CPU path's except
 * where the GPU's f32 rotation or sum puts a value on the other side of a rounding or cell
 * boundary (measured in the tests: a tie fraction ≤ 1e-4).
 */
async function higgsQuantizeGpu(
  w: Float32Array,
  rows: number,
  cols: number,
  params: HiggsParams,
  table: Float32Array,
  gpu: Gpu,
  name: string,
): Promise<QuantizedTensor> {
  const pc = higgsPaddedCols(cols, params);
  const { p, codeBits, groupSize: g, hadamard: h } = params;
  const stride = rowStrideWords(pc / p, codeBits);
  const gpr = pc / g;
  const scales = new Float32Array(rows * gpr);
  const codes = new Uint32Array(rows * stride);
  const code = await loadShader("higgs_scale");
  const sumsPipe = gpu.pipeline("higgs_scale", code, { MODE: 0 });
  const normPipe = gpu.pipeline("higgs_scale", code, { MODE: 1 });
  const grid = uploadGrid(gpu, {
    p,
    n: params.gridSize,
    points: table.slice(0, params.gridSize * p),
  });
  // Rows per chunk: one storage binding (and at most `gpuChunkBytes`) of f32 values.
  const maxBytes = Math.min(
    gpu.limits.maxStorageBufferBindingSize,
    gpu.limits.maxBufferSize,
    gpuChunkBytes,
  );
  const chunk = Math.max(1, Math.min(rows, Math.floor(maxBytes / (pc * 4))));
  const padded = new Float32Array(chunk * pc);
  const codes16 = new Uint16Array((chunk * pc) / p);
  const x = gpu.storage(chunk * pc * 4, `higgs ${name}`);
  const aux = gpu.storage(chunk * gpr * 4, "higgs scales");
  const out = gpu.storage(((chunk * pc) / p) * 4, "higgs codes");
  try {
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const rc = Math.min(chunk, rows - r0);
      const groups = rc * gpr;
      const m = (rc * pc) / p;
      padded.fill(0);
      for (let r = 0; r < rc; r++) {
        padded.set(w.subarray((r0 + r) * cols, (r0 + r + 1) * cols), r * pc);
      }
      gpu.write(x, padded.subarray(0, rc * pc));
      const rot = h
        ? await encodeHadamard(gpu, x, x, rc, pc, { blockSize: h, seed: params.seed })
        : [];
      const [gx, gy] = grid2d(gpu, groups);
      const sums = gpu.uniform(new Uint32Array([groups, g, gx, 0]));
      await gpu.runMany(`higgs rotate+sums "${name}"`, [
        ...rot,
        { pipeline: sumsPipe, buffers: [sums, x, aux], workgroups: [gx, gy] },
      ], { wait: false });
      const ss = new Float32Array(await gpu.read(aux, groups * 4));
      const inv = new Float32Array(groups);
      for (let i = 0; i < groups; i++) {
        const raw = Math.sqrt(ss[i]! / g);
        const s = roundScale(raw, params.scaleDtype);
        if (!Number.isFinite(s)) scaleOverflow(name, raw, r0 + Math.floor(i / gpr), i % gpr);
        scales[r0 * gpr + i] = s;
        inv[i] = s > 0 ? Math.fround(1 / s) : 0;
      }
      gpu.write(aux, inv);
      const [nx, ny] = grid2d(gpu, Math.ceil((rc * pc) / 64));
      const norm = gpu.uniform(new Uint32Array([rc * pc, g, nx, 0]));
      await gpu.runMany(`higgs normalize+encode "${name}"`, [
        { pipeline: normPipe, buffers: [norm, x, aux], workgroups: [nx, ny] },
        await encodeNearestDispatch(gpu, grid, x, out, m),
      ], { wait: false });
      const c32 = new Uint32Array(await gpu.read(out, m * 4));
      for (let i = 0; i < m; i++) codes16[i] = c32[i]!;
      packRows(codes16, rc, pc / p, codeBits, codes, r0 * stride, stride);
      sums.destroy();
      norm.destroy();
    }
    return higgsTensor(rows, cols, params, codes, scales, table);
  } finally {
    x.destroy();
    aux.destroy();
    out.destroy();
    grid.buffer.destroy();
  }
}

/** The grid of (p, n) from `assets/grids/` (never recomputed). */
function gridFor(p: number, n: number): Promise<GridPoints> {
  return loadGrid(p, n);
}

/**
 * HIGGS as a {@linkcode Quantizer}: options `bits`, `p`, `gridSize`, `hadamard`, `groupSize`,
 * `seed`, `scaleDtype`, `extra.tableDtype` (see {@linkcode resolveHiggsParams}); the grid comes
 * from `assets/grids/`.
 *
 * @example
 * ```ts
 * import { higgsQuantizer } from "./higgs.ts";
 * const w = Float32Array.from({ length: 4 * 256 }, (_, i) => Math.sin(i * 1.3));
 * const q = await higgsQuantizer.quantize(w, 4, 256, { p: 1, bits: 4, hadamard: 256 });
 * if (q.codeBits !== 4 || q.paddedCols !== 256) throw new Error();
 * ```
 */
export const higgsQuantizer: Quantizer = {
  method: "higgs",
  summary:
    "randomized Hadamard + per-group RMS scale + nearest point of a Gaussian MSE-optimal grid",
  settings(opts) {
    const r = resolveHiggsParams(opts);
    const auto = opts.hadamard === undefined;
    return {
      ...r,
      // Auto: the block (and the default group) follow each tensor's width and the maximum.
      hadamard: auto ? "auto" : r.hadamard,
      hadamardMax: opts.hadamardMax ?? HIGGS_AUTO_HADAMARD_MAX,
      groupSize: auto && opts.groupSize === undefined ? "per tensor" : r.groupSize,
    };
  },
  checkShape(_rows, cols, opts, name = "tensor") {
    resolveHiggsParams(opts, name, cols);
  },
  async quantize(w, rows, cols, opts, backend, name = "tensor") {
    const params = resolveHiggsParams(opts, name, cols);
    checkWeight(w, rows, cols, name);
    const grid = await gridFor(params.p, params.gridSize);
    const q = await higgsQuantize(w, rows, cols, params, grid, backend, name);
    return params.scaleRule === "unbiased" ? await unbiasScales(w, q) : q;
  },
};
