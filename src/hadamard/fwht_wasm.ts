// This module is browser compatible.
/**
 * The WebAssembly SIMD path of the CPU fast Walsh–Hadamard transform, the fast path of
 * `fwhtInPlace` and `hadamard` wherever WebAssembly SIMD runs (the TypeScript kernels of
 * `cpu_kernels.ts` are the fallback).
 *
 * Why WebAssembly: in TypeScript, V8 spends about 0.25–0.3 ns per element per butterfly stage
 * (each typed-array load and store is bounds-checked, and there are no vectors), so a block of
 * 1024 (10 stages) ran at about a quarter of copy bandwidth whatever the radix or pass split.
 * WebAssembly SIMD does two butterflies per instruction with no bounds checks inside the module's
 * memory.
 *
 * The kernels (WAT generated in `build_wasm.ts`, bytes in `fwht_wasm_bytes.ts`) follow the plan
 * of the TypeScript path: a chunk of blocks (≥ 16384 values) is copied into the module's memory
 * and transformed a span (≥ 2048 values) at a time: the first pass (bits 0–3: one in-vector stage
 * and radix-8 across vectors) promotes the span to an f64 scratch with the random signs and the
 * NaN check fused in, radix-8/4/2 passes follow in the L1-resident scratch (blocks above 4096 do
 * their low 12 bits in 4096-value sub-blocks first), and the last pass fuses the scale, the
 * rounding to f32 and the inverse signs; then the chunk is copied back. The arithmetic is in f64
 * (`f64x2`) like the TypeScript kernels, with the same stage order, so the results are
 * bit-for-bit equal to theirs (f32x4 arithmetic would do half the vector operations, but rounds
 * every stage to f32).
 *
 * Each thread (the caller and every pool worker) compiles the module once and instantiates it
 * with its own memory.
 *
 * @module
 */
import { compileBase64Wasm } from "../core/wasm.ts";
import { signTable, WASM_SPAN_LOG } from "./common.ts";
import { FWHT_WASM_BASE64 } from "./gen/fwht_wasm_bytes.ts";

/** Values per span of small blocks (the scratch holds max(n, SPAN) f64). */
const SPAN = 1 << WASM_SPAN_LOG;
/** Values copied into the module's memory per call (max(n, CHUNK)): 64 KiB of f32, in L2. */
const CHUNK = 1 << 14;

type DriverFn = (
  data: number,
  scr: number,
  len: number,
  scale: number,
  sg: number,
  c: number,
  cols: number,
  mode: number,
) => number;

interface State {
  exports: Record<string, unknown>;
  mem: WebAssembly.Memory;
  f32: Float32Array;
  signKey: string;
}

let compiled: WebAssembly.Module | null | undefined;
let state: State | undefined;

function wasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = compileBase64Wasm(FWHT_WASM_BASE64);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Whether the WebAssembly SIMD Hadamard kernels can run here (the module validates and compiles).
 *
 * @example
 * ```ts
 * import { fwhtWasmAvailable } from "./fwht_wasm.ts";
 * if (typeof fwhtWasmAvailable() !== "boolean") throw new Error();
 * if (fwhtWasmAvailable() !== fwhtWasmAvailable()) throw new Error("not stable");
 * ```
 */
export function fwhtWasmAvailable(): boolean {
  return wasmModule() !== null;
}

function getState(): State | null {
  if (state) return state;
  const mod = wasmModule();
  if (!mod) return null;
  try {
    const exports = new WebAssembly.Instance(mod, {}).exports as Record<string, unknown>;
    const mem = exports.mem as WebAssembly.Memory;
    state = { exports, mem, f32: new Float32Array(mem.buffer), signKey: "" };
  } catch {
    compiled = null;
    return null;
  }
  return state;
}

/**
 * Transforms blocks `[start, end)` of a row-major matrix with rows of `cols` columns in place with
 * the WebAssembly kernels (block b is `x[b·n, (b+1)·n)`, n = 2^log, 1 ≤ log ≤ 15; scale and mode
 * as in `fwhtBlocks` of `fwht.ts`). Returns `end` when done, or the first block it did not
 * transform: the start of a span holding a NaN or ±Infinity (that span and later ones are left
 * untouched; the caller finishes with the TypeScript kernels, which name the exact index), or
 * `start` when WebAssembly SIMD is unavailable.
 *
 * @example
 * ```ts
 * import { fwhtBlocksWasm } from "./fwht_wasm.ts";
 * const x = new Float32Array([1, 2, 3, 4]);
 * const done = fwhtBlocksWasm(x, 4, 2, 0.5, 0, 0, 0, 1); // one block of 4, orthonormal
 * if (done === 1 && x.join() !== "5,-1,-2,0") throw new Error();
 * ```
 */
export function fwhtBlocksWasm(
  x: Float32Array,
  cols: number,
  log: number,
  scale: number,
  mode: number,
  seed: number,
  start: number,
  end: number,
): number {
  const st = getState();
  if (!st) return start;
  const n = 1 << log;
  const chunk = Math.max(n, CHUNK);
  // Memory: f64 scratch | f32 chunk | u32 sign masks of columns [0, cols + span), periodic.
  const SCR = 0;
  const DATA = Math.max(n, SPAN) * 8;
  const SIGNS = DATA + chunk * 4;
  const need = SIGNS + (mode === 0 ? 0 : (cols + Math.max(n, SPAN)) * 4);
  const mem = st.mem;
  if (mem.buffer.byteLength < need) {
    try {
      mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
    } catch {
      return start; // out of memory for the sign table of a huge row: the TypeScript path
    }
  }
  if (st.f32.buffer !== mem.buffer) st.f32 = new Float32Array(mem.buffer);
  const f32 = st.f32;
  if (mode !== 0) {
    const key = `${seed}:${cols}:${SIGNS}`;
    if (st.signKey !== key) {
      const sg = signTable(seed, cols);
      const total = cols + Math.max(n, SPAN);
      const masks = new Uint32Array(mem.buffer, SIGNS, total);
      for (let c = 0, j = 0; c < total; c++) {
        masks[c] = sg[j]! < 0 ? 0x80000000 : 0;
        if (++j === cols) j = 0;
      }
      st.signKey = key;
    }
  }
  const fn = st.exports[`fwht${n}`] as DriverFn;
  const at = DATA >> 2;
  const perChunk = chunk / n;
  for (let b = start; b < end; b += perChunk) {
    const xo = b * n;
    const len = Math.min(perChunk, end - b) * n;
    f32.set(x.subarray(xo, xo + len), at);
    const bad = fn(DATA, SCR, len, scale, SIGNS, xo % cols, cols, mode);
    if (bad >= 0) {
      // Spans before the bad one are done; hand the rest to the caller.
      if (bad > 0) x.set(f32.subarray(at, at + bad), xo);
      return b + bad / n;
    }
    x.set(f32.subarray(at, at + len), xo);
  }
  return end;
}
