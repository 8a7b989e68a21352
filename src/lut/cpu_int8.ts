// This module is browser compatible.
/**
 * The WebAssembly side of the `fast` CPU LUT kernels (numerics in `int8_format.ts`, WAT generated
 * by `tools/gen_lut_int8.ts` into `gen/lut_int8.ts`): 8-bit activations times 7-bit tables looked
 * up with `i8x16.swizzle` straight from the packed codes, integer dot products per 64 weights —
 * relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s` where the engine accepts it (detected when
 * the module first compiles), else `i16x8.extmul` + `i32x4.extadd_pairwise`. Both builds give
 * the same integers, so the same results.
 *
 * The regions live in the tensor's shared memory next to the exact kernel's (`cpu_wasm.ts`
 * reserves them); {@linkcode lutInt8Rows} is the worker pool's entry point.
 *
 * @module
 */
import { compileBase64Wasm } from "../core/wasm.ts";
import { LUT_INT8_PLAIN_BASE64, LUT_INT8_RELAXED_BASE64 } from "./gen/lut_int8.ts";
import type { LutInt8Format } from "./int8_format.ts";

/** The instruction set of the `fast` kernels. */
export type LutInt8Isa = "relaxed" | "simd";

/** Byte offsets of the `fast` kernel's regions and its row geometry. */
export interface LutInt8Layout {
  /** Which kernel. */
  format: LutInt8Format;
  /** Which build (the workers compile the same one). */
  isa: LutInt8Isa;
  /** The 7-bit table(s), 32 bytes. */
  tab: number;
  /** De-interleaved i8 activations. */
  xq: number;
  /** f32 scale per 64 activations. */
  dx: number;
  /** f32 sum per group of the rounded activations (Σ dx·q, `int8_format.ts`). */
  xg: number;
  /** i32 counters of {@linkcode lutInt8Steal}: next chunk (`call·256 + chunk`), chunks done,
   * scratch slots taken (`call·256 + slots`), the call's number. */
  ctrl: number;
  /** Bytes per row of codes. */
  bpr: number;
  /** Groups per row. */
  gpr: number;
  /** 64-weight blocks per group. */
  bpg: number;
  /** Table step. */
  delta: number;
  /** Table offset. */
  tmin: number;
  /** Most activation rows per call of the batch kernel (the regions' capacity). */
  batch: number;
  /** Decode scratch: `slots` regions of `tile`·pc bytes, one per thread of a batch call. */
  scratch: number;
  /** Scratch regions (threads that find none left sit the call out). */
  slots: number;
  /** Weight rows decoded per tile of the batch kernel. */
  tile: number;
  /** Output features (the stride between output rows of a batch). */
  rows: number;
}

/** Activation rows per call of the batch kernel (`cpu.ts` splits larger batches). */
export const INT8_BATCH_ROWS = 8;

/** Bytes of decoded weights per tile of the batch kernel (at least 2 rows): stays in L1 with
 * the activation rows it is reused by. */
export const INT8_SCRATCH_BYTES = 8192;

/**
 * The 7-bit table (`Int8Table.t7`, entry c·p + k) in the layout a format's kernel reads: 16 bytes
 * (n4, n2, n3: entry c at byte c), two 16-byte planes, one per coordinate (p2n4), or the 256
 * (coordinate 0, 1) byte pairs (p2n8).
 *
 * @example
 * ```ts
 * import { int8KernelTable } from "./cpu_int8.ts";
 * const t7 = new Uint8Array(32).map((_, i) => i); // 16 pairs: (0, 1), (2, 3), …
 * const k = int8KernelTable("p2n4", t7);
 * if (k[0] !== 0 || k[1] !== 2 || k[16] !== 1 || k.length !== 32) throw new Error();
 * ```
 */
export function int8KernelTable(format: LutInt8Format, t7: Uint8Array): Uint8Array {
  if (format === "p2n8") return t7.slice();
  if (format !== "p2n4") {
    const out = new Uint8Array(16);
    out.set(t7.subarray(0, 16));
    return out;
  }
  const out = new Uint8Array(32);
  for (let c = 0; c < 16; c++) for (let k = 0; k < 2; k++) out[k * 16 + c] = t7[c * 2 + k]!;
  return out;
}

const modules = new Map<LutInt8Isa, WebAssembly.Module | null>();
let preferred: LutInt8Isa | null | undefined;
let forced: LutInt8Isa | undefined;

function compiled(isa: LutInt8Isa): WebAssembly.Module | null {
  if (!modules.has(isa)) {
    modules.set(
      isa,
      compileBase64Wasm(isa === "relaxed" ? LUT_INT8_RELAXED_BASE64 : LUT_INT8_PLAIN_BASE64),
    );
  }
  return modules.get(isa)!;
}

/**
 * The instruction set the `fast` kernels use here: `"relaxed"` when the engine accepts relaxed
 * SIMD, `"simd"` for plain SIMD, null without WebAssembly SIMD (the TypeScript fallback runs).
 *
 * @example
 * ```ts
 * import { lutInt8Isa } from "./cpu_int8.ts";
 * const isa = lutInt8Isa(); // Deno 2.9 on x86-64: "relaxed"
 * if (![null, "relaxed", "simd"].includes(isa)) throw new Error(`unexpected ${isa}`);
 * ```
 */
export function lutInt8Isa(): LutInt8Isa | null {
  if (forced) return compiled(forced) ? forced : null;
  if (preferred === undefined) {
    preferred = compiled("relaxed") ? "relaxed" : compiled("simd") ? "simd" : null;
  }
  return preferred;
}

/**
 * Forces one instruction set for tensors prepared afterwards (tests compare the builds);
 * undefined restores detection.
 *
 * @example
 * ```ts
 * import { lutInt8Isa, setLutInt8Isa } from "./cpu_int8.ts";
 * setLutInt8Isa("simd");
 * const isa = lutInt8Isa();
 * setLutInt8Isa(undefined);
 * if (isa !== null && isa !== "simd") throw new Error();
 * ```
 */
export function setLutInt8Isa(isa: LutInt8Isa | undefined): void {
  forced = isa;
}

type Int8Fn = (...args: number[]) => void;
const instances = new WeakMap<WebAssembly.Memory, Map<LutInt8Isa, WebAssembly.Exports>>();

/**
 * Rows `[start, end)` of the `fast` kernel on a tensor's shared memory: the codes at `codes`,
 * scales, zeros (0 when none) and output at `out` (byte offsets), the rest as in `L`; the
 * activation regions must be filled (the pool's entry point). `interleaved`: the codes' row pairs
 * are interleaved block by block (`pair_layout.ts`; `start` even).
 *
 * @example
 * ```ts
 * import { lutInt8Rows } from "./cpu_int8.ts";
 * if (typeof lutInt8Rows !== "function") throw new Error();
 * ```
 */
export function lutInt8Rows(
  memory: WebAssembly.Memory,
  base: { codes: number; scales: number; zeros: number; out: number },
  L: LutInt8Layout,
  start: number,
  end: number,
  interleaved = false,
): number {
  kernelFn(memory, L, interleaved ? "_il" : "")(
    base.codes,
    L.tab,
    base.scales,
    base.zeros,
    L.xq,
    L.dx,
    L.xg,
    base.out,
    start,
    end,
    L.bpr,
    L.gpr,
    L.bpg,
    L.delta,
    L.tmin,
  );
  return end - start;
}

function kernelFn(memory: WebAssembly.Memory, L: LutInt8Layout, suffix: string): Int8Fn {
  let byIsa = instances.get(memory);
  if (!byIsa) instances.set(memory, byIsa = new Map());
  let exports = byIsa.get(L.isa);
  if (!exports) {
    const mod = compiled(L.isa);
    if (!mod) throw new Error(`The ${L.isa} build of the fast LUT kernels is not available here`);
    exports = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports;
    byIsa.set(L.isa, exports);
  }
  return exports[`${L.format}${suffix}`] as Int8Fn;
}

/**
 * Rows `[start, end)` of the `fast` kernel for `nb` activation rows at once (the regions hold
 * them at their batch strides): tiles of `L.tile` weight rows are decoded once into scratch
 * region `slot` and reused by every activation row. Each output equals the one-row kernel's.
 *
 * @example
 * ```ts
 * import { lutInt8BatchRows } from "./cpu_int8.ts";
 * if (typeof lutInt8BatchRows !== "function") throw new Error();
 * ```
 */
export function lutInt8BatchRows(
  memory: WebAssembly.Memory,
  base: { codes: number; scales: number; zeros: number; out: number },
  L: LutInt8Layout,
  nb: number,
  slot: number,
  start: number,
  end: number,
): number {
  const pc = L.gpr * L.bpg * 64;
  kernelFn(memory, L, "_batch")(
    base.codes,
    L.tab,
    base.scales,
    base.zeros,
    L.xq,
    L.dx,
    L.xg,
    base.out,
    start,
    end,
    L.bpr,
    L.gpr,
    L.bpg,
    L.delta,
    L.tmin,
    nb,
    L.scratch + slot * L.tile * pc,
    L.tile,
    L.rows,
  );
  return end - start;
}

/**
 * Takes the next count of `ctrl[i]` (a word `gen·256 + count`) if the word still belongs to call
 * `gen` and the count is below `max`; else -1 (the work stealing of the `fast` kernels).
 *
 * @example
 * ```ts
 * import { take } from "./cpu_int8.ts";
 * const ctrl = new Int32Array(new SharedArrayBuffer(16));
 * ctrl[0] = 5 << 8; // call 5, nothing taken
 * if (take(ctrl, 0, 5, 2) !== 0 || take(ctrl, 0, 5, 2) !== 1 || take(ctrl, 0, 5, 2) !== -1) {
 *   throw new Error();
 * }
 * if (take(ctrl, 0, 4, 9) !== -1) throw new Error(); // another call's word
 * ```
 */
export function take(ctrl: Int32Array, i: number, gen: number, max: number): number {
  for (;;) {
    const w = Atomics.load(ctrl, i);
    if (w >>> 8 !== gen || (w & 255) >= max) return -1;
    if (Atomics.compareExchange(ctrl, i, w, w + 1) === w) return w & 255;
  }
}

/**
 * Work stealing over chunks of `chunkRows` rows of call `gen`: takes chunk numbers from the shared
 * counter at `L.ctrl` until all `chunks` are taken, runs each (the one-row kernel, or the batch
 * kernel for `nb` > 0 activation rows; the one-row kernel on interleaved row pairs if
 * `interleaved`), counts it done and wakes the waiter. The calling thread
 * and the workers all run this; a worker that starts late finds nothing left, so the call never
 * waits for a thread the OS has not scheduled yet (the range arguments of the pool are ignored).
 * The counters carry the call's number (`ctrl[3]`, set by the caller with the counters): a worker
 * woken for an earlier call that only starts during a later one takes nothing from it — with its
 * old row count, chunk size and batch it would compute the wrong rows, and by taking a scratch slot
 * it could leave the later call's chunks to no one.
 *
 * @example
 * ```ts
 * import { lutInt8Steal } from "./cpu_int8.ts";
 * if (typeof lutInt8Steal !== "function") throw new Error();
 * ```
 */
export function lutInt8Steal(
  memory: WebAssembly.Memory,
  base: { codes: number; scales: number; zeros: number; out: number },
  L: LutInt8Layout,
  rows: number,
  chunkRows: number,
  nb: number,
  gen: number,
  interleaved = false,
  _start = 0,
  _end = 0,
): number {
  const ctrl = new Int32Array(memory.buffer, L.ctrl, 4);
  // The batch kernel needs a scratch region of its own: a thread that finds none sits out.
  const slot = nb > 0 ? take(ctrl, 2, gen, L.slots) : 0;
  if (slot < 0) return 0;
  const chunks = Math.ceil(rows / chunkRows);
  let n = 0;
  for (;;) {
    const c = take(ctrl, 0, gen, chunks);
    if (c < 0) break;
    const s = c * chunkRows, e = Math.min(rows, (c + 1) * chunkRows);
    if (nb > 0) lutInt8BatchRows(memory, base, L, nb, slot, s, e);
    else lutInt8Rows(memory, base, L, s, e, interleaved);
    n++;
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
  return n;
}
