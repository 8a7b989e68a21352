// This module is browser compatible.
/**
 * The linear-layer seam of the model runtime. Every projection of a Llama-family model (q, k, v,
 * o, gate, up, down and the LM head) is a {@linkcode Linear}; the dense f32 one is
 * {@linkcode DenseLinear}, and a quantized layer (LUT matmul over packed codes) plugs in by
 * implementing the same interface — the loader's `linearFactory` hook supplies it for named
 * weights, and `LlamaModel.setLinear` swaps one in later.
 *
 * Contract (CPU): `forward(x, batch, out?)` computes `out[b, o] = Σ_i x[b, i] · W[o, i] + bias[o]`
 * for x `[batch, inFeatures]` row-major and returns `out` (`[batch, outFeatures]`). It may return
 * a Promise (a pool-backed kernel); the model awaits every call, so a synchronous result costs
 * nothing extra.
 *
 * Contract (WebGPU, optional): `toGpu(gpu)` returns a {@linkcode GpuLinear} whose `encode`
 * appends the dispatches computing the same product between GPU buffers, so a whole forward is one
 * submission. A Linear without `toGpu` but with `weightF32()` runs on the GPU as a dense layer;
 * one with neither cannot run on the GPU.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { matmul } from "../cpu/matmul.ts";
import { matmulHalf, prepareMatmulHalf } from "../cpu/half_matmul.ts";
import { gemvHalfParallel } from "../cpu/half_gemv.ts";
import { type HalfDType, widenHalf } from "../cpu/widen.ts";
import type { Gpu } from "../gpu/device.ts";
import { denseGpuLinear } from "./gpu_ops.ts";
import type { GpuLinear, Linear } from "../lut/linear_layer.ts";

export type { GpuEncodeContext, GpuLinear, GpuLinearCall, Linear } from "../lut/linear_layer.ts";
export { checkLinearShape } from "../lut/linear_layer.ts";

/**
 * A dense f32 linear layer (PyTorch `nn.Linear` layout); the CPU product runs on BLAS through
 * `src/cpu/matmul.ts`.
 *
 * @example
 * ```ts
 * import { DenseLinear } from "./linear.ts";
 * const lin = new DenseLinear(new Float32Array([1, 0, 0, 1, 1, 1]), 3, 2, new Float32Array([0, 0, 1]));
 * const y = lin.forward(new Float32Array([1, 2]), 1);
 * if (y.join() !== "1,2,4") throw new Error("unexpected");
 * ```
 */
export class DenseLinear implements Linear {
  /** The weight `[outFeatures, inFeatures]`, row-major. */
  readonly weight: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias?: Float32Array;

  /** Wraps `weight` `[outF, inF]` (not copied) and an optional bias. */
  constructor(weight: Float32Array, outF: number, inF: number, bias?: Float32Array) {
    if (weight.length !== outF * inF) {
      throw new QuantlabError(
        "bad-shape",
        `Linear weight holds ${weight.length} values but [${outF}, ${inF}] needs ${outF * inF}`,
      );
    }
    checkBias(bias, outF);
    this.weight = weight;
    this.outFeatures = outF;
    this.inFeatures = inF;
    if (bias) this.bias = bias;
  }

  /** `out = x Wᵀ + b` on BLAS (or the WebAssembly / TypeScript GEMM). */
  forward(x: Float32Array, batch: number, out?: Float32Array): Float32Array {
    const y = matmul(x, this.weight, batch, this.inFeatures, this.outFeatures, out);
    return addBias(y, this.bias, batch);
  }

  /** The weight itself (not a copy). */
  weightF32(): Float32Array {
    return this.weight;
  }

  /** Uploads the weight and bias; the product runs on the tiled f32 GEMM kernel. */
  async toGpu(gpu: Gpu): Promise<GpuLinear> {
    return await denseGpuLinear(gpu, this.weight, this.outFeatures, this.inFeatures, this.bias);
  }
}

/** Adds `bias` (length n) to each of the `batch` rows of `y`; returns y. */
function addBias(y: Float32Array, bias: Float32Array | undefined, batch: number): Float32Array {
  if (!bias) return y;
  const n = bias.length;
  for (let r = 0; r < batch; r++) {
    const base = r * n;
    for (let o = 0; o < n; o++) y[base + o] = y[base + o]! + bias[o]!;
  }
  return y;
}

/** A weight kept as stored: 16-bit float bit patterns and their format. */
export interface HalfWeight {
  /** Bit patterns, row-major. */
  readonly data: Uint16Array;
  /** How to read them. */
  readonly dtype: HalfDType;
}

/**
 * A dense linear layer whose weight stays in its stored 16-bit form (bf16 or f16; half the bytes
 * of f32): each product widens a tile of rows at a time into a reused f32 buffer
 * (`src/cpu/half_matmul.ts`), so a checkpoint whose f32 copy would not fit in memory still runs.
 * Same results as {@linkcode DenseLinear} over the widened weight (to the bit on the WebAssembly
 * and TypeScript GEMMs at batch > 1; within f32 summation-order rounding on OpenBLAS and at batch
 * 1, which reads the 16-bit weights directly).
 *
 * @example
 * ```ts
 * import { HalfLinear } from "./linear.ts";
 * // bf16 [[1, 0], [0, 1], [1, 1]]
 * const w = new Uint16Array([0x3f80, 0, 0, 0x3f80, 0x3f80, 0x3f80]);
 * const lin = new HalfLinear({ data: w, dtype: "BF16" }, 3, 2, new Float32Array([0, 0, 1]));
 * const y = await lin.forward(new Float32Array([1, 2]), 1);
 * if (y.join() !== "1,2,4") throw new Error("unexpected");
 * ```
 */
export class HalfLinear implements Linear {
  /** The stored weight `[outFeatures, inFeatures]`. */
  readonly weight: HalfWeight;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias?: Float32Array;

  /** Wraps `weight` `[outF, inF]` (not copied) and an optional bias. */
  constructor(weight: HalfWeight, outF: number, inF: number, bias?: Float32Array) {
    if (weight.data.length !== outF * inF) {
      throw new QuantlabError(
        "bad-shape",
        `Linear weight holds ${weight.data.length} values but [${outF}, ${inF}] needs ${
          outF * inF
        }`,
      );
    }
    checkBias(bias, outF);
    this.weight = weight;
    this.outFeatures = outF;
    this.inFeatures = inF;
    if (bias) this.bias = bias;
    prepareMatmulHalf(outF, inF);
  }

  /**
   * `out = x Wᵀ + b`, widening W a tile at a time; batch 1 reads the 16-bit weights directly, on
   * the worker pool when the weight is on a SharedArrayBuffer (then a Promise).
   */
  forward(
    x: Float32Array,
    batch: number,
    out?: Float32Array,
  ): Float32Array | Promise<Float32Array> {
    const { data, dtype } = this.weight;
    if (batch === 1 && x.length === this.inFeatures && (!out || out.length === this.outFeatures)) {
      const y = out ?? new Float32Array(this.outFeatures);
      const p = gemvHalfParallel(x, data, dtype, this.inFeatures, this.outFeatures, y);
      if (p !== null) return p.then((r) => addBias(r, this.bias, 1));
    }
    const y = matmulHalf(x, data, dtype, batch, this.inFeatures, this.outFeatures, out);
    return addBias(y, this.bias, batch);
  }

  /** The weight widened to f32: a new array (twice the stored bytes) on every call. */
  weightF32(): Float32Array {
    return widenHalf(this.weight.data, this.weight.dtype);
  }

  /** Uploads the widened weight (the f32 copy lives only until the upload is done). */
  async toGpu(gpu: Gpu): Promise<GpuLinear> {
    return await denseGpuLinear(
      gpu,
      this.weightF32(),
      this.outFeatures,
      this.inFeatures,
      this.bias,
    );
  }
}

/** A bias must hold one value per output; both linear layers share the check. */
function checkBias(bias: Float32Array | undefined, outF: number): void {
  if (bias && bias.length !== outF) {
    throw new QuantlabError(
      "bad-shape",
      `Linear bias holds ${bias.length} values but the layer has ${outF} outputs`,
    );
  }
}
