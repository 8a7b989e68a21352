/**
 * The layer objective on real activations: for every projection of the embedded tiny Llama
 * (`assets/tiny-llama`), the Hessian H = 2XᵀX of its inputs over calibration windows of the Brown
 * training split (captured layer by layer from the unquantized model), then the ratio
 * tr((W − Ŵ)H(W − Ŵ)ᵀ) of GPTQ over the data-free quantizer of the same grid (< 1: GPTQ wins).
 *
 *     deno run -A bench/gptq_objective.ts [--samples 32] [--ctx 256] [--act-order]
 *                                         [--grids higgs:p=2,bits=3,h=256;rtn:bits=3,group=128]
 *
 * The issue-22 goal this checks: ‖(W − Ŵ)X‖² with GPTQ below the data-free quantizer's on the
 * same calibration inputs, for every projection.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { evalWindows } from "../src/cli/text_source.ts";
import { loadModel } from "../src/model/loader.ts";
import { captureLayerHessians, HESSIAN_GROUPS } from "../src/model/hessian_capture.ts";
import { gptqQuantize } from "../src/quant/gptq.ts";
import { parseGridSpec } from "../src/quant/grid_spec.ts";
import { dequantize } from "../src/quant/dequantize.ts";
import { hessianError } from "../src/quant/error_metrics.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "assets/tiny-llama" },
      samples: { type: "string", default: "32" },
      ctx: { type: "string", default: "256" },
      "act-order": { type: "boolean", default: false },
      grids: {
        type: "string",
        default: "higgs:p=2,bits=3,h=256;higgs:p=2,bits=2,h=256;rtn:bits=3,group=128;nf4:group=64",
      },
    },
  });
  const model = await loadModel(values.model);
  const { windows } = await evalWindows(
    values.model,
    "brown:train",
    Number(values.samples),
    Number(values.ctx),
    model.config.vocabSize,
    0,
  );
  const grids = values.grids.split(";");
  console.log(`layer projection  ${grids.map((g) => g.padEnd(24)).join(" ")}`);
  let hidden = windows.map((w) => model.embed(w));
  for (let l = 0; l < model.numLayers; l++) {
    const cap = await captureLayerHessians(model, l, hidden);
    hidden = cap.outputs;
    for (const [group, kinds] of Object.entries(HESSIAN_GROUPS)) {
      const h = cap.hessians[group as keyof typeof HESSIAN_GROUPS].h;
      for (const kind of kinds) {
        const lin = model.getLinear(l, kind);
        const w = lin.weightF32!();
        const [rows, cols] = [lin.outFeatures, lin.inFeatures];
        const cells: string[] = [];
        for (const g of grids) {
          const r = await gptqQuantize(w, rows, cols, h, parseGridSpec(g), {
            actOrder: values["act-order"],
          });
          const ratio = hessianError(w, dequantize(r.tensor), h, rows, cols) /
            hessianError(w, dequantize(r.dataFree), h, rows, cols);
          cells.push(ratio.toFixed(3).padEnd(24));
        }
        console.log(`${String(l).padEnd(5)} ${kind.padEnd(10)}  ${cells.join(" ")}`);
      }
    }
  }
}
