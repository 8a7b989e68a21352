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
  /** f32 Σx per group. */
  xg: number;
  /** i32 counters of {@linkcode lutInt8Steal}: next chunk, chunks done. */
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
const instances = new WeakMap<WebAssembly.Memory, Map<string, Int8Fn>>();

/**
 * Rows `[start, end)` of the `fast` kernel on a tensor's shared memory: the codes at `codes`,
 * scales, zeros (0 when none) and output at `out` (byte offsets), the rest as in `L`; the
 * activation regions must be filled (the pool's entry point).
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
): number {
  let fns = instances.get(memory);
  if (!fns) instances.set(memory, fns = new Map());
  const key = `${L.isa}:${L.format}`;
  let fn = fns.get(key);
  if (!fn) {
    const mod = compiled(L.isa);
    if (!mod) throw new Error(`The ${L.isa} build of the fast LUT kernels is not available here`);
    const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
    fn = inst.exports[L.format] as Int8Fn;
    fns.set(key, fn);
  }
  fn(
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

/**
 * Work stealing over chunks of `chunkRows` rows: takes chunk numbers from the shared counter at
 * `L.ctrl` until all `chunks` are taken, runs each, counts it done and wakes the waiter. The
 * calling thread and the workers all run this; a worker that starts late finds nothing left, so
 * the call never waits for a thread the OS has not scheduled yet (the range arguments of the pool
 * are ignored).
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
  _start = 0,
  _end = 0,
): number {
  const ctrl = new Int32Array(memory.buffer, L.ctrl, 2);
  const chunks = Math.ceil(rows / chunkRows);
  let n = 0;
  for (;;) {
    const c = Atomics.add(ctrl, 0, 1);
    if (c >= chunks) break;
    lutInt8Rows(memory, base, L, c * chunkRows, Math.min(rows, (c + 1) * chunkRows));
    n++;
    Atomics.add(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  }
  return n;
}
