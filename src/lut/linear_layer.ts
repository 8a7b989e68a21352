// This module is browser compatible.
/**
 * The linear-layer contract of the model runtime: every projection of a Llama-family model is a
 * {@linkcode Linear}, on the CPU and (optionally) on WebGPU as a {@linkcode GpuLinear}. It lives
 * with the LUT matmul so that the LUT layers and the model (which imports them) share it without
 * a cycle; the dense layer is `DenseLinear` in `src/model/linear.ts`.
 *
 * Contract (CPU): `forward(x, batch, out?)` computes `out[b, o] = Σ_i x[b, i] · W[o, i] + bias[o]`
 * for x `[batch, inFeatures]` row-major and returns `out` (`[batch, outFeatures]`). It may return
 * a Promise (a pool-backed kernel); the model awaits every call.
 *
 * Contract (WebGPU, optional): `toGpu(gpu)` returns a {@linkcode GpuLinear} whose `encode`
 * appends the dispatches computing the same product between GPU buffers, so a whole forward is one
 * submission.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Dispatch, Gpu } from "../gpu/device.ts";

/** A linear layer `y = x Wᵀ + b` with W `[outFeatures, inFeatures]`. */
export interface Linear {
  /** Input width. */
  readonly inFeatures: number;
  /** Output width. */
  readonly outFeatures: number;
  /** Optional bias, `outFeatures` long (included by `forward`). */
  readonly bias?: Float32Array;
  /**
   * `out[b, o] = Σ_i x[b, i] · W[o, i] + bias[o]`; `out` (allocated when omitted) is
   * overwritten and returned.
   */
  forward(x: Float32Array, batch: number, out?: Float32Array): Float32Array | Promise<Float32Array>;
  /** The dense weight `[outFeatures, inFeatures]` (dequantized for quantized layers). */
  weightF32?(): Float32Array;
  /** A GPU version of this layer (its weights uploaded once). */
  toGpu?(gpu: Gpu): GpuLinear | Promise<GpuLinear>;
}

/** Per-submission helpers a GPU layer may use while encoding. */
export interface GpuEncodeContext {
  /** The device. */
  readonly gpu: Gpu;
  /** A uniform buffer holding `data`, valid until the submission finishes (cached by content). */
  uniform(data: Uint32Array | Float32Array | Int32Array): GPUBuffer;
}

/** One product to encode: rows of x start at `xOffset` (elements), rows of out at `outOffset`. */
export interface GpuLinearCall {
  /** Input buffer, `[batch, inFeatures]` f32 from `xOffset`. */
  x: GPUBuffer;
  /** Offset of the first input element. */
  xOffset: number;
  /** Output buffer, `[batch, outFeatures]` f32 from `outOffset` (overwritten). */
  out: GPUBuffer;
  /** Offset of the first output element. */
  outOffset: number;
  /** Rows. */
  batch: number;
}

/** A linear layer resident on the GPU. */
export interface GpuLinear {
  /** Input width. */
  readonly inFeatures: number;
  /** Output width. */
  readonly outFeatures: number;
  /** The dispatches computing `out = x Wᵀ + b` (bias included), in order. */
  encode(ctx: GpuEncodeContext, call: GpuLinearCall): Dispatch[];
  /** Frees the GPU buffers. */
  destroy(): void;
}

/**
 * Checks that `linear` has the shape `[outF, inF]` expected at `where`, or throws a `bad-shape`
 * error naming both.
 *
 * @example
 * ```ts
 * import { checkLinearShape } from "./linear_layer.ts";
 * import { DenseLinear } from "../model/linear.ts";
 * const lin = new DenseLinear(new Float32Array(6), 3, 2);
 * checkLinearShape(lin, 3, 2, "q_proj"); // fits: returns
 * let message = "";
 * try {
 *   checkLinearShape(lin, 2, 3, "q_proj");
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * if (!message.includes("[3, 2] (out, in); the model needs [2, 3]")) throw new Error(message);
 * ```
 */
export function checkLinearShape(linear: Linear, outF: number, inF: number, where: string): void {
  if (linear.inFeatures !== inF || linear.outFeatures !== outF) {
    throw new QuantlabError(
      "bad-shape",
      `Linear for ${where} is [${linear.outFeatures}, ${linear.inFeatures}] (out, in); ` +
        `the model needs [${outF}, ${inF}]`,
    );
  }
}
