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
import { QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import { randSign } from "../core/prng.ts";
import { parallelFor, poolSize, sharedF32, sharedU32, toShared } from "../cpu/pool.ts";
import type { Backend } from "../gpu/backend.ts";
import { fwhtBlocks } from "../hadamard/fwht.ts";
import { encodeRange } from "../grids/encode.ts";
import { type EncodePlan, encodePlan } from "../grids/encode_plan.ts";
import type { GridPoints } from "../grids/grid.ts";
import { loadGrid } from "../grids/load.ts";
import type { QuantizedTensor } from "./format.ts";
import { packCodes, rowStrideWords } from "./packing.ts";
import { higgsQuantizeGpu } from "./higgs_gpu.ts";
import {
  HIGGS_AUTO_HADAMARD_MAX,
  higgsPaddedCols,
  type HiggsParams,
  resolveHiggsParams,
} from "./higgs_params.ts";
import {
  checkWeight,
  higgsTable,
  higgsTensor,
  packRows,
  roundScale,
  scaleOverflow,
} from "./higgs_tensor.ts";
import { unbiasScales } from "./higgs_unbiased.ts";
import type { Quantizer } from "./quantizer.ts";

/**
 * The specification of HIGGS in plain TypeScript (slow: an O(h²) Hadamard straight from its
 * definition H[i][j] = (−1)^popcount(i & j), and a brute-force nearest-point search in f64).
 * `points` are the n·p grid values (unrounded; the table rounding is applied here).
 *
 * @example
 * ```ts
 * import { higgsQuantizeReference } from "./higgs.ts";
 * import { resolveHiggsParams } from "./higgs_params.ts";
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
 * import { encodePlan } from "../grids/encode_plan.ts";
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

/**
 * Quantizes W [rows, cols] with HIGGS against `grid` (its n·p points, unrounded) on the given
 * backend (default: CPU worker pool). Same codes as {@linkcode higgsQuantizeReference} up to exact
 * ties of the floating-point rotation (the FWHT sums in a different order than the O(h²)
 * definition).
 *
 * @example
 * ```ts
 * import { higgsQuantize } from "./higgs.ts";
 * import { resolveHiggsParams } from "./higgs_params.ts";
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
  layout(rows, cols, opts, name = "tensor") {
    const params = resolveHiggsParams(opts, name, cols);
    return {
      shape: [rows, cols],
      paddedCols: higgsPaddedCols(cols, params),
      p: params.p,
      codeBits: params.codeBits,
      tableDtype: params.tableDtype,
      groupSize: params.groupSize,
      groupAxis: 1,
      scaleStorage: { kind: "float", dtype: params.scaleDtype },
    };
  },
  async quantize(w, rows, cols, opts, backend, name = "tensor") {
    const params = resolveHiggsParams(opts, name, cols);
    checkWeight(w, rows, cols, name);
    const grid = await gridFor(params.p, params.gridSize);
    const q = await higgsQuantize(w, rows, cols, params, grid, backend, name);
    return params.scaleRule === "unbiased" ? await unbiasScales(w, q) : q;
  },
};
