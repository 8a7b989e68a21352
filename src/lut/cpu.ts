// This module is browser compatible.
/**
 * Lookup-table matmul on the CPU, straight from the packed codes of any {@linkcode QuantizedTensor}
 * (p = 1 or 2, 1–16-bit codes, groups along either axis, zeros, Hadamard rotation):
 *
 *     out[b, o] = Σ_i Ŵ[o, i] · x[b, i]      (Ŵ = dequantize(q), never materialized)
 *
 * Plan of one call:
 * 1. Prepare the activations once: pad to `paddedCols` and rotate (`rotate.ts`), in f64; with
 *    zeros along the input axis, also Σx per group (the fold of `cpu_kernels.ts`).
 * 2. 4-bit scalar codes (NF4, RTN/HQQ 4-bit, HIGGS (1,16)) and 8-bit pair codes (HIGGS (2,256))
 *    with groups of a multiple of 64 along the input axis, batch ≤ 4: the WebAssembly SIMD
 *    kernels of `cpu_wasm.ts` on the worker pool, once per activation row.
 * 3. Other small batches (below {@linkcode lutBlasMinBatch}, or any batch without BLAS): the
 *    TypeScript LUT loops of `cpu_kernels.ts` on the pool, contiguous row ranges per worker,
 *    codes read as u32 words and looked up in the (unscaled) table, scales folded per group.
 * 4. Larger batches with a fast dense GEMM (OpenBLAS, else the WebAssembly SIMD one; see
 *    `matmulBackend`): tiles of rows are decoded to f32 on the pool (bit-identical to
 *    `decodeRotated`), then multiplied by `sgemm` — the weight is never materialized whole, and
 *    the O(batch) work runs at GEMM speed.
 *
 * With `numerics: "fast"` ({@linkcode LutNumerics}; default {@linkcode lutNumerics}), 2/3/4-bit
 * p = 1 and 4/8-bit p = 2 codes (groups of 64·k along the input) take the integer kernels
 * instead (`int8_format.ts` for the numerics and their error bound, `cpu_int8.ts` for the
 * WebAssembly, `int8_fallback.ts` for the TypeScript): each activation row is quantized to i8
 * once; one row runs the GEMV kernel, several run the batch kernel (up to `INT8_BATCH_ROWS` per
 * call, each tile of weights decoded once for all of them) with the same results row by row, so
 * prefill and decode agree; the calling thread and the workers share the weight rows. One row reads
 * the codes with their row pairs interleaved (`pair_layout.ts`), 2-bit uniform codes take the
 * bit-plane kernel (`tmac_path.ts`); both permute the codes in place, and every other path restores
 * the checkpoint's layout first.
 *
 * Construct once with {@linkcode prepareLut} (shares the codes with the workers); the
 * {@linkcode LutLinear} layer in `linear.ts` wraps all of this.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { parallelFor, poolSize, toShared, waitFor } from "../cpu/pool.ts";
import { matmulBackend, sgemm } from "../cpu/matmul.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { dequantRows, type LutKernelMeta, lutRows } from "./cpu_kernels.ts";
import { createLutWasm, type LutWasm, lutWasmAvailable, lutWasmRows } from "./cpu_wasm.ts";
import { int8RowsTs } from "./int8_fallback.ts";
import {
  int8CodeBytes,
  int8Format,
  int8Stride,
  type Int8Table,
  int8Table,
  quantizeActivations,
  quantizeActivationsInto,
} from "./int8_format.ts";
import { lutInt8BatchRows, lutInt8Rows, lutInt8Steal } from "./cpu_int8.ts";
import { rotateActivations, rotationSigns } from "./rotate.ts";
import { tmacCovers } from "./tmac_format.ts";
import { tmacMatmul } from "./tmac_path.ts";
import { interleaveOn, isInterleaved, restoreCheckpointLayout } from "./pair_layout.ts";
import { checkLutCall, checkLutSupport } from "./support.ts";

const KERNELS = new URL("./cpu_kernels.ts", import.meta.url).href;
const WASM_KERNELS = new URL("./cpu_wasm.ts", import.meta.url).href;
const INT8_KERNELS = new URL("./cpu_int8.ts", import.meta.url).href;

/** A quantized tensor prepared for the CPU kernels (shared buffers, f64 table, signs). */
export interface LutCpuTensor {
  /** The tensor it was prepared from, on the shared copies of its codes, scales and zeros. */
  readonly q: QuantizedTensor;
  /** Output features. */
  readonly outFeatures: number;
  /** Input features. */
  readonly inFeatures: number;
  /** Kernel metadata (batch filled per call). */
  readonly meta: Readonly<Omit<LutKernelMeta, "batch">>;
  /** Packed codes on a SharedArrayBuffer. */
  readonly codes: Uint32Array;
  /** The table as f64 (exact copy) on a SharedArrayBuffer. */
  readonly table: Float64Array;
  /** Scales on a SharedArrayBuffer. */
  readonly scales: Float32Array;
  /**
   * Zeros on a SharedArrayBuffer, or null: `q.zeros` as it is now (the bit-plane kernel frees
   * them while it holds the tensor repacked with f16 zeros, and restoring brings them back).
   */
  readonly zeros: Float32Array | null;
  /** Random signs of the rotation, or null. */
  readonly signs: Float64Array | null;
  /** The WebAssembly SIMD placement (exact and/or `fast` kernels), or null. */
  readonly wasm: LutWasm | null;
  /** The 7-bit table of the `fast` kernels where one covers the layout (`int8_format.ts`). */
  readonly int8: Int8Table | null;
}

/**
 * Validates `q` for the LUT kernels and prepares it for the CPU (copies codes, scales and zeros
 * to SharedArrayBuffers once, so every call shares them with the workers).
 *
 * @example
 * ```ts
 * import { prepareLut } from "./cpu.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const t = prepareLut({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * });
 * if (t.outFeatures !== 1 || t.inFeatures !== 4) throw new Error();
 * ```
 */
export function prepareLut(q: QuantizedTensor, name = "tensor"): LutCpuTensor {
  checkLutSupport(q, name);
  const [rows, cols] = q.shape;
  const pc = q.paddedCols;
  const table = new Float64Array(new SharedArrayBuffer(q.table.length * 8));
  table.set(q.table);
  const wasm = createLutWasm(
    { rows, pc, p: q.p, bits: q.codeBits, g: q.groupSize, axis: q.groupAxis },
    q.codes,
    q.table,
    q.scales,
    q.zeros ?? null,
  );
  const codes = wasm ? wasm.codes : toShared(q.codes);
  const scales = wasm ? wasm.scales : toShared(q.scales);
  const zeros = wasm ? wasm.zeros : q.zeros ? toShared(q.zeros) : null;
  // The tensor as the kernels hold it: its arrays are the shared copies, so a caller that keeps
  // only this (as LutLinear does) keeps one copy of the codes.
  const prepared: QuantizedTensor = { ...q, codes, scales, ...(zeros ? { zeros } : {}) };
  return {
    q: prepared,
    outFeatures: rows,
    inFeatures: cols,
    meta: {
      rows,
      pc,
      p: q.p,
      bits: q.codeBits,
      g: q.groupSize,
      axis: q.groupAxis,
      stride: rowStrideWords(pc / q.p, q.codeBits),
      cpr: pc / q.p,
      hasZeros: q.zeros !== undefined,
    },
    codes,
    table,
    scales,
    get zeros() {
      return prepared.zeros ?? null;
    },
    signs: rotationSigns(q.rotation, pc),
    wasm,
    int8: int8Format(q.p, q.codeBits, q.groupAxis, q.groupSize) ? int8Table(q.table, q.p) : null,
  };
}

/**
 * The numerics of the CPU LUT kernels: `exact` equals dequantize-then-matmul within 1e-6
 * relative (every experiment's default); `fast` uses 8-bit activations and 7-bit tables with
 * integer dot products where a kernel covers the layout (2/3/4-bit p = 1, 4/8-bit p = 2, groups
 * of a multiple of 64 along the input axis; see `int8_format.ts` for its error bound), and
 * `exact` elsewhere. Every batch row of `fast` equals the batch-1 result (prefill and decode give
 * the same numbers); `path: "blas"` forces the exact tile + sgemm path.
 */
export type LutNumerics = "exact" | "fast";

/** The values of {@linkcode LutNumerics} (the `--kernel` flag's choices). */
export const LUT_NUMERICS: readonly LutNumerics[] = ["exact", "fast"];

let defaultNumerics: LutNumerics = "exact";

/**
 * The kernel numerics that calls without a `numerics` option use (default `exact`).
 *
 * @example
 * ```ts
 * import { lutNumerics } from "./cpu.ts";
 * if (lutNumerics() !== "exact") throw new Error();
 * ```
 */
export function lutNumerics(): LutNumerics {
  return defaultNumerics;
}

/**
 * Sets {@linkcode lutNumerics} (the `--kernel` flag of `ppl` and `generate`).
 *
 * @example
 * ```ts
 * import { setLutNumerics } from "./cpu.ts";
 * setLutNumerics("fast");
 * setLutNumerics("exact");
 * ```
 */
export function setLutNumerics(k: LutNumerics): void {
  if (k !== "exact" && k !== "fast") {
    throw new QuantlabError("bad-argument", `Kernel "${k}" is not valid; use exact or fast`);
  }
  defaultNumerics = k;
}

let blasMinBatch = 2;

/**
 * The smallest batch that takes the tile-decode + BLAS `sgemm` path when OpenBLAS is loaded
 * (default 2: the TypeScript LUT loop costs ~1 ns per weight and row, so decoding a tile once and
 * letting BLAS do the rows wins from the second row on). `Infinity` forces the pure LUT loops.
 *
 * @example
 * ```ts
 * import { lutBlasMinBatch, setLutBlasMinBatch } from "./cpu.ts";
 * const old = lutBlasMinBatch();
 * setLutBlasMinBatch(Infinity);
 * if (lutBlasMinBatch() !== Infinity) throw new Error();
 * setLutBlasMinBatch(old);
 * ```
 */
export function lutBlasMinBatch(): number {
  return blasMinBatch;
}

/**
 * Sets {@linkcode lutBlasMinBatch} (an integer ≥ 1, or Infinity).
 *
 * @example
 * ```ts
 * import { lutBlasMinBatch, setLutBlasMinBatch } from "./cpu.ts";
 * const old = lutBlasMinBatch();
 * setLutBlasMinBatch(8);
 * if (lutBlasMinBatch() !== 8) throw new Error();
 * setLutBlasMinBatch(old);
 * ```
 */
export function setLutBlasMinBatch(n: number): void {
  if (!(n === Infinity || (Number.isInteger(n) && n >= 1))) {
    throw new QuantlabError(
      "bad-argument",
      `BLAS batch threshold ${n} is not valid; use an integer ≥ 1 or Infinity`,
    );
  }
  blasMinBatch = n;
}

/** Which CPU path {@linkcode lutMatmul} takes. */
export type LutCpuPath = "auto" | "lut" | "blas";

/** Options of {@linkcode lutMatmul}. */
export interface LutMatmulOptions {
  /** Output `[batch, outFeatures]`, overwritten (allocated when omitted). */
  out?: Float32Array;
  /** `"lut"` forces the LUT loops, `"blas"` the tile + sgemm path (with OpenBLAS or WASM SIMD). */
  path?: LutCpuPath;
  /** Run on the calling thread only (no worker pool). */
  singleThread?: boolean;
  /** Use the WebAssembly SIMD kernel where the tensor has one (default true). */
  wasm?: boolean;
  /** Numerics (default {@linkcode lutNumerics}). */
  numerics?: LutNumerics;
}

function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8));
}

/** Largest batch that runs the WebAssembly kernel once per activation row (then BLAS tiles). */
const WASM_MAX_BATCH = 4;

/** Elements of work below which a call runs on the calling thread. */
const MIN_WORK_PER_CHUNK = 1 << 18;

/**
 * `out[b, o] = Σ_i Ŵ[o, i] · x[b, i]` for x `[batch, inFeatures]` (see the module doc).
 * Accepts a prepared tensor or a QuantizedTensor (prepared on the fly). Errors: `bad-argument`
 * for a batch below 1, `bad-shape` for wrong lengths, `unsupported` for a format the kernels
 * do not cover (p > 2), each naming the values.
 *
 * @example
 * ```ts
 * import { lutMatmul } from "./cpu.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [2, 4] as [number, number], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3, 3, 3, 3, 3], 2, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32" as const, groupSize: 4, groupAxis: 1 as const,
 *   scales: new Float32Array([1, 0.5]), zeros: new Float32Array([0, 1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const y = await lutMatmul(q, new Float32Array([1, 1, 1, 1]), 1);
 * // row 0: 0+1+2+3 = 6; row 1: 4·(3−1)·0.5 = 4
 * if (y.join() !== "6,4") throw new Error();
 * ```
 */
export async function lutMatmul(
  tensor: LutCpuTensor | QuantizedTensor,
  x: Float32Array,
  batch: number,
  opts: LutMatmulOptions = {},
): Promise<Float32Array> {
  const t = "meta" in tensor ? tensor : prepareLut(tensor);
  checkLutCall(x, batch, t.inFeatures, t.outFeatures, opts.out);
  const { rows, pc, g, axis } = t.meta;
  const meta: LutKernelMeta = { ...t.meta, batch };
  const out = opts.out ?? new Float32Array(batch * rows);
  const path = opts.path ?? "auto";
  // `fast` runs at every batch size, each row as at batch 1 (prefill and decode agree).
  const fast = (opts.numerics ?? defaultNumerics) === "fast" && t.int8 !== null &&
    path !== "blas";
  // The other kernels read the checkpoint's layout (a `fast` kernel may have permuted it).
  if (!fast) restoreCheckpointLayout(t.q);
  const wasmLoop = !fast && t.wasm?.layout.kernel != null && (opts.wasm ?? true) &&
    path !== "blas" && batch <= WASM_MAX_BATCH;
  const useBlas = !fast && !wasmLoop && path !== "lut" && matmulBackend() !== "typescript" &&
    (path === "blas" || batch >= blasMinBatch);

  // Only the pooled TypeScript loops read the activations from the workers.
  const pooledTs = !fast && !wasmLoop && !useBlas;
  const xp = pooledTs ? sharedF64(batch * pc) : new Float64Array(Math.max(1, batch * pc));
  rotateActivations(x, batch, t.inFeatures, pc, t.q.rotation, t.signs, xp);

  if (useBlas) {
    await blasPath(t, meta, xp, out, opts.singleThread ?? false);
    return out;
  }

  if (fast) {
    const rowWork = Math.max(1, Math.ceil(MIN_WORK_PER_CHUNK / pc));
    if (tmacCovers(t.q)) {
      // 2-bit uniform codes: T-MAC's bit-plane lookup on a repacked copy (`tmac_format.ts`).
      const wasm = (opts.wasm ?? true) && lutWasmAvailable();
      const single = opts.singleThread ?? false;
      await tmacMatmul(t.q, xp, batch, out, { wasm, single, minChunk: rowWork, regions: t.wasm });
      return out;
    }
    const useWasm = (opts.wasm ?? true) && t.wasm?.layout.int8 != null;
    if (useWasm) {
      // Up to `batch` activation rows per kernel call: each tile of weights is decoded once. A
      // short batch on interleaved codes (a decode prompt) runs row by row instead of putting the
      // checkpoint's order back for one call (the same results either way).
      const rowByRow = batch === 1 || (isInterleaved(t.q) && batch <= t.wasm!.layout.int8!.batch);
      const step = rowByRow ? 1 : t.wasm!.layout.int8!.batch;
      for (let b0 = 0; b0 < batch; b0 += step) {
        const nb = Math.min(step, batch - b0);
        const single = opts.singleThread || poolSize() === 1 || rows * nb < 2 * rowWork;
        await int8Path(t, t.wasm!, xp, b0, nb, out, single, rowWork, rowByRow);
      }
      return out;
    }
    restoreCheckpointLayout(t.q);
    for (let b = 0; b < batch; b++) {
      const y = batch === 1 ? out : out.subarray(b * rows, (b + 1) * rows);
      const xr = xp.subarray(b * pc, (b + 1) * pc);
      int8RowsTs(t.q, t.int8!, quantizeActivations(xr, 0, pc, g), y, 0, rows);
    }
    return out;
  }

  const work = batch * pc;
  const minChunk = Math.max(1, Math.ceil(MIN_WORK_PER_CHUNK / work));
  const single = opts.singleThread || poolSize() === 1 || rows < 2 * minChunk;
  if (wasmLoop) {
    const rowWork = Math.max(1, Math.ceil(MIN_WORK_PER_CHUNK / pc));
    const one = opts.singleThread || poolSize() === 1 || rows < 2 * rowWork;
    for (let b = 0; b < batch; b++) {
      const y = batch === 1 ? out : out.subarray(b * rows, (b + 1) * rows);
      await wasmPath(t, t.wasm!, xp.subarray(b * pc, (b + 1) * pc), y, one, rowWork);
    }
    return out;
  }

  let xsum: Float64Array | null = null;
  if (t.zeros && axis === 1) {
    const gpr = pc / g;
    xsum = sharedF64(batch * gpr);
    for (let b = 0; b < batch; b++) {
      for (let gi = 0; gi < gpr; gi++) {
        let s = 0;
        const o = b * pc + gi * g;
        for (let c = 0; c < g; c++) s += xp[o + c]!;
        xsum[b * gpr + gi] = s;
      }
    }
  }
  const args = [meta, t.codes, t.table, t.scales, t.zeros, xp, xsum];
  if (single) {
    lutRows(meta, t.codes, t.table, t.scales, t.zeros, xp, xsum, out, 0, rows);
    return out;
  }
  const shared = out.buffer instanceof SharedArrayBuffer
    ? out
    : new Float32Array(new SharedArrayBuffer(out.length * 4));
  await parallelFor(KERNELS, "lutRows", rows, [...args, shared], { minChunk });
  if (shared !== out) out.set(shared);
  return out;
}

// The WebAssembly kernels' x, Σx and output live in the tensor's memory: one call at a time.
const wasmLocks = new WeakMap<LutWasm, Promise<unknown>>();

/** Runs `fn` once the tensor's previous WebAssembly call has finished. */
async function locked(w: LutWasm, fn: () => void | Promise<void>): Promise<void> {
  const run = (wasmLocks.get(w) ?? Promise.resolve()).catch(() => {}).then(fn);
  wasmLocks.set(w, run);
  await run;
}

function wasmPath(
  t: LutCpuTensor,
  w: LutWasm,
  xp: Float64Array,
  out: Float32Array,
  single: boolean,
  minChunk: number,
): Promise<void> {
  return locked(w, async () => {
    const { pc, g, rows } = t.meta;
    w.x.set(xp.subarray(0, pc));
    if (w.zeros) {
      for (let gi = 0; gi < pc / g; gi++) {
        let s = 0;
        for (let c = gi * g; c < (gi + 1) * g; c++) s += xp[c]!;
        w.xsum[gi] = s;
      }
    }
    if (single) lutWasmRows(w.memory, w.layout, 0, rows);
    else await parallelFor(WASM_KERNELS, "lutWasmRows", rows, [w.memory, w.layout], { minChunk });
    out.set(w.out);
  });
}

/**
 * The `fast` kernel on activation rows `[b0, b0 + nb)` of `xp` (nb ≤ the layout's batch):
 * quantize them into the tensor's memory, then the one-row kernel on interleaved row pairs
 * (`oneRow`, nb = 1) or the batch kernel on the checkpoint's order.
 */
function int8Path(
  t: LutCpuTensor,
  w: LutWasm,
  xp: Float64Array,
  b0: number,
  nb: number,
  out: Float32Array,
  single: boolean,
  minChunk: number,
  oneRow: boolean,
): Promise<void> {
  return locked(w, () => {
    const { pc, g, rows } = t.meta;
    const L = w.layout.int8!;
    const v = w.int8!;
    const nblk = pc / 64, gpr = pc / g;
    const s = int8Stride(L.format);
    for (let b = 0; b < nb; b++) {
      quantizeActivationsInto(
        xp,
        (b0 + b) * pc,
        pc,
        g,
        s,
        v.xq.subarray(b * pc, (b + 1) * pc),
        v.dx.subarray(b * nblk, (b + 1) * nblk),
        v.xg.subarray(b * gpr, (b + 1) * gpr),
      );
    }
    const { codes, scales, zeros } = w.layout;
    const base = { codes, scales, zeros, out: w.layout.out };
    // One row reads the row pairs interleaved (one stream of codes); the batch kernel (every call
    // of a long batch, its last row too), the checkpoint's order.
    if (oneRow) interleaveOn(t.q, int8CodeBytes(L.format));
    else restoreCheckpointLayout(t.q);
    if (single) {
      if (oneRow) lutInt8Rows(w.memory, base, L, 0, rows, true);
      else lutInt8BatchRows(w.memory, base, L, nb, 0, 0, rows);
    } else {
      // Work stealing: the workers are woken, this thread starts at once, and whatever chunks
      // a late worker has not taken this thread does; it waits only for chunks in progress.
      let chunkRows = Math.max(2 * Math.ceil(minChunk / (16 * nb)), 2 * Math.ceil(rows / 64));
      if (!oneRow) chunkRows = Math.ceil(chunkRows / L.tile) * L.tile;
      const chunks = Math.ceil(rows / chunkRows);
      // A new call number, so that workers still to start for an earlier call take nothing.
      const ctrl = v.ctrl;
      const gen = (Atomics.load(ctrl, 3) + 1) & 0x7fffff;
      Atomics.store(ctrl, 3, gen);
      Atomics.store(ctrl, 1, 0);
      Atomics.store(ctrl, 2, gen << 8);
      Atomics.store(ctrl, 0, gen << 8);
      const k = oneRow ? 0 : nb;
      const args = [w.memory, base, L, rows, chunkRows, k, gen, oneRow];
      parallelFor(INT8_KERNELS, "lutInt8Steal", poolSize(), args).catch(() => {});
      lutInt8Steal(w.memory, base, L, rows, chunkRows, k, gen, oneRow);
      for (let d = Atomics.load(ctrl, 1); d < chunks; d = Atomics.load(ctrl, 1)) waitFor(ctrl, d);
    }
    out.set(v.out.subarray(0, nb * rows), b0 * rows);
  });
}

/** Floats per decoded tile of the BLAS path (16 MiB of f32). */
const TILE_FLOATS = 1 << 22;
/** Decoded-tile buffers free for reuse (at most 4 kept). */
const freeTiles: Float32Array[] = [];

async function blasPath(
  t: LutCpuTensor,
  meta: LutKernelMeta,
  xp: Float64Array,
  out: Float32Array,
  singleThread: boolean,
): Promise<void> {
  const { rows, pc } = meta;
  const batch = meta.batch;
  const x32 = Float32Array.from(xp.subarray(0, batch * pc));
  const tileRows = Math.max(1, Math.min(rows, Math.floor(TILE_FLOATS / pc)));
  // Tile buffers are reused across calls (a fresh 16 MiB SharedArrayBuffer per call costs its
  // zeroing and page faults every time); concurrent calls each take their own.
  const need = tileRows * pc;
  const i = freeTiles.findIndex((b) => b.length >= need);
  const buf = i >= 0
    ? freeTiles.splice(i, 1)[0]!
    : new Float32Array(new SharedArrayBuffer(need * 4));
  const tile = buf.subarray(0, tileRows * pc);
  try {
    const minChunk = Math.max(1, Math.ceil(MIN_WORK_PER_CHUNK / pc));
    // Decode a tile on the pool, then sgemm on it: sequential phases, so the workers and
    // OpenBLAS's own threads never compete for the cores.
    for (let r0 = 0; r0 < rows; r0 += tileRows) {
      const n = Math.min(tileRows, rows - r0);
      if (singleThread || n < 2 * minChunk) {
        dequantRows(meta, t.codes, t.table, t.scales, t.zeros, tile, r0, 0, n);
      } else {
        const args = [meta, t.codes, t.table, t.scales, t.zeros, tile, r0];
        await parallelFor(KERNELS, "dequantRows", n, args, { minChunk });
      }
      sgemm({
        transB: true,
        M: batch,
        N: n,
        K: pc,
        A: x32,
        B: n * pc === tile.length ? tile : tile.subarray(0, n * pc),
        C: out.subarray(r0),
        ldc: rows,
      });
    }
  } finally {
    if (freeTiles.length < 4) freeTiles.push(buf);
  }
}
