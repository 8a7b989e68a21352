// This module is browser compatible.
/**
 * Dense baselines of the LUT kernels on WebGPU, in the same style (`shaders/dense_matmul.wgsl`
 * with `store_f32|f16.wgsl`): f32 and f16-weight GEMV / small-batch GEMM, and a copy kernel
 * (`shaders/dense_copy.wgsl`) that measures the device's memory roofline. The f16 kernel needs
 * the `shader-f16` feature; without it {@linkcode uploadDense} throws `unsupported` (callers such
 * as the benchmark skip with a note).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { f32ToF16Bits } from "../core/dtype.ts";
import { type Dispatch, type Gpu, loadShader } from "../gpu/device.ts";
import type { GpuEncodeContext } from "./linear_layer.ts";
import type { LutGpuCall } from "./gpu.ts";
import { checkLutCall } from "./support.ts";

/** Weight precision of a dense GPU baseline. */
export type DenseDtype = "f32" | "f16";

const MAX_TB = 8;

/** A dense weight `[outFeatures, inFeatures]` on the GPU (rows zero-padded to a multiple of 4). */
export class DenseGpuTensor {
  /** The device. */
  readonly gpu: Gpu;
  /** Output features. */
  readonly outFeatures: number;
  /** Input features. */
  readonly inFeatures: number;
  /** Weight precision. */
  readonly dtype: DenseDtype;
  /** Bytes of the weight on the GPU (what a product reads). */
  readonly weightBytes: number;
  readonly #w: GPUBuffer;
  readonly #src: string;

  /** Use {@linkcode uploadDense}. */
  constructor(
    gpu: Gpu,
    w: Float32Array,
    outF: number,
    inF: number,
    dtype: DenseDtype,
    src: string,
  ) {
    this.gpu = gpu;
    this.outFeatures = outF;
    this.inFeatures = inF;
    this.dtype = dtype;
    this.#src = src;
    const k4 = Math.ceil(inF / 4) * 4;
    let data: Float32Array | Uint16Array;
    if (dtype === "f32") {
      data = k4 === inF ? w : new Float32Array(outF * k4);
      if (data !== w) {
        for (let r = 0; r < outF; r++) data.set(w.subarray(r * inF, (r + 1) * inF), r * k4);
      }
    } else {
      data = new Uint16Array(outF * k4);
      for (let r = 0; r < outF; r++) {
        for (let c = 0; c < inF; c++) data[r * k4 + c] = f32ToF16Bits(w[r * inF + c]!);
      }
    }
    this.weightBytes = data.byteLength;
    this.#w = gpu.storage(data, `dense.${dtype}`);
  }

  /** The dispatch computing `out = W·x` between GPU buffers (offsets in f32 elements). */
  encode(ctx: Pick<GpuEncodeContext, "uniform">, call: LutGpuCall): Dispatch[] {
    const { batch } = call;
    if (!Number.isSafeInteger(batch) || batch < 1) {
      throw new QuantlabError(
        "bad-argument",
        `Dense matmul batch ${batch} is not valid; use an integer ≥ 1`,
      );
    }
    const tb = Math.min(batch, MAX_TB);
    const k4 = Math.ceil(this.inFeatures / 4);
    const params = new Uint32Array([
      this.outFeatures,
      this.inFeatures,
      k4,
      this.inFeatures,
      call.xOffset,
      call.outOffset,
      this.outFeatures,
      batch,
    ]);
    const key = this.dtype === "f32" ? "dense_matmul" : "dense_matmul_f16";
    return [{
      pipeline: this.gpu.pipeline(key, this.#src, { TB: tb }),
      buffers: [ctx.uniform(params), this.#w, call.x, call.out],
      workgroups: [Math.ceil(this.outFeatures / 8), Math.ceil(batch / tb)],
    }];
  }

  /** Frees the weight buffer. */
  destroy(): void {
    this.#w.destroy();
  }
}

/**
 * Uploads a dense weight `[outF, inF]` (f32 values; stored as `dtype` on the GPU).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { denseMatmulGpu, uploadDense } from "./dense_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const t = await uploadDense(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3, "f32");
 *   const y = await denseMatmulGpu(gpu, t, new Float32Array([1, 1, 1]), 1);
 *   if (y.join() !== "6,15") throw new Error();
 *   t.destroy();
 * }
 * ```
 */
export async function uploadDense(
  gpu: Gpu,
  w: Float32Array,
  outF: number,
  inF: number,
  dtype: DenseDtype = "f32",
): Promise<DenseGpuTensor> {
  if (dtype !== "f32" && dtype !== "f16") {
    throw new QuantlabError("bad-argument", `Dense dtype "${dtype}" is not valid; use f32 or f16`);
  }
  if (!Number.isSafeInteger(outF) || !Number.isSafeInteger(inF) || outF < 1 || inF < 1) {
    throw new QuantlabError("bad-shape", `Dense weight shape [${outF}, ${inF}] is not valid`);
  }
  if (w.length !== outF * inF) {
    throw new QuantlabError(
      "bad-shape",
      `Dense weight holds ${w.length} values; [${outF}, ${inF}] needs ${outF * inF}`,
    );
  }
  if (dtype === "f16" && !gpu.hasF16) {
    throw new QuantlabError(
      "unsupported",
      `The f16 dense kernel needs the shader-f16 feature, which ${gpu.description} lacks`,
    );
  }
  const src = await loadShader("dense_matmul", [`store_${dtype}`]);
  return new DenseGpuTensor(gpu, w, outF, inF, dtype, src);
}

/**
 * `out = W·x` on the GPU for a CPU array x `[batch, inFeatures]` (upload, run, read back).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { denseMatmulGpu, uploadDense } from "./dense_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu?.hasF16) {
 *   const t = await uploadDense(gpu, new Float32Array([1, 2, 3, 4, 5, 6]), 3, 2, "f16");
 *   const y = await denseMatmulGpu(gpu, t, new Float32Array([1, 0, 0, 1]), 2);
 *   if (y.join() !== "1,3,5,2,4,6") throw new Error();
 *   t.destroy();
 * }
 * ```
 */
export async function denseMatmulGpu(
  gpu: Gpu,
  t: DenseGpuTensor,
  x: Float32Array,
  batch: number,
): Promise<Float32Array> {
  checkLutCall(x, batch, t.inFeatures, t.outFeatures);
  const xb = gpu.storage(x, "dense.x");
  const yb = gpu.storage(batch * t.outFeatures * 4, "dense.out");
  const u: GPUBuffer[] = [];
  try {
    const d = t.encode({ uniform: (v) => (u.push(gpu.uniform(v)), u.at(-1)!) }, {
      x: xb,
      xOffset: 0,
      out: yb,
      outOffset: 0,
      batch,
    });
    await gpu.runMany(t.dtype === "f32" ? "dense_matmul" : "dense_matmul_f16", d, {
      wait: false,
    });
    return new Float32Array(await gpu.read(yb, batch * t.outFeatures * 4));
  } finally {
    xb.destroy();
    yb.destroy();
    for (const b of u) b.destroy();
  }
}

/**
 * The copy kernel's dispatch: `dst[0 … bytes) = src[0 … bytes)` (bytes a multiple of 16).
 * Its time gives the device's copy bandwidth for the benchmarks' ratios.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { copyKernel } from "./dense_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const src = gpu.storage(new Uint32Array([1, 2, 3, 4, 5, 6, 7, 8]));
 *   const dst = gpu.storage(32);
 *   const us: GPUBuffer[] = [];
 *   const d = await copyKernel(gpu, src, dst, 32, (v) => (us.push(gpu.uniform(v)), us.at(-1)!));
 *   await gpu.runMany("copy", [d]);
 *   if (new Uint32Array(await gpu.read(dst))[7] !== 8) throw new Error();
 *   for (const b of [src, dst, ...us]) b.destroy();
 * }
 * ```
 */
export async function copyKernel(
  gpu: Gpu,
  src: GPUBuffer,
  dst: GPUBuffer,
  bytes: number,
  uniform: GpuEncodeContext["uniform"],
): Promise<Dispatch> {
  if (bytes % 16 !== 0 || bytes > src.size || bytes > dst.size) {
    throw new QuantlabError(
      "bad-argument",
      `Copy of ${bytes} bytes is not valid: use a multiple of 16 within both buffers`,
    );
  }
  const n = bytes / 16;
  const groups = Math.max(1, Math.min(Math.ceil(n / 256), 65535 * 64));
  const gx = Math.min(groups, 65535);
  const gy = Math.ceil(groups / gx);
  const code = await loadShader("dense_copy");
  return {
    pipeline: gpu.pipeline("dense_copy", code),
    buffers: [uniform(new Uint32Array([n, gx, 0, 0])), src, dst],
    workgroups: [gx, gy],
  };
}
