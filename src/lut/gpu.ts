// This module is browser compatible.
/**
 * Lookup-table matmul on WebGPU: `shaders/lut_matmul.wgsl` specialized by override constants
 * (code bits, p, batch tile, zeros, group axis, table placement and duplication, fused rotation)
 * with the shapes in a params uniform, plus `shaders/lut_rotate.wgsl` for the HIGGS activation
 * rotation as a separate pass.
 *
 * Batch 1 of the common layouts (2/4/8-bit codes, p = 1 or 2, groups along the input axis that
 * never split a code word, unfused rotation) runs `shaders/lut_gemv.wgsl` instead: 4 rows per
 * workgroup, 256 threads striding over each row's words with coalesced loads, x read as vec4 and
 * reused for the 4 rows, constant-index decoding (see the shader header for why it is fast).
 * {@linkcode LutGpuTensor.kernelFor} tells which kernel a call runs; `kernel: "general"` forces
 * `lut_matmul.wgsl`.
 *
 * - {@linkcode uploadQuantized}: puts codes, table, scales, zeros (and signs, bias) in GPU buffers
 *   once; tensors whose codes exceed one storage binding are split into row parts.
 * - {@linkcode encodeLutMatmul}: the dispatches computing `out = Ŵ·x (+ bias)` between GPU
 *   buffers, for the runtime to chain into one submission without readback.
 * - {@linkcode lutMatmulGpu}: upload x, run, read back (tests, benchmarks).
 *
 * Rotation: `"separate"` (default) runs one small FWHT pass into a scratch buffer owned by the
 * tensor, then the LUT kernel; `"fused"` transforms each Hadamard block inside every LUT
 * workgroup (no scratch, one dispatch, but the FWHT is repeated by each of the rows/8
 * workgroups); `"auto"` = separate. Both are measured in `bench/lut_bench.ts`.
 *
 * The choices of a product (kernel constants, batch tile, table placement, fused or not) are made in
 * `gpu_plan.ts`; this module owns the buffers and turns a plan into dispatches.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Dispatch, type Gpu, loadShader } from "../gpu/device.ts";
import type { GpuEncodeContext } from "./linear_layer.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { rotationSigns } from "./rotate.ts";
import { gemvConstants, type LutProductPlan, matmulConstants, planLutProduct } from "./gpu_plan.ts";
import { checkLutCall, checkLutSupport } from "./support.ts";

/** Where the activation rotation of a HIGGS layer runs. */
export type LutRotationMode = "auto" | "separate" | "fused";

/**
 * The LUT kernel of a product: `"gemv"` = the batch-1 kernel `shaders/lut_gemv.wgsl`,
 * `"general"` = `shaders/lut_matmul.wgsl` (every layout, batch tiles, fused rotation).
 */
export type LutKernel = "gemv" | "general";

/** Options of {@linkcode encodeLutMatmul} and {@linkcode lutMatmulGpu}. */
export interface LutEncodeOptions {
  /** Where the HIGGS activation rotation runs (default `"auto"` = separate). */
  rotation?: LutRotationMode;
  /**
   * `"auto"` (default): the batch-1 GEMV kernel where it applies and is faster (see
   * {@linkcode LutGpuTensor.kernelFor}), else the general one; `"gemv"`: the GEMV kernel wherever
   * it applies (also p = 2); `"general"`: always the general kernel (tests, benchmarks).
   */
  kernel?: "auto" | "gemv" | "general";
}

/** Options of {@linkcode uploadQuantized}. */
export interface UploadOptions {
  /** Bias `[outFeatures]` added by the kernel. */
  bias?: Float32Array;
  /** Name used in error messages. */
  name?: string;
  /** Largest codes binding in bytes (default: the device's `maxStorageBufferBindingSize`). */
  maxBindingBytes?: number;
}

/** Where the LUT kernel reads x: a buffer, its first element, and the floats per row. */
interface LutInput {
  buffer: GPUBuffer;
  offset: number;
  cols: number;
}

interface Part {
  row0: number;
  rows: number;
  codes: GPUBuffer;
  scales: GPUBuffer;
  zeros: GPUBuffer | null;
}

/** Rows per workgroup of the LUT kernel (8 teams of 32 lanes). */
const ROWS_PER_WG = 8;
/** Rows per workgroup of the batch-1 GEMV kernel. */
const GEMV_ROWS = 4;
/** Code widths of the GEMV kernel (codes never straddle a word, tables fit workgroup memory). */
const GEMV_BITS: readonly number[] = [2, 4, 8];

/** A quantized tensor resident on the GPU (see {@linkcode uploadQuantized}). */
export class LutGpuTensor {
  /** The device. */
  readonly gpu: Gpu;
  /** Output features. */
  readonly outFeatures: number;
  /** Input features. */
  readonly inFeatures: number;
  /** The tensor's format (codes and parameters live on the GPU). */
  readonly format: Readonly<Omit<QuantizedTensor, "codes" | "scales" | "zeros">>;
  /** Whether the tensor has zeros. */
  readonly hasZeros: boolean;
  /** Bytes of codes, scales and zeros on the GPU (what a product reads). */
  readonly weightBytes: number;
  readonly #parts: Part[];
  readonly #table: GPUBuffer;
  readonly #signs: GPUBuffer | null;
  readonly #bias: GPUBuffer | null;
  readonly #dummy: GPUBuffer;
  readonly #src: { lut: string; gemv: string; rotate: string };
  #scratch: GPUBuffer | null = null;
  readonly #retired: GPUBuffer[] = [];

  /** Use {@linkcode uploadQuantized}. */
  constructor(
    gpu: Gpu,
    q: QuantizedTensor,
    src: { lut: string; gemv: string; rotate: string },
    opts: UploadOptions,
  ) {
    this.gpu = gpu;
    const [rows, cols] = q.shape;
    this.outFeatures = rows;
    this.inFeatures = cols;
    const { codes: _c, scales: _s, zeros: _z, ...format } = q;
    this.format = format;
    this.hasZeros = q.zeros !== undefined;
    this.#src = src;
    const label = opts.name ?? "tensor";
    const pc = q.paddedCols;
    const stride = rowStrideWords(pc / q.p, q.codeBits);
    const maxBinding = Math.min(
      opts.maxBindingBytes ?? Infinity,
      gpu.limits.maxStorageBufferBindingSize,
    );
    // Rows per part: within one binding, a multiple of the workgroup rows and, for groups along
    // the rows, of the group size (a part then owns whole scale rows).
    const align = q.groupAxis === 0 ? lcm(ROWS_PER_WG, q.groupSize) : ROWS_PER_WG;
    const scaleRowBytes = q.groupAxis === 1 ? (pc / q.groupSize) * 4 : (pc * 4) / q.groupSize;
    const rowBytes = Math.max(stride * 4, scaleRowBytes);
    let partRows = Math.floor(maxBinding / rowBytes / align) * align;
    partRows = Math.min(partRows, 65535 * ROWS_PER_WG - (65535 * ROWS_PER_WG) % align);
    if (partRows < 1) {
      throw new QuantlabError(
        "unsupported",
        `Cannot upload "${label}": ${align} rows of ${rowBytes} bytes exceed one storage binding ` +
          `(${maxBinding} bytes) on this device`,
      );
    }
    this.#parts = [];
    let bytes = 0;
    for (let r0 = 0; r0 < rows; r0 += partRows) {
      const n = Math.min(partRows, rows - r0);
      const codes = gpu.storage(q.codes.subarray(r0 * stride, (r0 + n) * stride), `${label}.codes`);
      const [s0, s1] = q.groupAxis === 1
        ? [r0 * (pc / q.groupSize), (r0 + n) * (pc / q.groupSize)]
        : [(r0 / q.groupSize) * pc, Math.ceil((r0 + n) / q.groupSize) * pc];
      const scales = gpu.storage(q.scales.subarray(s0, s1), `${label}.scales`);
      const zeros = q.zeros ? gpu.storage(q.zeros.subarray(s0, s1), `${label}.zeros`) : null;
      bytes += (n * stride + (s1 - s0) * (q.zeros ? 2 : 1)) * 4;
      this.#parts.push({ row0: r0, rows: n, codes, scales, zeros });
    }
    this.weightBytes = bytes;
    this.#table = gpu.storage(q.table, `${label}.table`);
    const signs = rotationSigns(q.rotation, pc);
    this.#signs = signs ? gpu.storage(Float32Array.from(signs), `${label}.signs`) : null;
    this.#bias = opts.bias ? gpu.storage(opts.bias, `${label}.bias`) : null;
    this.#dummy = gpu.storage(4, `${label}.dummy`);
  }

  /** Number of row parts (more than one when the codes exceed one storage binding). */
  get parts(): number {
    return this.#parts.length;
  }

  /** Frees every GPU buffer of the tensor. */
  destroy(): void {
    for (const p of this.#parts) {
      p.codes.destroy();
      p.scales.destroy();
      p.zeros?.destroy();
    }
    this.#table.destroy();
    this.#signs?.destroy();
    this.#bias?.destroy();
    this.#dummy.destroy();
    this.#scratch?.destroy();
    for (const b of this.#retired) b.destroy();
  }

  /** A scratch buffer of at least `floats` f32 for the separate rotation pass. */
  #scratchFor(floats: number): GPUBuffer {
    if (!this.#scratch || this.#scratch.size < floats * 4) {
      // A smaller scratch may still be referenced by encoded, unsubmitted work: keep it alive.
      if (this.#scratch) this.#retired.push(this.#scratch);
      this.#scratch = this.gpu.storage(floats * 4, "lut.rotated-x");
    }
    return this.#scratch;
  }

  /**
   * Which kernel {@linkcode LutGpuTensor.encode} runs for `call`: `"gemv"` for batch 1 when the
   * codes are 2, 4 or 8 bits wide with p ∈ {1, 2}, the groups run along the input axis and never
   * split a u32 word (group size a multiple of the word's columns, or one group per row), the
   * rotation (if any) is not fused, and x starts at a multiple of 4 elements in a buffer of at
   * least 16 bytes — for p = 2 only when `opts.kernel` is `"gemv"`; `"general"` otherwise or
   * when `opts.kernel` is `"general"`.
   */
  kernelFor(
    call: Pick<LutGpuCall, "x" | "xOffset" | "batch">,
    opts: LutEncodeOptions = {},
  ): LutKernel {
    const f = this.format;
    if (opts.kernel === "general" || call.batch !== 1 || f.groupAxis !== 1) return "general";
    if (!GEMV_BITS.includes(f.codeBits) || (f.p !== 1 && f.p !== 2)) return "general";
    // p = 2 (HIGGS pairs, 8-bit codes): measured slower on an H100 at 4096² than the general
    // kernel (0.141 vs 0.085 ms), so "auto" keeps it on the general one.
    if (f.p === 2 && opts.kernel !== "gemv") return "general";
    const cpw = (32 / f.codeBits) * f.p;
    if (f.groupSize % cpw !== 0 && f.groupSize !== f.paddedCols) return "general";
    if (f.rotation.kind === "hadamard") {
      // x is then the rotation's scratch (offset 0, paddedCols floats).
      return opts.rotation === "fused" || f.paddedCols < 4 ? "general" : "gemv";
    }
    return call.xOffset % 4 === 0 && call.x.size >= 16 ? "gemv" : "general";
  }

  /** See {@linkcode encodeLutMatmul}. */
  encode(
    ctx: Pick<GpuEncodeContext, "uniform">,
    call: LutGpuCall,
    opts: LutEncodeOptions = {},
  ): Dispatch[] {
    this.#checkCall(call);
    const plan = planLutProduct(
      this.format,
      call.batch,
      this.kernelFor(call, opts) === "gemv",
      opts.rotation === "fused",
    );
    const out: Dispatch[] = [];
    let x: LutInput = { buffer: call.x, offset: call.xOffset, cols: this.inFeatures };
    if (plan.rotated && !plan.fused) {
      const rotation = this.#rotationPass(ctx, call, plan.h);
      out.push(rotation.dispatch);
      x = rotation.x;
    }
    out.push(
      ...(plan.gemv
        ? this.#gemvDispatches(ctx, call, plan, x)
        : this.#matmulDispatches(ctx, call, plan, x)),
    );
    return out;
  }

  /** Refuses a batch that is not a positive integer and buffers too small for the call. */
  #checkCall(call: LutGpuCall): void {
    const { batch } = call;
    if (!Number.isSafeInteger(batch) || batch < 1) {
      throw new QuantlabError(
        "bad-argument",
        `LUT matmul batch ${batch} is not valid; use an integer ≥ 1`,
      );
    }
    const need = (buf: GPUBuffer, off: number, n: number, what: string): void => {
      if (!Number.isSafeInteger(off) || off < 0 || (off + n) * 4 > buf.size) {
        throw new QuantlabError(
          "bad-shape",
          `LUT matmul ${what} buffer holds ${buf.size} bytes; batch ${batch} from element ${off} ` +
            `needs ${(off + n) * 4}`,
        );
      }
    };
    need(call.x, call.xOffset, batch * this.inFeatures, "input");
    need(call.out, call.outOffset, batch * this.outFeatures, "output");
  }

  /** The separate rotation pass: x's Hadamard blocks (with signs) into the tensor's scratch. */
  #rotationPass(
    ctx: Pick<GpuEncodeContext, "uniform">,
    call: LutGpuCall,
    h: number,
  ): { dispatch: Dispatch; x: LutInput } {
    const pc = this.format.paddedCols, cols = this.inFeatures;
    const scratch = this.#scratchFor(call.batch * pc);
    const pipeline = this.gpu.pipeline("lut_rotate", this.#src.rotate, {
      HBLOCK: h,
      HAS_SIGNS: this.#signs ? 1 : 0,
    });
    return {
      dispatch: {
        pipeline,
        buffers: [
          ctx.uniform(new Uint32Array([pc, cols, cols, call.xOffset])),
          this.#signs ?? this.#dummy,
          call.x,
          scratch,
        ],
        workgroups: [pc / h, call.batch],
      },
      // The rotated rows are padded to paddedCols.
      x: { buffer: scratch, offset: 0, cols: pc },
    };
  }

  /** One batch-1 GEMV dispatch per row part. */
  #gemvDispatches(
    ctx: Pick<GpuEncodeContext, "uniform">,
    call: LutGpuCall,
    plan: LutProductPlan,
    x: LutInput,
  ): Dispatch[] {
    const f = this.format;
    const pc = f.paddedCols;
    const stride = rowStrideWords(pc / f.p, f.codeBits);
    const constants = gemvConstants(f, plan, this.hasZeros);
    const pipeline = this.gpu.pipeline("lut_gemv", this.#src.gemv, constants);
    return this.#parts.map((part) => {
      const params = new Uint32Array([
        part.rows,
        stride,
        pc / f.groupSize,
        x.cols,
        x.offset,
        call.outOffset + part.row0,
        this.#bias ? 1 : 0,
        part.row0,
      ]);
      const n = Math.ceil(part.rows / GEMV_ROWS);
      return {
        pipeline,
        buffers: [
          ctx.uniform(params),
          part.codes,
          this.#table,
          part.scales,
          part.zeros ?? this.#dummy,
          this.#bias ?? this.#dummy,
          x.buffer,
          x.buffer,
          call.out,
        ],
        workgroups: [Math.min(n, 65535), Math.ceil(n / 65535)],
      };
    });
  }

  /** One general LUT dispatch per row part (batch tiles, fused rotation). */
  #matmulDispatches(
    ctx: Pick<GpuEncodeContext, "uniform">,
    call: LutGpuCall,
    plan: LutProductPlan,
    x: LutInput,
  ): Dispatch[] {
    const f = this.format;
    const pc = f.paddedCols;
    const stride = rowStrideWords(pc / f.p, f.codeBits);
    const constants = matmulConstants(f, plan, this.hasZeros, this.#signs !== null);
    const pipeline = this.gpu.pipeline("lut_matmul", this.#src.lut, constants);
    return this.#parts.map((part) => {
      const params = new Uint32Array([
        part.rows,
        pc / f.p,
        stride,
        pc,
        x.cols,
        x.cols, // the row stride of x
        x.offset,
        call.outOffset + part.row0,
        this.outFeatures,
        call.batch,
        pc / f.groupSize,
        f.groupSize,
        this.#bias ? 1 : 0,
        part.row0,
        f.groupAxis === 0 ? part.row0 % f.groupSize : 0,
        0,
      ]);
      return {
        pipeline,
        buffers: [
          ctx.uniform(params),
          part.codes,
          this.#table,
          part.scales,
          part.zeros ?? this.#dummy,
          this.#signs ?? this.#dummy,
          this.#bias ?? this.#dummy,
          x.buffer,
          call.out,
        ],
        workgroups: [Math.ceil(part.rows / ROWS_PER_WG), Math.ceil(call.batch / plan.tb)],
      };
    });
  }
}

function lcm(a: number, b: number): number {
  let x = a, y = b;
  while (y) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** One product between GPU buffers (offsets in f32 elements). */
export interface LutGpuCall {
  /** Input `[batch, inFeatures]` f32 from `xOffset`. */
  x: GPUBuffer;
  /** First input element. */
  xOffset: number;
  /** Output `[batch, outFeatures]` f32 from `outOffset` (overwritten). */
  out: GPUBuffer;
  /** First output element. */
  outOffset: number;
  /** Rows of x. */
  batch: number;
}

/**
 * Validates `q` for the LUT kernels and uploads it to the GPU once (codes as raw u32 words, the
 * f32 table, scales, zeros, the rotation's sign vector, an optional bias).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { uploadQuantized } from "./gpu.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const t = await uploadQuantized(gpu, {
 *     method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *     codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *     tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *     scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 *   });
 *   if (t.outFeatures !== 1) throw new Error();
 *   t.destroy();
 * }
 * ```
 */
export async function uploadQuantized(
  gpu: Gpu,
  q: QuantizedTensor,
  opts: UploadOptions = {},
): Promise<LutGpuTensor> {
  checkLutSupport(q, opts.name);
  if (opts.bias && opts.bias.length !== q.shape[0]) {
    throw new QuantlabError(
      "bad-shape",
      `Bias holds ${opts.bias.length} values but the layer has ${q.shape[0]} outputs`,
    );
  }
  const [lut, gemv, rotate] = await Promise.all([
    loadShader("lut_matmul"),
    loadShader("lut_gemv"),
    loadShader("lut_rotate"),
  ]);
  return new LutGpuTensor(gpu, q, { lut, gemv, rotate }, opts);
}

/**
 * The dispatches computing `out[b, o] = Σ_i Ŵ[o, i]·x[b, i] (+ bias[o])` between GPU buffers:
 * the rotation pass (HIGGS, unless fused) and one LUT dispatch per row part. `ctx.uniform`
 * supplies the params buffers (the runtime's per-submission cache, or `gpu.uniform`).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { encodeLutMatmul, uploadQuantized } from "./gpu.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const t = await uploadQuantized(gpu, {
 *     method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *     codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *     tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *     scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 *   });
 *   const x = gpu.storage(new Float32Array([1, 1, 1, 1]));
 *   const y = gpu.storage(4);
 *   const uniforms: GPUBuffer[] = [];
 *   const ctx = { uniform: (d: ArrayBufferView) => (uniforms.push(gpu.uniform(d)), uniforms.at(-1)!) };
 *   await gpu.runMany("lut", encodeLutMatmul(ctx, t, { x, xOffset: 0, out: y, outOffset: 0, batch: 1 }));
 *   if (new Float32Array(await gpu.read(y))[0] !== 6) throw new Error();
 *   for (const b of [x, y, ...uniforms]) b.destroy();
 *   t.destroy();
 * }
 * ```
 */
export function encodeLutMatmul(
  ctx: Pick<GpuEncodeContext, "uniform">,
  t: LutGpuTensor,
  call: LutGpuCall,
  opts: LutEncodeOptions = {},
): Dispatch[] {
  return t.encode(ctx, call, opts);
}

/**
 * `out[b, o] = Σ_i Ŵ[o, i]·x[b, i] (+ bias)` on the GPU for a CPU array x `[batch, inFeatures]`:
 * uploads x, runs the dispatches of {@linkcode encodeLutMatmul} in one submission, reads back.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { lutMatmulGpu, uploadQuantized } from "./gpu.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const t = await uploadQuantized(gpu, {
 *     method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *     codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *     tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([0.5]),
 *     scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 *   });
 *   const y = await lutMatmulGpu(gpu, t, new Float32Array([1, 1, 1, 1]), 1);
 *   if (y[0] !== 3) throw new Error();
 *   t.destroy();
 * }
 * ```
 */
export async function lutMatmulGpu(
  gpu: Gpu,
  t: LutGpuTensor,
  x: Float32Array,
  batch: number,
  opts: LutEncodeOptions = {},
): Promise<Float32Array> {
  checkLutCall(x, batch, t.inFeatures, t.outFeatures);
  const xb = gpu.storage(x, "lut.x");
  const yb = gpu.storage(batch * t.outFeatures * 4, "lut.out");
  const uniforms: GPUBuffer[] = [];
  const ctx = {
    uniform: (d: Uint32Array | Float32Array | Int32Array): GPUBuffer => {
      const u = gpu.uniform(d);
      uniforms.push(u);
      return u;
    },
  };
  try {
    const dispatches = t.encode(ctx, { x: xb, xOffset: 0, out: yb, outOffset: 0, batch }, opts);
    await gpu.runMany("lut_matmul", dispatches, { wait: false });
    return new Float32Array(await gpu.read(yb, batch * t.outFeatures * 4));
  } finally {
    xb.destroy();
    yb.destroy();
    for (const u of uniforms) u.destroy();
  }
}
