// This module is browser compatible.
/**
 * {@linkcode LutLinear}: a quantized linear layer for the model runtime (`src/model/linear.ts`'s
 * `Linear` seam) that runs on the packed codes — the CPU LUT kernels of `cpu.ts` in `forward`,
 * the WGSL LUT kernel of `gpu.ts` through `toGpu`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Dispatch, Gpu } from "../gpu/device.ts";
import type { GpuEncodeContext, GpuLinear, GpuLinearCall, Linear } from "./linear_layer.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { decodeRotated } from "../quant/decode.ts";
import { type LutCpuTensor, lutMatmul, prepareLut } from "./cpu.ts";
import { type LutRotationMode, uploadQuantized } from "./gpu.ts";
import { unrotateRow } from "./rotate.ts";
import { restoreCheckpointLayout } from "./pair_layout.ts";

/**
 * A linear layer `y = x·Ŵᵀ + b` whose weight stays quantized (any format the LUT kernels cover).
 *
 * @example
 * ```ts
 * import { LutLinear } from "./linear.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const lin = new LutLinear({
 *   method: "rtn", shape: [2, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3, 3, 3, 3, 3], 2, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1, 1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * }, new Float32Array([0, 1]));
 * const y = await lin.forward(new Float32Array([1, 1, 1, 1]), 1);
 * if (y.join() !== "6,13") throw new Error();
 * ```
 */
export class LutLinear implements Linear {
  /** Input width. */
  readonly inFeatures: number;
  /** Output width. */
  readonly outFeatures: number;
  /** Optional bias. */
  readonly bias?: Float32Array;
  /** The quantized weight (its arrays are the CPU kernels' shared copies). */
  readonly q: QuantizedTensor;
  /** Where the GPU version rotates the activations (HIGGS). */
  gpuRotation: LutRotationMode = "auto";
  readonly #cpu: LutCpuTensor;

  /** Wraps `q` (validated; throws `unsupported` for formats the kernels do not cover). */
  constructor(q: QuantizedTensor, bias?: Float32Array, name = "tensor") {
    this.#cpu = prepareLut(q, name);
    // The prepared copy: the caller's arrays can be freed (resident bytes ≈ packed bytes).
    this.q = this.#cpu.q;
    this.outFeatures = q.shape[0];
    this.inFeatures = q.shape[1];
    if (bias) {
      if (bias.length !== this.outFeatures) {
        throw new QuantlabError(
          "bad-shape",
          `Bias of "${name}" holds ${bias.length} values but the layer has ${this.outFeatures} outputs`,
        );
      }
      this.bias = bias;
    }
  }

  /** `out[b, o] = Σ_i x[b, i]·Ŵ[o, i] + bias[o]` from the packed codes (worker pool). */
  async forward(x: Float32Array, batch: number, out?: Float32Array): Promise<Float32Array> {
    const y = await lutMatmul(this.#cpu, x, batch, out ? { out } : {});
    const b = this.bias;
    if (b) {
      const n = this.outFeatures;
      for (let r = 0; r < batch; r++) {
        for (let o = 0; o < n; o++) y[r * n + o] = y[r * n + o]! + b[o]!;
      }
    }
    return y;
  }

  /** The dequantized weight `[outFeatures, inFeatures]` (inverse rotation applied, padding dropped). */
  weightF32(): Float32Array {
    const q = this.q;
    restoreCheckpointLayout(q); // if a `fast` kernel permuted it in place
    const [rows, cols] = q.shape;
    const pc = q.paddedCols;
    const rot = decodeRotated(q);
    const row = new Float64Array(pc);
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < pc; c++) row[c] = rot[r * pc + c]!;
      unrotateRow(row, 0, pc, q.rotation, this.#cpu.signs);
      for (let c = 0; c < cols; c++) out[r * cols + c] = row[c]!;
    }
    return out;
  }

  /** Uploads the codes once; the GPU layer encodes the LUT kernel (and the rotation pass). */
  async toGpu(gpu: Gpu): Promise<GpuLinear> {
    restoreCheckpointLayout(this.q);
    const t = await uploadQuantized(gpu, this.q, this.bias ? { bias: this.bias } : {});
    const rotation = this.gpuRotation;
    return {
      inFeatures: this.inFeatures,
      outFeatures: this.outFeatures,
      encode: (ctx: GpuEncodeContext, call: GpuLinearCall): Dispatch[] =>
        t.encode(ctx, call, { rotation }),
      destroy: () => t.destroy(),
    };
  }
}
