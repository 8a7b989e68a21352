// This module is browser compatible.
/**
 * Widening 16-bit floats (bf16, f16) to f32 in pieces, for layers that keep their weights in the
 * stored 16-bit form and widen only the part a product uses (`half_matmul.ts`).
 *
 * - {@linkcode widenHalf}: the specification, a whole array through `src/core/dtype.ts`.
 * - {@linkcode HalfWidener}: widens a range of a 16-bit array into a reused f32 buffer that lives
 *   in a WebAssembly memory, with the SIMD kernels of `tools/gen_widen_wasm.ts` (bf16: a shift;
 *   f16: a rebiasing multiply, exact for every pattern); where WebAssembly SIMD is missing it
 *   runs TypeScript loops with the same results. A plain TypeScript loop widens ~6× slower than
 *   the kernel on this kind of machine, enough to cost a prefill a tenth of its time.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fromBf16, fromF16 } from "../core/dtype.ts";
import { compileBase64Wasm } from "../core/wasm.ts";
import { WIDEN_WASM_BASE64 } from "./gen/widen_wasm_bytes.ts";

/** The 16-bit float formats a weight may be stored in. */
export type HalfDType = "BF16" | "F16";

/**
 * The f32 values of 16-bit floats `h` stored as `dtype` (exact; a new array).
 *
 * @example
 * ```ts
 * import { widenHalf } from "./widen.ts";
 * if (widenHalf(new Uint16Array([0x3f80]), "BF16")[0] !== 1) throw new Error();
 * if (widenHalf(new Uint16Array([0x3c00]), "F16")[0] !== 1) throw new Error();
 * ```
 */
export function widenHalf(h: Uint16Array, dtype: HalfDType): Float32Array {
  return dtype === "BF16" ? fromBf16(h) : fromF16(h);
}

interface Kernels {
  bf16(src: number, dst: number, n: number): void;
  f16(src: number, dst: number, n: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let wasmEnabled = true;

/**
 * The compiled module of `tools/gen_widen_wasm.ts` (widening and batch-1 GEMV kernels), or null
 * where WebAssembly SIMD is missing or {@linkcode setWidenWasm} switched it off.
 *
 * @example
 * ```ts
 * import { widenWasmModule } from "./widen.ts";
 * if (widenWasmModule() === null) throw new Error("Deno has WebAssembly SIMD");
 * ```
 */
export function widenWasmModule(): WebAssembly.Module | null {
  if (!wasmEnabled) return null;
  if (compiled === undefined) compiled = compileBase64Wasm(WIDEN_WASM_BASE64);
  return compiled;
}

/**
 * Switches the WebAssembly kernels of {@linkcode HalfWidener} on (the default, where available)
 * or off (TypeScript loops), for tests and comparisons; widener made later follow the switch.
 *
 * @example
 * ```ts
 * import { setWidenWasm } from "./widen.ts";
 * setWidenWasm(false);
 * setWidenWasm(true);
 * ```
 */
export function setWidenWasm(on: boolean): void {
  wasmEnabled = on;
}

const PAGE = 65536;

/** Weights each kernel widens once when a widener is made (see {@linkcode warmUp}). */
const WARM_ELEMENTS = 1 << 20;

/**
 * 16-bit values staged in WebAssembly memory per kernel call: 64 KiB, so the staging copy and the
 * kernel's read of it stay in the core's cache (a whole tile's staging, 8 MiB, went through
 * memory twice: half the widening's time).
 */
const STAGE_ELEMENTS = 1 << 15;

/**
 * Touches every page of the fresh buffer and runs both kernels over ~1 Mi elements, so that the
 * page faults (~0.1 ms each on the loaded VM) and the kernels' first runs (V8 starts WebAssembly on
 * its baseline compiler) happen when the widener is made, which a model does while loading.
 */
function warmUp(k: Kernels, f32: Float32Array, stage: number, dstOff: number): void {
  f32.fill(0);
  for (let done = 0; done < WARM_ELEMENTS; done += stage) {
    k.bf16(0, dstOff, stage);
    k.f16(0, dstOff, stage);
  }
}

/**
 * A reusable f32 buffer of `capacity` elements into which ranges of 16-bit arrays are widened.
 * One widener serves one product at a time (the caller uses {@linkcode HalfWidener.widen}'s
 * result before widening again).
 *
 * @example
 * ```ts
 * import { HalfWidener } from "./widen.ts";
 * const w = new HalfWidener(16);
 * const f = w.widen(new Uint16Array([0x3f80, 0x4000, 0xc040]), "BF16", 1, 3);
 * if (f.join() !== "2,-3") throw new Error(f.join());
 * ```
 */
export class HalfWidener {
  /** Most elements one call widens. */
  readonly capacity: number;
  /** True when the WebAssembly kernels run. */
  readonly wasm: boolean;
  readonly #f32: Float32Array;
  readonly #u16: Uint16Array | null;
  readonly #k: Kernels | null;
  readonly #dstOff: number;

  /** A widener for ranges of up to `capacity` elements. */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 2 ** 28) {
      throw new QuantlabError(
        "bad-argument",
        `Widening buffer of ${capacity} elements is not valid; use 1 to 2^28`,
      );
    }
    this.capacity = capacity;
    const padded = Math.ceil(capacity / 8) * 8; // the kernels widen 8 at a time
    const m = widenWasmModule();
    let k: Kernels | null = null;
    let mem: WebAssembly.Memory | null = null;
    if (m !== null) {
      try {
        const bytes = 2 * Math.min(padded, STAGE_ELEMENTS) + 4 * padded;
        mem = new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE) + 1 });
        k = new WebAssembly.Instance(m, { env: { mem } }).exports as unknown as Kernels;
      } catch {
        k = null;
      }
    }
    this.#k = k;
    this.wasm = k !== null;
    const stage = Math.min(padded, STAGE_ELEMENTS);
    this.#dstOff = 2 * stage;
    if (k !== null && mem !== null) {
      this.#u16 = new Uint16Array(mem.buffer, 0, stage);
      this.#f32 = new Float32Array(mem.buffer, this.#dstOff, padded);
      warmUp(k, this.#f32, stage, this.#dstOff);
    } else {
      this.#u16 = null;
      this.#f32 = new Float32Array(padded);
    }
  }

  /**
   * The f32 values of `src[start, end)` (read as `dtype`), in this widener's buffer: valid until
   * the next call. Exact, equal to {@linkcode widenHalf} of the same range.
   */
  widen(src: Uint16Array, dtype: HalfDType, start: number, end: number): Float32Array {
    const n = end - start;
    if (!(Number.isInteger(start) && start >= 0 && end <= src.length && n >= 0)) {
      throw new QuantlabError(
        "bad-argument",
        `Range [${start}, ${end}) is not inside an array of ${src.length} elements`,
      );
    }
    if (n > this.capacity) {
      throw new QuantlabError(
        "bad-argument",
        `Range of ${n} elements exceeds the widening buffer's ${this.capacity}`,
      );
    }
    const out = this.#f32.subarray(0, n);
    const k = this.#k;
    if (k !== null) {
      const stage = this.#u16!;
      const run = dtype === "BF16" ? k.bf16 : k.f16;
      for (let done = 0; done < n; done += stage.length) {
        const m = Math.min(stage.length, n - done);
        stage.set(src.subarray(start + done, start + done + m));
        // Padding lanes (last chunk) widen whatever they hold, past `n`: unused.
        run(0, this.#dstOff + 4 * done, Math.ceil(m / 8) * 8);
      }
    } else if (dtype === "BF16") {
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = src[start + i]! << 16;
    } else {
      out.set(fromF16(src.subarray(start, end)));
    }
    return out;
  }
}
