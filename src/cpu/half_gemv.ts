// This module is browser compatible.
/**
 * Batch-1 `nn.Linear` products on 16-bit weights (bf16, f16) without widening them first: the
 * WebAssembly SIMD kernels `gemv_bf16` / `gemv_f16` of `tools/gen_widen_wasm.ts` read the 16-bit
 * weights and widen each in a register. A decode step is bound by the bytes of weight it reads,
 * and this reads 2 per weight where the f32 path's `sgemv` reads 4 and the widen-then-`sgemv`
 * path reads 2, writes 4 and reads them again.
 *
 * WebAssembly reads only its own memory, so rows are copied a chunk at a time (~64 Ki weights,
 * 128 KiB: stays in the core's L2 cache while the kernel reads it) into a staging area of the
 * kernel's memory; from memory the weight is read once, by that copy.
 *
 * Each output is a sum of its `inF` products in the kernel's fixed order (see the generator), so
 * it equals the widen-then-GEMM specification within the summation-order bound (twice γ_K·Σ|x_i
 * ·w_i|), not to the bit; `test/cpu/half_gemv_test.ts` checks it on odd shapes.
 *
 * {@linkcode gemvHalfParallel} splits the rows over the worker pool when the weight lives on a
 * SharedArrayBuffer (the loader puts kept 16-bit matrices there): one core's copy reads memory at
 * well under the machine's bandwidth, and the f32 path's `sgemv` uses every core. The split does
 * not change any output (each row is one kernel call's sum, in the same order).
 *
 * @module
 */
import { parallelFor, poolSize, sharedF32 } from "./pool.ts";
import { type HalfDType, widenWasmModule } from "./widen.ts";

interface GemvKernels {
  gemv_bf16(w: number, x: number, y: number, rows: number, k: number): void;
  gemv_f16(w: number, x: number, y: number, rows: number, k: number): void;
}

/** Weights per staged chunk: 128 KiB of 16-bit values, well inside a core's L2 cache. */
const CHUNK_WEIGHTS = 1 << 16;

const PAGE = 65536;

/** A kernel instance with memory for rows of up to `k` (padded) weights. */
class GemvWorkspace {
  readonly k: number;
  readonly chunkRows: number;
  readonly kernels: GemvKernels;
  /** x with each block of 8 stored as its even, then its odd elements; zero-padded to `k`. */
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly stage: Uint16Array;
  readonly xOff = 0;
  readonly yOff: number;
  readonly stageOff: number;

  constructor(module: WebAssembly.Module, k: number) {
    this.k = k;
    this.chunkRows = Math.max(4, Math.floor(CHUNK_WEIGHTS / k / 4) * 4);
    this.yOff = 4 * k;
    this.stageOff = this.yOff + 4 * this.chunkRows;
    const bytes = this.stageOff + 2 * this.chunkRows * k;
    const mem = new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE) });
    this.kernels = new WebAssembly.Instance(module, { env: { mem } })
      .exports as unknown as GemvKernels;
    this.x = new Float32Array(mem.buffer, this.xOff, k);
    this.y = new Float32Array(mem.buffer, this.yOff, this.chunkRows);
    this.stage = new Uint16Array(mem.buffer, this.stageOff, this.chunkRows * k);
  }
}

let workspace: GemvWorkspace | null = null;

/** The workspace for rows of `k` padded weights, or null without the WebAssembly kernels. */
function workspaceFor(k: number): GemvWorkspace | null {
  const module = widenWasmModule();
  if (module === null) return null;
  if (workspace === null || workspace.k !== k) workspace = new GemvWorkspace(module, k);
  return workspace;
}

/**
 * `y[o] = Σ_i x[i] · widen(w[o·inF + i])` for the 16-bit weight `w` `[outF, inF]` (bit patterns
 * of `dtype`), into `y` (length `outF`, overwritten). False (nothing written) where the
 * WebAssembly kernels are unavailable; the caller then widens and uses a GEMM. Sizes are the
 * caller's to check (`matmulHalf`).
 *
 * @example
 * ```ts
 * import { gemvHalf } from "./half_gemv.ts";
 * const w = new Uint16Array([0x3f80, 0x0000, 0x4000, 0x3f80]); // bf16 [[1, 0], [2, 1]]
 * const y = new Float32Array(2);
 * if (gemvHalf(new Float32Array([3, 4]), w, "BF16", 2, 2, y) && y.join() !== "3,10") {
 *   throw new Error(y.join());
 * }
 * ```
 */
export function gemvHalf(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  inF: number,
  outF: number,
  y: Float32Array,
): boolean {
  const k = Math.ceil(inF / 8) * 8;
  const ws = workspaceFor(k);
  if (ws === null) return false;
  // x in the kernel's order: per block of 8, the 4 even elements, then the 4 odd ones.
  const xs = ws.x;
  xs.fill(0);
  for (let i = 0; i < inF; i++) xs[(i & ~7) | ((i & 1) << 2) | ((i & 7) >> 1)] = x[i]!;
  const run = dtype === "BF16" ? ws.kernels.gemv_bf16 : ws.kernels.gemv_f16;
  const stage = ws.stage;
  if (k !== inF) stage.fill(0); // the padding lanes multiply x's zeros: +0, never NaN
  for (let r0 = 0; r0 < outF; r0 += ws.chunkRows) {
    const n = Math.min(ws.chunkRows, outF - r0);
    if (k === inF) stage.set(w.subarray(r0 * inF, (r0 + n) * inF));
    else {
      for (let r = 0; r < n; r++) {
        stage.set(w.subarray((r0 + r) * inF, (r0 + r + 1) * inF), r * k);
      }
    }
    run(ws.stageOff, ws.xOff, ws.yOff, n, k);
    y.set(ws.y.subarray(0, n), r0);
  }
  return true;
}

/**
 * {@linkcode gemvHalf} on rows `[start, end)` of `w` into `y` (the pool's kernel: `y` shared, each
 * worker with its own WebAssembly instance). False where the kernels are unavailable.
 *
 * @example
 * ```ts
 * import { gemvHalfRows } from "./half_gemv.ts";
 * const w = new Uint16Array([0x3f80, 0x0000, 0x4000, 0x3f80]); // bf16 [[1, 0], [2, 1]]
 * const y = new Float32Array(2);
 * if (gemvHalfRows(new Float32Array([3, 4]), w, "BF16", 2, y, 1, 2) && y[1] !== 10) {
 *   throw new Error(y.join());
 * }
 * ```
 */
export function gemvHalfRows(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  inF: number,
  y: Float32Array,
  start: number,
  end: number,
): boolean {
  const rows = w.subarray(start * inF, end * inF);
  return gemvHalf(x, rows, dtype, inF, end - start, y.subarray(start, end));
}

/**
 * Weights below which one thread runs the product: on the loaded 2-core VM a pool round trip
 * cost the 1B shape's projections (4–16 Mi weights) 2–3× the CPU time of one thread and more
 * wall time, while its LM head (256 Mi) ran at ~2.5× the one-thread speed for the same CPU time
 * (`bench/half_matmul_bench.ts`, under load); so only LM-head-sized products go to the pool.
 */
export const PARALLEL_MIN_WEIGHTS = 1 << 26;

/** The shared output block of the pooled product, kept across calls. */
let sharedOut: Float32Array | null = null;

/**
 * {@linkcode gemvHalf} with the rows split over the worker pool, or null when that does not apply
 * (one worker, a weight not on a SharedArrayBuffer, fewer than `minWeights` weights, no
 * WebAssembly kernels): the caller then runs {@linkcode gemvHalf} itself. Resolves to `y`.
 *
 * @example
 * ```ts
 * import { gemvHalfParallel } from "./half_gemv.ts";
 * // A small weight on an ordinary ArrayBuffer: not for the pool.
 * if (gemvHalfParallel(new Float32Array(2), new Uint16Array(4), "BF16", 2, 2, new Float32Array(2)) !== null) {
 *   throw new Error();
 * }
 * ```
 */
export function gemvHalfParallel(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  inF: number,
  outF: number,
  y: Float32Array,
  minWeights: number = PARALLEL_MIN_WEIGHTS,
): Promise<Float32Array> | null {
  if (
    poolSize() < 2 || !(w.buffer instanceof SharedArrayBuffer) || outF * inF < minWeights ||
    widenWasmModule() === null
  ) {
    return null;
  }
  // The kept block, unless a product still in flight holds it.
  if (sharedBusy || sharedOut === null || sharedOut.length < outF) {
    const fresh = sharedF32(outF);
    if (!sharedBusy) sharedOut = fresh;
    return pooled(x, w, dtype, inF, outF, y, fresh, fresh === sharedOut);
  }
  return pooled(x, w, dtype, inF, outF, y, sharedOut, true);
}

let sharedBusy = false;

async function pooled(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  inF: number,
  outF: number,
  y: Float32Array,
  out: Float32Array,
  kept: boolean,
): Promise<Float32Array> {
  if (kept) sharedBusy = true;
  try {
    const minChunk = Math.max(4, Math.ceil(CHUNK_WEIGHTS / inF));
    const args = [x, w, dtype, inF, out];
    const done = await parallelFor(GEMV_URL, "gemvHalfRows", outF, args, { minChunk });
    if (done.some((d) => d !== true)) gemvHalf(x, w, dtype, inF, outF, out); // no kernels there
    y.set(out.subarray(0, outF));
    return y;
  } finally {
    if (kept) sharedBusy = false;
  }
}

const GEMV_URL = new URL("./half_gemv.ts", import.meta.url).href;
