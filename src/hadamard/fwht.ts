// This module is browser compatible.
/**
 * The fast Walsh–Hadamard transform on the CPU: in place, blockwise along the last axis of a
 * row-major [rows, cols] f32 matrix, orthonormal or unnormalized, forward or inverse, optionally
 * randomized (H·D with seeded signs). See `common.ts` for the exact definition.
 *
 * Two kernel sets with one plan (radix-8/4/2 butterflies over an f64 scratch block, L1-sized
 * sub-blocks for n > 4096, random signs, scale and the NaN check fused into the load and store
 * passes), bit-for-bit equal results: WebAssembly SIMD (`fwht_wasm.ts`, `build_wasm.ts`), used
 * wherever WebAssembly SIMD runs because TypeScript pays V8's per-element cost on every stage, and
 * the TypeScript kernels (`cpu_kernels.ts` / `gen_cpu_kernels.ts`) as the fallback.
 *
 * {@linkcode fwhtInPlace} runs on the calling thread; {@linkcode hadamard} splits the blocks over
 * the worker pool and zero-pads columns when needed.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { parallelFor, poolSize, toShared } from "../cpu/pool.ts";
import {
  type HadamardOptions,
  type HadamardPlan,
  type HadamardResult,
  nonFiniteError,
  padColumns,
  planHadamard,
  signTable,
  SUB_LOG,
} from "./common.ts";
import { SPANS } from "./gen/cpu_kernels.ts";
import { fwhtBlocksWasm, fwhtWasmAvailable } from "./fwht_wasm.ts";

const SPAN = 1 << SUB_LOG;
/** Fewest elements per worker chunk: below this the messaging costs more than the work. */
const MIN_CHUNK_ELEMENTS = 1 << 16;
const NO_SIGNS = new Float64Array(0);
let scratch = new Float64Array(SPAN);
let wasmEnabled = true;

/**
 * Turns the WebAssembly SIMD kernels of {@linkcode fwhtInPlace} and {@linkcode hadamard} on
 * (the default, where available) or off (the TypeScript kernels; for comparisons and tests).
 *
 * @example
 * ```ts
 * import { hadamardWasmActive, setHadamardWasm } from "./fwht.ts";
 * setHadamardWasm(false);
 * if (hadamardWasmActive()) throw new Error("still on");
 * setHadamardWasm(true);
 * ```
 */
export function setHadamardWasm(on: boolean): void {
  wasmEnabled = on;
}

/**
 * Whether {@linkcode fwhtInPlace} and {@linkcode hadamard} run the WebAssembly SIMD kernels: they
 * are available here and not turned off with {@linkcode setHadamardWasm}.
 *
 * @example
 * ```ts
 * import { hadamardWasmActive } from "./fwht.ts";
 * import { fwhtWasmAvailable } from "./fwht_wasm.ts";
 * if (hadamardWasmActive() && !fwhtWasmAvailable()) throw new Error("active without the module");
 * ```
 */
export function hadamardWasmActive(): boolean {
  return wasmEnabled && fwhtWasmAvailable();
}

/**
 * Transforms blocks `[start, end)` of a row-major matrix with rows of `cols` columns, in place,
 * where block b is `x[b·n, (b+1)·n)` with n = 2^log. The pool's chunk function (exported for the
 * workers); use {@linkcode fwhtInPlace} or {@linkcode hadamard}. Runs the WebAssembly SIMD
 * kernels where available, else {@linkcode fwhtBlocksTs}. Returns the index of the first
 * non-finite input (processing stops there, leaving that block and later ones untouched) or −1.
 *
 * @example
 * ```ts
 * import { fwhtBlocks } from "./fwht.ts";
 * const x = new Float32Array([1, 1, 1, -1]);
 * fwhtBlocks(x, 4, 1, 1, 0, 0, 0, 2); // two blocks of 2, unnormalized, no signs
 * if (x.join() !== "2,0,0,2") throw new Error();
 * ```
 */
export function fwhtBlocks(
  x: Float32Array,
  cols: number,
  log: number,
  scale: number,
  mode: number,
  seed: number,
  start: number,
  end: number,
): number {
  if (!SPANS[log]) {
    throw new QuantlabError("bad-argument", `Hadamard size 2^${log} is not supported`);
  }
  // The WebAssembly path stops before a span holding a non-finite value (or does nothing where it
  // is unavailable); the TypeScript kernels finish from there and name the exact index.
  const done = fwhtBlocksWasm(x, cols, log, scale, mode, seed, start, end);
  return done < end ? fwhtBlocksTs(x, cols, log, scale, mode, seed, done, end) : -1;
}

/**
 * {@linkcode fwhtBlocks} with the TypeScript kernels only (the fallback, and the pool's chunk
 * function when the WebAssembly kernels are turned off).
 *
 * @example
 * ```ts
 * import { fwhtBlocksTs } from "./fwht.ts";
 * const x = new Float32Array([1, 1, 1, -1]);
 * fwhtBlocksTs(x, 4, 1, 1, 0, 0, 0, 2);
 * if (x.join() !== "2,0,0,2") throw new Error();
 * ```
 */
export function fwhtBlocksTs(
  x: Float32Array,
  cols: number,
  log: number,
  scale: number,
  mode: number,
  seed: number,
  start: number,
  end: number,
): number {
  const n = 1 << log;
  const fn = SPANS[log];
  if (!fn) throw new QuantlabError("bad-argument", `Hadamard size 2^${log} is not supported`);
  const perSpan = n >= SPAN ? 1 : SPAN / n;
  if (scratch.length < n) scratch = new Float64Array(n);
  const t = scratch;
  const sg = mode === 0 ? NO_SIGNS : signTable(seed, cols);
  for (let b = start; b < end; b += perSpan) {
    const xo = b * n;
    const len = Math.min(perSpan, end - b) * n;
    const bad = fn(x, xo, t, len, scale, mode, sg, xo % cols, cols);
    if (bad >= 0) return bad;
  }
  return -1;
}

function throwNonFinite(p: HadamardPlan, x: Float32Array, bad: number): never {
  // `bad` indexes the (padded) work array; report it in the caller's layout.
  const row = Math.floor(bad / p.cols);
  const col = bad - row * p.cols;
  const index = row * p.originalCols + col;
  throw nonFiniteError(x[index]!, index, p.originalCols);
}

/**
 * Transforms `x` (row-major [rows, cols], cols a multiple of the block size) in place on the
 * calling thread and returns it. Throws a `bad-shape` error when cols is not a multiple of the
 * block size (use {@linkcode hadamard} to zero-pad) and a `bad-value` error naming the first NaN or
 * ±Infinity (x is then left partly transformed).
 *
 * @example Orthonormal transform of one block of 4, and its inverse
 * ```ts
 * import { fwhtInPlace } from "./fwht.ts";
 * const x = new Float32Array([1, 2, 3, 4]);
 * fwhtInPlace(x, 1, 4, { blockSize: 4 });
 * if (x.join() !== "5,-1,-2,0") throw new Error();
 * fwhtInPlace(x, 1, 4, { blockSize: 4, inverse: true });
 * if (x.join() !== "1,2,3,4") throw new Error();
 * ```
 *
 * @example Randomized (H·D with seeded signs), unnormalized as in HF HIGGS
 * ```ts
 * import { fwhtInPlace } from "./fwht.ts";
 * const x = new Float32Array(1024).fill(1);
 * fwhtInPlace(x, 2, 512, { blockSize: 512, seed: 42, normalization: "unnormalized" });
 * fwhtInPlace(x, 2, 512, { blockSize: 512, seed: 42, normalization: "unnormalized", inverse: true });
 * if (x.some((v) => Math.abs(v - 1) > 1e-6)) throw new Error();
 * ```
 */
export function fwhtInPlace(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: HadamardOptions,
): Float32Array {
  const p = planHadamard(rows, cols, opts, x?.length);
  if (p.padded) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard size ${p.n} does not divide ${cols} columns; an in-place transform needs whole ` +
        `blocks: use hadamard() or padColumns() to zero-pad to ${p.cols} columns`,
    );
  }
  const blocks = (rows * p.cols) / p.n;
  const bad = (wasmEnabled ? fwhtBlocks : fwhtBlocksTs)(
    x,
    p.cols,
    p.log,
    p.scale,
    p.mode,
    p.seed,
    0,
    blocks,
  );
  if (bad >= 0) throwNonFinite(p, x, bad);
  return x;
}

/**
 * Transforms a row-major [rows, cols] matrix on all cores (the worker pool). When cols is a
 * multiple of the block size, `x` itself is transformed in place and returned as `data` (pass a
 * SharedArrayBuffer-backed array, e.g. from `sharedF32`, to save two copies); otherwise the rows
 * are zero-padded into a new shared array (or, with `strict`, a `bad-shape` error is thrown).
 * Throws a `bad-value` error naming the first NaN or ±Infinity.
 *
 * @example
 * ```ts
 * import { hadamard } from "./fwht.ts";
 * const r = await hadamard(new Float32Array([1, 2, 3]), 1, 3, { blockSize: 4 });
 * if (!r.padded || r.cols !== 4 || r.data.join() !== "3,1,0,-2") throw new Error();
 * ```
 */
export async function hadamard(
  x: Float32Array,
  rows: number,
  cols: number,
  opts: HadamardOptions,
): Promise<HadamardResult> {
  const p = planHadamard(rows, cols, opts, x?.length);
  const blocks = (rows * p.cols) / p.n;
  const minChunk = Math.max(1, Math.ceil(MIN_CHUNK_ELEMENTS / p.n));
  const pooled = poolSize() > 1 && blocks >= 2 * minChunk;
  let work = p.padded ? padColumns(x, rows, cols, p.cols, pooled) : x;
  if (pooled && !(work.buffer instanceof SharedArrayBuffer)) work = toShared(work);
  const results = await parallelFor(
    import.meta.url,
    wasmEnabled ? "fwhtBlocks" : "fwhtBlocksTs",
    blocks,
    [work, p.cols, p.log, p.scale, p.mode, p.seed],
    { minChunk },
  );
  const bad = (results as number[]).find((r) => r >= 0);
  if (bad !== undefined) throwNonFinite(p, x, bad);
  if (!p.padded && work !== x) x.set(work);
  return { data: p.padded ? work : x, rows, cols: p.cols, originalCols: cols, padded: p.padded };
}
