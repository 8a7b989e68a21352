/**
 * One decoder layer of sequential GPTQ (Frantar et al., ICLR 2023) in "true sequential" order
 * (AutoGPTQ's `true_sequential`): the layer runs once over the calibration windows
 * (`forwardLayerSequential`), stopping at each projection group — q/k/v, o, gate/up, down — once
 * the group's Hessian H = 2XᵀX is complete; the group's projections are quantized by the
 * per-matrix GPTQ (`src/quant/gptq.ts`) with the chosen grid and replaced by the quantized weights
 * (dequantized, dense) before the pass goes on. So each projection is calibrated on inputs that
 * come through the quantized projections before it (those of earlier layers and of this one), and
 * the pass's outputs — through the quantized layer — are the next layer's inputs.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type GptqOptions, gptqQuantize } from "../quant/gptq.ts";
import type { GridSpec } from "../quant/grid_spec.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { dequantize } from "../quant/dequantize.ts";
import { hessianError } from "../quant/error_metrics.ts";
import { HESSIAN_GROUPS } from "../model/hessian_capture.ts";
import { forwardLayerSequential } from "../model/sequential_capture.ts";
import { DenseLinear } from "../model/linear.ts";
import type { LlamaModel } from "../model/llama.ts";
import type { LinearKind } from "../model/types.ts";

/** What GPTQ did to one projection, on the calibration inputs X of its layer. */
export interface ProjectionStats {
  /** The weight's tensor name. */
  name: string;
  /** ‖(W − Ŵ)Xᵀ‖² with GPTQ's Ŵ (the layer's output error, summed over tokens). */
  error: number;
  /** The same with the data-free quantization of the same grid. */
  dataFreeError: number;
  /** ‖WXᵀ‖², the output's energy (for relative errors). */
  energy: number;
  /** Dead inputs (never active in the calibration set), zeroed. */
  dead: number;
}

/** What {@linkcode gptqLayer} returns. */
export interface GptqLayerResult {
  /** The quantized weights, by tensor name. */
  tensors: Map<string, QuantizedTensor>;
  /** Per projection, in model order. */
  stats: ProjectionStats[];
  /** The states leaving the quantized layer, per window (the next layer's inputs). */
  outputs: Float32Array[];
}

/**
 * Quantizes the projections of layer `layer` of `model` with GPTQ, calibrated on `hidden` (one
 * `[T, d]` array per calibration window: the states entering the layer), and puts the quantized
 * weights in the model (see the module doc). `nameOf(kind)` gives a projection's weight name;
 * `tick` is called after each projection.
 *
 * @example
 * ```ts
 * import { gptqLayer } from "./gptq_layer.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { llamaConfig } from "../model/config.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * const c = llamaConfig({ numLayers: 1 });
 * const m = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const r = await gptqLayer(m, 0, [m.embed([1, 2, 3, 4, 5, 6, 7, 8])], (k) => k,
 *   { method: "rtn", opts: { bits: 3, groupSize: 32 } });
 * if (r.stats.length !== 7 || !(r.stats[0]!.error <= r.stats[0]!.dataFreeError)) throw new Error();
 * ```
 */
export async function gptqLayer(
  model: LlamaModel,
  layer: number,
  hidden: readonly Float32Array[],
  nameOf: (kind: LinearKind) => string,
  spec: GridSpec,
  opts: Omit<GptqOptions, "name"> = {},
  tick: (name: string) => void = () => {},
): Promise<GptqLayerResult> {
  const tensors = new Map<string, QuantizedTensor>();
  const stats: ProjectionStats[] = [];
  const outputs = await forwardLayerSequential(model, layer, hidden, async (group, acc) => {
    const h = acc.h;
    for (const kind of HESSIAN_GROUPS[group]) {
      const name = nameOf(kind);
      const lin = model.getLinear(layer, kind);
      if (!lin.weightF32) {
        throw new QuantlabError(
          "unsupported",
          `Cannot run GPTQ on ${JSON.stringify(name)}: its layer has no dense weight`,
        );
      }
      const w = lin.weightF32();
      const [rows, cols] = [lin.outFeatures, lin.inFeatures];
      const r = await gptqQuantize(w, rows, cols, h, spec, { ...opts, name });
      const what = dequantize(r.tensor);
      // hessianError is tr(ΔHΔᵀ) = 2‖ΔXᵀ‖² for H = 2XᵀX.
      stats.push({
        name,
        error: hessianError(w, what, h, rows, cols) / 2,
        dataFreeError: hessianError(w, dequantize(r.dataFree), h, rows, cols) / 2,
        energy: hessianError(w, new Float32Array(w.length), h, rows, cols) / 2,
        dead: r.dead,
      });
      tensors.set(name, r.tensor);
      model.setLinear(layer, kind, new DenseLinear(what, rows, cols, lin.bias));
      tick(name);
    }
  });
  return { tensors, stats, outputs };
}

/**
 * Puts quantized weights (by tensor name, as {@linkcode gptqLayer} returns them) into layer
 * `layer` of `model` as dense dequantized projections: how a resumed run rebuilds the layers an
 * earlier run finished.
 *
 * @example
 * ```ts
 * import { gptqLayer, setQuantizedLayer } from "./gptq_layer.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { llamaConfig } from "../model/config.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * const c = llamaConfig({ numLayers: 1 });
 * const a = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const b = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const r = await gptqLayer(a, 0, [a.embed([1, 2, 3, 4])], (k) => k, { method: "nf4", opts: { groupSize: 32 } });
 * setQuantizedLayer(b, 0, r.tensors, (k) => k);
 * if (b.getLinear(0, "v_proj").weightF32!()[3] !== a.getLinear(0, "v_proj").weightF32!()[3]) {
 *   throw new Error();
 * }
 * ```
 */
export function setQuantizedLayer(
  model: LlamaModel,
  layer: number,
  tensors: ReadonlyMap<string, QuantizedTensor>,
  nameOf: (kind: LinearKind) => string,
): void {
  for (const kinds of Object.values(HESSIAN_GROUPS)) {
    for (const kind of kinds) {
      const name = nameOf(kind);
      const t = tensors.get(name);
      if (!t) {
        throw new QuantlabError("bad-file", `The GPTQ results of layer ${layer} lack ${name}`);
      }
      const lin = model.getLinear(layer, kind);
      model.setLinear(
        layer,
        kind,
        new DenseLinear(dequantize(t), lin.outFeatures, lin.inFeatures, lin.bias),
      );
    }
  }
}
