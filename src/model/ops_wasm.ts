// This module is browser compatible.
/**
 * The WebAssembly SIMD path of the CPU forward's element-wise work, where TypeScript's scalar
 * e^x (even the table-driven `fastExp`) left softmax and SwiGLU a large share of a prefill:
 * e^x on four f32 lanes (after Cephes `expf`, ≤ 2 ulp), SwiGLU in place and blocks of causal
 * softmax rows. WAT in `build_ops_wasm.ts`, bytes in `ops_wasm_bytes.ts`.
 *
 * The kernels work in place on data in a WebAssembly memory (copying through one costs as much
 * as the TypeScript loops it would replace): {@linkcode wasmF32Arrays} allocates arrays there
 * (the model's SwiGLU buffers, which BLAS writes and reads like any Float32Array), and
 * {@linkcode swigluWasm} runs on arrays from it. The attention scores live in a memory of this
 * module ({@linkcode wasmSoftmax}). Everything falls back (returns false or null) when
 * WebAssembly SIMD is missing, when the data is elsewhere, or when the path is switched off
 * with {@linkcode setOpsWasm}; the callers in `ops.ts` then run their TypeScript loops.
 *
 * @module
 */
import { compileBase64Wasm } from "../core/wasm.ts";
import { OPS_WASM_BASE64 } from "./gen/ops_wasm_bytes.ts";

/** Most rows one {@linkcode WasmSoftmax.rows} call handles. */
export const WASM_SOFTMAX_MAX_ROWS = 1024;

/** Byte offset of the scores in the softmax memory (the row reciprocals come first). */
const SCORES_OFF = 8 * WASM_SOFTMAX_MAX_ROWS;

interface Kernels {
  exp_n(x: number, n: number): void;
  silu_mul(g: number, u: number, n: number): void;
  softmax_rows(
    p: number,
    rows: number,
    n: number,
    hi0: number,
    lo0: number,
    lostep: number,
    inv: number,
  ): void;
}

let compiled: WebAssembly.Module | null | undefined;
let enabled = true;
/** Kernels bound to the memory that owns each (never grown) buffer of {@linkcode wasmF32Arrays}. */
const byBuffer = new WeakMap<ArrayBufferLike, Kernels>();
/** The softmax memory (grown on demand), its kernels and views. */
let softmaxMem:
  | { mem: WebAssembly.Memory; k: Kernels; f32: Float32Array; f64: Float64Array }
  | null = null;

function wasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = compileBase64Wasm(OPS_WASM_BASE64);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

function instantiate(mem: WebAssembly.Memory): Kernels | null {
  const m = wasmModule();
  if (m === null) return null;
  try {
    return new WebAssembly.Instance(m, { env: { mem } }).exports as unknown as Kernels;
  } catch {
    return null;
  }
}

/**
 * Whether the WebAssembly SIMD kernels can run here and are enabled (see
 * {@linkcode setOpsWasm}).
 *
 * @example
 * ```ts
 * import { opsWasmAvailable } from "./ops_wasm.ts";
 * if (typeof opsWasmAvailable() !== "boolean") throw new Error();
 * ```
 */
export function opsWasmAvailable(): boolean {
  return enabled && wasmModule() !== null;
}

/**
 * Switches the WebAssembly SIMD path of softmax and SwiGLU on (the default, where available) or
 * off (the TypeScript loops of `ops.ts`), e.g. to compare the two.
 *
 * @example
 * ```ts
 * import { opsWasmAvailable, setOpsWasm } from "./ops_wasm.ts";
 * setOpsWasm(false);
 * if (opsWasmAvailable()) throw new Error("unexpected");
 * setOpsWasm(true);
 * ```
 */
export function setOpsWasm(on: boolean): void {
  enabled = on;
}

/**
 * Zeroed Float32Arrays of the given lengths in one fresh WebAssembly memory (16-byte aligned,
 * never grown, so the views stay valid), on which {@linkcode swigluWasm} runs in place; null when
 * the kernels cannot run here. The memory is allocated even while the path is switched off.
 *
 * @example
 * ```ts
 * import { wasmF32Arrays } from "./ops_wasm.ts";
 * const arrays = wasmF32Arrays([3, 5]);
 * if (arrays && (arrays[0]!.length !== 3 || arrays[1]!.buffer !== arrays[0]!.buffer)) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function wasmF32Arrays(lengths: readonly number[]): Float32Array[] | null {
  if (wasmModule() === null) return null;
  const offsets: number[] = [];
  let bytes = 0;
  for (const n of lengths) {
    offsets.push(bytes);
    bytes += Math.ceil((4 * n) / 16) * 16;
  }
  let mem: WebAssembly.Memory;
  try {
    mem = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
  } catch {
    return null;
  }
  const k = instantiate(mem);
  if (k === null) return null;
  byBuffer.set(mem.buffer, k);
  return lengths.map((n, i) => new Float32Array(mem.buffer, offsets[i], n));
}

/**
 * SwiGLU in place on `[start, end)` with the SIMD kernel: `gate[i] = gate[i] / (1 + e^−gate[i]) ·
 * up[i]` in f32. Runs only when gate and up come from the same {@linkcode wasmF32Arrays} call
 * and the path is on; returns false (leaving gate untouched) otherwise.
 *
 * @example
 * ```ts
 * import { swigluWasm, wasmF32Arrays } from "./ops_wasm.ts";
 * const [g, u] = wasmF32Arrays([2, 2]) ?? [new Float32Array(2), new Float32Array(2)];
 * g!.set([0, 1]);
 * u!.set([5, 2]);
 * if (swigluWasm(g!, u!, 0, 2)) {
 *   if (g![0] !== 0 || Math.abs(g![1]! - 2 / (1 + Math.exp(-1))) > 1e-6) throw new Error();
 * }
 * ```
 */
export function swigluWasm(
  gate: Float32Array,
  up: Float32Array,
  start: number,
  end: number,
): boolean {
  if (!enabled || gate.buffer !== up.buffer) return false;
  const k = byBuffer.get(gate.buffer);
  if (k === undefined) return false;
  if (end > start) k.silu_mul(gate.byteOffset + 4 * start, up.byteOffset + 4 * start, end - start);
  return true;
}

/**
 * The softmax memory with room for `scoreBytes` bytes of scores (grown on demand, so views
 * taken before a call may be detached after it), or null.
 */
function softmaxMemory(scoreBytes: number): typeof softmaxMem {
  if (!enabled) return null;
  if (softmaxMem === null) {
    if (wasmModule() === null) return null;
    try {
      const mem = new WebAssembly.Memory({ initial: 1 });
      const k = instantiate(mem);
      if (k === null) return null;
      softmaxMem = { mem, k, f32: new Float32Array(mem.buffer), f64: new Float64Array(mem.buffer) };
    } catch {
      return null;
    }
  }
  const s = softmaxMem;
  const need = SCORES_OFF + scoreBytes, have = s.mem.buffer.byteLength;
  if (need > have) {
    try {
      s.mem.grow(Math.ceil((need - have) / 65536));
    } catch {
      return null;
    }
  }
  if (s.f32.buffer !== s.mem.buffer) {
    s.f32 = new Float32Array(s.mem.buffer);
    s.f64 = new Float64Array(s.mem.buffer);
  }
  return s;
}

/**
 * `x[i] = e^x[i]` in place with the SIMD code of the kernels (≤ 2 ulp of f32 against the exact
 * value; 0 below −87.33654, where e^x leaves the normal f32 range; inputs above 88 give e^88;
 * NaN stays NaN). For tests and checks: the data is copied through the module's memory. Returns
 * false, leaving x untouched, when the kernels are unavailable or switched off.
 *
 * @example
 * ```ts
 * import { expInPlaceWasm } from "./ops_wasm.ts";
 * const x = new Float32Array([0, 1, -100]);
 * if (expInPlaceWasm(x) && (x[0] !== 1 || Math.abs(x[1]! / Math.E - 1) > 3e-7 || x[2] !== 0)) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function expInPlaceWasm(x: Float32Array): boolean {
  const s = softmaxMemory(4 * x.length);
  if (s === null) return false;
  s.f32.set(x, SCORES_OFF >> 2);
  s.k.exp_n(SCORES_OFF, x.length);
  x.set(s.f32.subarray(SCORES_OFF >> 2, (SCORES_OFF >> 2) + x.length));
  return true;
}

/** A score buffer in the softmax memory and the softmax over its rows. */
export interface WasmSoftmax {
  /** The scores, a view valid until the next {@linkcode wasmSoftmax} or {@linkcode expInPlaceWasm}. */
  readonly scores: Float32Array;
  /** Reciprocal row sums written by {@linkcode WasmSoftmax.rows}, `[maxRows]`. */
  readonly inv: Float64Array;
  /**
   * Softmax numerators of the `[rows, n]` block at the start of `scores`, in place: row r keeps
   * columns `[max(0, lo0 + r·lostep), min(n, hi0 + r))`, which become `e^(x − max)`; every other
   * column becomes exactly 0; `inv[r]` = 1 / Σ numerators.
   */
  rows(rows: number, n: number, hi0: number, lo0: number, lostep: 0 | 1): void;
}

/**
 * A score buffer of at least `length` floats in this module's WebAssembly memory, with the
 * softmax kernel over its rows (at most `maxRows` at a time, ≤ {@linkcode WASM_SOFTMAX_MAX_ROWS});
 * null when the kernels are unavailable or switched off, or the memory cannot grow.
 *
 * @example
 * ```ts
 * import { wasmSoftmax } from "./ops_wasm.ts";
 * const s = wasmSoftmax(4, 2);
 * if (s) {
 *   s.scores.set([1, 5, 2, 2]);
 *   s.rows(2, 2, 1, 0, 0); // causal: row 0 keeps column 0, row 1 both
 *   if (s.scores.join() !== "1,0,1,1" || s.inv[0] !== 1 || s.inv[1] !== 0.5) throw new Error();
 * }
 * ```
 */
export function wasmSoftmax(length: number, maxRows: number): WasmSoftmax | null {
  if (maxRows > WASM_SOFTMAX_MAX_ROWS) return null;
  const s = softmaxMemory(4 * length);
  if (s === null) return null;
  const k = s.k;
  return {
    scores: s.f32.subarray(SCORES_OFF >> 2, (SCORES_OFF >> 2) + length),
    inv: s.f64.subarray(0, maxRows),
    rows(rows: number, n: number, hi0: number, lo0: number, lostep: 0 | 1): void {
      k.softmax_rows(SCORES_OFF, rows, n, hi0, lo0, lostep, 0);
    },
  };
}
