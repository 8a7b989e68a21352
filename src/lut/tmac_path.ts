// This module is browser compatible.
/**
 * The `fast` path of `lutMatmul` for 2-bit codes on a uniform table (RTN, HQQ 2-bit): per
 * activation row, the tables of `tmac_format.ts`, then the bit-plane kernel of `cpu_tmac.ts` on
 * the tensor's repacked copy (made on the first `fast` call, on the pool when the matrix is large),
 * or the TypeScript spec where WebAssembly SIMD is missing. Both give the same numbers.
 *
 * Repacked in place, a tensor's `q.codes`, `q.scales` and `q.zeros` hold the bit-plane layout
 * between `fast` calls; {@linkcode tmacRestore} brings the checkpoint's layout back (every other
 * reader calls it first), so calls with different numerics on one tensor must not overlap in time
 * (a model's forward awaits each layer in turn).
 *
 * @module
 */
import { parallelFor, poolSize, waitFor } from "../cpu/pool.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { lutInt8Isa } from "./cpu_int8.ts";
import {
  createTmac,
  type LutTmac,
  lutTmacRows,
  lutTmacSteal,
  lutTmacTables,
  tmacFitsInPlace,
  tmacInPlace,
  tmacRepackInPlace,
  tmacUnpackInPlace,
} from "./cpu_tmac.ts";
import type { LutWasm } from "./cpu_wasm.ts";
import { TMAC_TILE_ROWS, tmacRowsTs, tmacSteps, tmacTables } from "./tmac_format.ts";

const KERNELS = new URL("./cpu_tmac.ts", import.meta.url).href;

/** A tensor's repacked form, and whether its own regions hold it now (in place). */
interface State {
  tmac: LutTmac | null;
  wasm: LutWasm | null;
  repacked: boolean;
}

/** By the prepared tensor's `q` (its arrays are the regions of `wasm`). */
const states = new WeakMap<QuantizedTensor, State>();
const locks = new WeakMap<QuantizedTensor, Promise<unknown>>();

/**
 * The tensor's repacked form, made on first use when `wasm` is true and the engine has WebAssembly
 * SIMD (in place in the tensor's regions `w` where its rows fill whole tiles, else a copy); null
 * otherwise (the TypeScript spec runs).
 */
export function tmacOf(q: QuantizedTensor, w: LutWasm | null, wasm: boolean): LutTmac | null {
  if (!wasm) return null;
  let st = states.get(q);
  if (!st) {
    const isa = lutInt8Isa();
    const inPlace = isa !== null && w !== null && tmacFitsInPlace(q, w);
    const tmac = !isa ? null : inPlace ? tmacInPlace(q, w!, isa) : createTmac(q, isa);
    st = { tmac, wasm: inPlace ? w : null, repacked: !inPlace };
    states.set(q, st);
  }
  if (st.wasm && !st.repacked) {
    tmacRepackInPlace(q, st.wasm);
    st.repacked = true;
  }
  return st.tmac;
}

/**
 * Puts the checkpoint's layout back in a tensor's regions if the bit-plane kernel repacked them
 * in place (before anything else reads `q.codes`, `q.scales` or `q.zeros`: the `exact` kernels,
 * dequantization, the GPU upload). Cheap when there is nothing to do.
 *
 * @example
 * ```ts
 * import { tmacRestore } from "./tmac_path.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 2, codes: packCodes(new Array(64).fill(1), 1, 64, 2),
 *   table: new Float32Array([0, 1, 2, 3]), tableDtype: "F32" as const, groupSize: 64,
 *   groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * tmacRestore(q); // never repacked: nothing to do
 * ```
 */
export function tmacRestore(q: QuantizedTensor): void {
  const st = states.get(q);
  if (st?.wasm && st.repacked) {
    tmacUnpackInPlace(q, st.wasm);
    st.repacked = false;
  }
}

/**
 * `out[b·rows + r]` for activation rows b < `batch` of `xp` (rotated, padded, f64), each as at
 * batch 1. `minChunk`: rows of work below which a chunk is not worth a worker; `regions`: the
 * tensor's own WebAssembly regions (`q`'s arrays live there), repacked in place when they fit.
 *
 * @example
 * ```ts
 * import { tmacMatmul } from "./tmac_path.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [2, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 2, codes: packCodes(new Array(128).fill(3), 2, 64, 2),
 *   table: new Float32Array([0, 1, 2, 3]), tableDtype: "F32" as const, groupSize: 64,
 *   groupAxis: 1 as const, scales: new Float32Array([0.5, 1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const out = new Float32Array(2);
 * await tmacMatmul(q, new Float64Array(64).fill(1), 1, out, { wasm: true, single: true });
 * if (out.join() !== "96,192") throw new Error(out.join()); // 64 · 3 · s
 * ```
 */
export async function tmacMatmul(
  q: QuantizedTensor,
  xp: Float64Array,
  batch: number,
  out: Float32Array,
  opts: { wasm: boolean; single: boolean; minChunk?: number; regions?: LutWasm | null },
): Promise<void> {
  const [rows] = q.shape;
  const pc = q.paddedCols, g = q.groupSize;
  const delta = q.table[1]! - q.table[0]!;
  const w = tmacOf(q, opts.regions ?? null, opts.wasm);
  if (!w) {
    tmacRestore(q); // the spec reads the checkpoint's layout
    for (let b = 0; b < batch; b++) {
      const tab = tmacTables(xp, b * pc, pc, g, delta);
      tmacRowsTs(q, tab, out.subarray(b * rows, (b + 1) * rows), 0, rows);
    }
    return;
  }
  const run = (locks.get(q) ?? Promise.resolve()).catch(() => {}).then(() => {
    const L = w.layout;
    const minChunk = opts.minChunk ?? 1;
    const single = opts.single || poolSize() === 1 || rows < 2 * minChunk;
    const chunkRows = Math.max(2 * Math.ceil(minChunk / 16), 2 * Math.ceil(rows / 64));
    const chunkTiles = Math.ceil(chunkRows / TMAC_TILE_ROWS);
    for (let b = 0; b < batch; b++) {
      // The tables in WebAssembly from f32(x) (as tmacTables), then the steps and group sums.
      w.x.set(xp.subarray(b * pc, (b + 1) * pc));
      lutTmacTables(w.memory, L);
      w.tables.stb.set(w.mx);
      tmacSteps(w.tables.stb, xp, b * pc, g, delta, w.tables.xg);
      if (single) lutTmacRows(w.memory, L, 0, L.tiles);
      else {
        const ctrl = w.ctrl, chunks = Math.ceil(L.tiles / chunkTiles);
        const gen = (Atomics.load(ctrl, 3) + 1) & 0x7fffff;
        Atomics.store(ctrl, 3, gen);
        Atomics.store(ctrl, 1, 0);
        Atomics.store(ctrl, 0, gen << 8);
        const args = [w.memory, L, chunkTiles, gen];
        parallelFor(KERNELS, "lutTmacSteal", poolSize(), args).catch(() => {});
        lutTmacSteal(w.memory, L, chunkTiles, gen);
        for (let d = Atomics.load(ctrl, 1); d < chunks; d = Atomics.load(ctrl, 1)) waitFor(ctrl, d);
      }
      out.set(w.out.subarray(0, rows), b * rows);
    }
  });
  locks.set(q, run);
  await run;
}
