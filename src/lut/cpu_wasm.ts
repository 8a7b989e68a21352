// This module is browser compatible.
/**
 * The WebAssembly SIMD path of the CPU LUT matmul for the two most common formats, where
 * TypeScript's ~8 scalar operations per weight leave the kernel compute-bound: 4-bit scalar codes
 * (p = 1: NF4, RTN/HQQ 4-bit, HIGGS (1,16); 16 codes per step looked up with `i8x16.swizzle` on
 * the table's byte planes) and 8-bit pair codes (p = 2: HIGGS (2,256); one 8-byte load per pair),
 * both with groups of a multiple of 64 weights along the input axis. WAT in `build_wasm.ts`,
 * bytes in `lut_wasm_bytes.ts`.
 *
 * The tensor lives in a shared `WebAssembly.Memory` (a SharedArrayBuffer underneath), so the
 * prepared codes, scales and zeros are ordinary typed-array views for the TypeScript paths and
 * the workers instantiate the kernel on the same memory; x, Σx per group and the output have
 * fixed regions there too, so calls on one tensor are serialized by `cpu.ts`.
 *
 * @module
 */
import { compileBase64Wasm } from "../core/wasm.ts";
import { LUT4_WASM_BASE64 } from "./gen/lut_wasm_bytes.ts";
import { poolSize } from "../cpu/pool.ts";
import {
  INT8_BATCH_ROWS,
  INT8_SCRATCH_BYTES,
  int8KernelTable,
  lutInt8Isa,
  type LutInt8Layout,
} from "./cpu_int8.ts";
import { int8Format, int8Table } from "./int8_format.ts";
import { TMAC_TILE_ROWS } from "./tmac_format.ts";
import { tmacHalfExact } from "./tmac_layout.ts";

/** Byte offsets of the regions in the tensor's memory, and the kernel's row geometry. */
export interface LutWasmLayout {
  /** Packed codes. */
  codes: number;
  /** The table: 4 byte planes of 16 entries (4-bit) or the raw 256 × 2 f32 pairs (8-bit p = 2). */
  planes: number;
  /** f32 scales. */
  scales: number;
  /** f32 zeros, or 0 when absent or outside the memory (`halfAffine`). */
  zeros: number;
  /**
   * True when the bit-plane kernel will repack the tensor in place with its scales and zeros as
   * f16 (`tmac_layout.ts`; every value f16-exact): the zeros then live on a SharedArrayBuffer of
   * their own, freed while repacked, so the memory holds no zeros region.
   */
  halfAffine: boolean;
  /** f64 Σx per group (batch 1). */
  xsum: number;
  /** f32 activations. */
  x: number;
  /** f32 output. */
  out: number;
  /** Words per row. */
  wpr: number;
  /** Groups per row. */
  gpr: number;
  /** Words per group (a multiple of 8). */
  wpg: number;
  /** Which exact kernel, or null (the `fast` kernel only). */
  kernel: "lut4" | "lut8p2" | null;
  /** The `fast` kernel's regions (`cpu_int8.ts`), or null. */
  int8: LutInt8Layout | null;
}

/** A tensor placed in shared WebAssembly memory. */
export interface LutWasm {
  /** The shared memory. */
  memory: WebAssembly.Memory;
  /** Region offsets. */
  layout: LutWasmLayout;
  /** Packed codes (view into the shared memory). */
  codes: Uint32Array;
  /** Per-group scales. */
  scales: Float32Array;
  /** Per-group zeros, for affine formats. */
  zeros: Float32Array | null;
  /** Σx per group of the current activation. */
  xsum: Float64Array;
  /** The (rotated) activation. */
  x: Float32Array;
  /** The output row. */
  out: Float32Array;
  /**
   * The `fast` kernel's regions for up to `layout.int8.batch` activation rows (row b at b·pc,
   * b·pc/64, b·gpr; output row b at b·rows), or null.
   */
  int8: {
    xq: Int8Array;
    dx: Float32Array;
    xg: Float32Array;
    out: Float32Array;
    ctrl: Int32Array;
  } | null;
}

let compiled: WebAssembly.Module | null | undefined;
let enabled = true;

function wasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = compileBase64Wasm(LUT4_WASM_BASE64);
      // Shared memory needs cross-origin isolation in browsers: probe it once.
      if (compiled) new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * Whether the WebAssembly SIMD kernel can run here (SIMD and shared memory available) and is
 * enabled (see {@linkcode setLutWasm}).
 *
 * @example
 * ```ts
 * import { lutWasmAvailable } from "./cpu_wasm.ts";
 * if (typeof lutWasmAvailable() !== "boolean") throw new Error();
 * ```
 */
export function lutWasmAvailable(): boolean {
  return enabled && wasmModule() !== null;
}

/**
 * Turns the WebAssembly kernel on or off for tensors prepared afterwards (for comparisons and
 * tests; the TypeScript loops are the fallback).
 *
 * @example
 * ```ts
 * import { lutWasmAvailable, setLutWasm } from "./cpu_wasm.ts";
 * setLutWasm(false);
 * if (lutWasmAvailable()) throw new Error("still on");
 * setLutWasm(true);
 * ```
 */
export function setLutWasm(on: boolean): void {
  enabled = on;
}

/**
 * The WebAssembly kernel for a layout, or null: `lut4` for p = 1 with 4-bit codes, `lut8p2` for
 * p = 2 with 8-bit codes, both with groups of a multiple of 64 weights along the input axis.
 *
 * @example
 * ```ts
 * import { lutWasmKernel } from "./cpu_wasm.ts";
 * if (lutWasmKernel(1, 4, 1, 64) !== "lut4" || lutWasmKernel(2, 8, 1, 1024) !== "lut8p2") {
 *   throw new Error();
 * }
 * if (lutWasmKernel(1, 3, 1, 64) !== null) throw new Error();
 * ```
 */
export function lutWasmKernel(
  p: number,
  bits: number,
  axis: 0 | 1,
  g: number,
): "lut4" | "lut8p2" | null {
  if (axis !== 1 || g % 64 !== 0) return null;
  if (p === 1 && bits === 4) return "lut4";
  if (p === 2 && bits === 8) return "lut8p2";
  return null;
}

const align = (n: number): number => Math.ceil(n / 64) * 64;

/**
 * Places a tensor's codes, table, scales and zeros in a new shared memory, or returns null when
 * neither the exact kernel nor the `fast` one (`cpu_int8.ts`) is available and suits the layout,
 * or it would need ≥ 1 GiB.
 *
 * @example
 * ```ts
 * import { createLutWasm } from "./cpu_wasm.ts";
 * const w = createLutWasm(
 *   { rows: 1, pc: 64, p: 1, bits: 4, g: 64, axis: 1 },
 *   new Uint32Array(8), new Float32Array(16), new Float32Array(1), null,
 * );
 * if (w && w.codes.length !== 8) throw new Error();
 * ```
 */
export function createLutWasm(
  m: { rows: number; pc: number; p: number; bits: number; g: number; axis: 0 | 1 },
  codes: Uint32Array,
  table: Float32Array,
  scales: Float32Array,
  zeros: Float32Array | null,
): LutWasm | null {
  const kernel = lutWasmAvailable() ? lutWasmKernel(m.p, m.bits, m.axis, m.g) : null;
  const isa = lutWasmAvailable() ? lutInt8Isa() : null;
  const nFormat = isa ? int8Format(m.p, m.bits, m.axis, m.g) : null;
  if (!kernel && !nFormat) return null;
  const t8 = nFormat ? int8Table(table, m.p) : null;
  // An equally spaced 4-bit table needs no lookup (t7[c] = c): the same integers without it.
  const format = nFormat === "n4" && t8!.exact ? "u4" : nFormat;
  const gpr = m.pc / m.g;
  const L: LutWasmLayout = {
    codes: 64,
    planes: 0,
    scales: 0,
    zeros: 0,
    xsum: 0,
    x: 0,
    out: 0,
    wpr: m.pc / 8,
    gpr,
    wpg: m.g / 8,
    kernel,
    int8: null,
    // The bit-plane kernel's case (`tmacCovers`, in place: whole tiles of rows).
    halfAffine: zeros !== null && isa !== null && format === "n2" && t8!.exact &&
      m.rows % TMAC_TILE_ROWS === 0 && tmacHalfExact([scales, zeros]),
  };
  let at = align(L.codes + codes.byteLength);
  L.planes = at;
  at = align(at + (kernel === "lut4" ? 64 : kernel === "lut8p2" ? table.byteLength : 0));
  L.scales = at;
  at = align(at + scales.byteLength);
  if (zeros && !L.halfAffine) {
    L.zeros = at;
    at = align(at + zeros.byteLength);
  }
  L.xsum = at;
  at = align(at + gpr * 8);
  L.x = at;
  at = align(at + m.pc * 4);
  // The output region holds a whole batch of rows for the `fast` kernels.
  L.out = at;
  at = align(at + m.rows * 4 * (format && isa ? INT8_BATCH_ROWS : 1));
  let kernelTab: Uint8Array | null = null;
  if (format && isa && t8) {
    kernelTab = int8KernelTable(format, t8.t7);
    const rowsPerCall = INT8_BATCH_ROWS;
    const tile = Math.max(2, Math.floor(INT8_SCRATCH_BYTES / m.pc));
    const slots = poolSize() + 1;
    const tab = at;
    const xq = align(tab + kernelTab.length);
    const dx = align(xq + rowsPerCall * m.pc);
    const xg = align(dx + rowsPerCall * m.pc / 16);
    const ctrl = align(xg + rowsPerCall * gpr * 4);
    const scratch = ctrl + 64;
    at = align(scratch + slots * tile * m.pc);
    L.int8 = {
      format,
      isa,
      tab,
      xq,
      dx,
      xg,
      ctrl,
      bpr: codes.length / m.rows * 4,
      gpr,
      bpg: m.g / 64,
      delta: t8.delta,
      tmin: t8.tmin,
      batch: rowsPerCall,
      scratch,
      slots,
      tile,
      rows: m.rows,
    };
  }
  if (at >= 2 ** 30) return null;
  const pages = Math.ceil(at / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const buf = memory.buffer;
  const w: LutWasm = {
    memory,
    layout: L,
    codes: new Uint32Array(buf, L.codes, codes.length),
    scales: new Float32Array(buf, L.scales, scales.length),
    zeros: L.halfAffine
      ? new Float32Array(new SharedArrayBuffer(zeros!.byteLength))
      : zeros
      ? new Float32Array(buf, L.zeros, zeros.length)
      : null,
    xsum: new Float64Array(buf, L.xsum, gpr),
    x: new Float32Array(buf, L.x, m.pc),
    out: new Float32Array(buf, L.out, m.rows),
    int8: L.int8
      ? {
        xq: new Int8Array(buf, L.int8.xq, L.int8.batch * m.pc),
        dx: new Float32Array(buf, L.int8.dx, L.int8.batch * m.pc / 64),
        xg: new Float32Array(buf, L.int8.xg, L.int8.batch * gpr),
        out: new Float32Array(buf, L.out, L.int8.batch * m.rows),
        ctrl: new Int32Array(buf, L.int8.ctrl, 16),
      }
      : null,
  };
  if (L.int8 && kernelTab) new Uint8Array(buf, L.int8.tab, kernelTab.length).set(kernelTab);
  w.codes.set(codes);
  w.scales.set(scales);
  if (zeros) w.zeros!.set(zeros);
  if (kernel === "lut4") {
    // Byte plane k holds byte k (little-endian) of each of the 16 f32 table entries.
    const tb = new Uint8Array(table.buffer, table.byteOffset, 64);
    const planes = new Uint8Array(buf, L.planes, 64);
    for (let j = 0; j < 16; j++) for (let k = 0; k < 4; k++) planes[k * 16 + j] = tb[j * 4 + k]!;
  } else if (kernel === "lut8p2") {
    new Float32Array(buf, L.planes, table.length).set(table);
  }
  return w;
}

type LutFn = (...args: number[]) => void;
const instances = new WeakMap<WebAssembly.Memory, LutFn>();

/**
 * Rows `[start, end)` of the tensor's kernel on `memory` (the pool's entry point; the x, Σx and
 * output regions must be filled / are written in the memory).
 *
 * @example
 * ```ts
 * import { createLutWasm, lutWasmRows } from "./cpu_wasm.ts";
 * const w = createLutWasm(
 *   { rows: 1, pc: 64, p: 1, bits: 4, g: 64, axis: 1 },
 *   new Uint32Array(8).fill(0x11111111), new Float32Array(16).fill(2), new Float32Array([0.5]), null,
 * );
 * if (w) {
 *   w.x.fill(1);
 *   lutWasmRows(w.memory, w.layout, 0, 1);
 *   if (w.out[0] !== 64) throw new Error();
 * }
 * ```
 */
export function lutWasmRows(
  memory: WebAssembly.Memory,
  L: LutWasmLayout,
  start: number,
  end: number,
): number {
  let fn = instances.get(memory);
  if (!fn) {
    const mod = wasmModule();
    if (!mod) throw new Error("The WebAssembly SIMD LUT kernel is not available here");
    const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
    if (!L.kernel) throw new Error("This tensor has no exact WebAssembly LUT kernel");
    fn = inst.exports[L.kernel] as LutFn;
    instances.set(memory, fn);
  }
  fn(L.codes, L.planes, L.scales, L.zeros, L.xsum, L.x, L.out, start, end, L.wpr, L.gpr, L.wpg);
  return end - start;
}
