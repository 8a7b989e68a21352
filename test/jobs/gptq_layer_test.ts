/**
 * gptqLayer's one-pass "true sequential" order against its specification: a plain sequential GPTQ
 * that quantizes one projection group at a time and recomputes that group's inputs from scratch
 * with the full forward (embeddings → the layer) of the model as it is, earlier groups replaced.
 */
import assert from "node:assert/strict";
import { gptqLayer, type ProjectionStats } from "../../src/jobs/gptq_layer.ts";
import { gptqQuantize } from "../../src/quant/gptq.ts";
import { parseGridSpec } from "../../src/quant/grid_spec.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { hessianError } from "../../src/quant/error_metrics.ts";
import { captureLayerHessians, HESSIAN_GROUPS } from "../../src/model/hessian_capture.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { DenseLinear } from "../../src/model/linear.ts";

const config = llamaConfig({
  numLayers: 2,
  hiddenSize: 64,
  numHeads: 4,
  numKvHeads: 2,
  intermediateSize: 128,
});
const WINDOWS = [[1, 5, 9, 2, 7, 3, 8, 8, 20], [4, 4, 8, 1, 30, 31], [11, 12, 13, 14, 15, 16, 2]];
const name = (l: number, k: string) => `${l}.${k}`;
const model = () => LlamaModel.fromWeights(config, randomLlamaWeights(config, 9));

/** The specification: group by group, each group's inputs from a full forward of the model. */
async function reference(spec: string) {
  const m = model();
  const tensors = new Map<string, QuantizedTensor>();
  const stats: ProjectionStats[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    for (const [group, kinds] of Object.entries(HESSIAN_GROUPS)) {
      const hidden = await Promise.all(
        WINDOWS.map((w) => l === 0 ? m.embed(w) : m.forwardLayers(0, l, m.embed(w))),
      );
      const h = (await captureLayerHessians(m, l, hidden)).hessians[group as "qkv"].h;
      for (const kind of kinds) {
        const lin = m.getLinear(l, kind);
        const [rows, cols] = [lin.outFeatures, lin.inFeatures];
        const w = lin.weightF32!();
        const r = await gptqQuantize(w, rows, cols, h, parseGridSpec(spec));
        const what = dequantize(r.tensor);
        tensors.set(name(l, kind), r.tensor);
        stats.push({
          name: name(l, kind),
          error: hessianError(w, what, h, rows, cols) / 2,
          dataFreeError: hessianError(w, dequantize(r.dataFree), h, rows, cols) / 2,
          energy: hessianError(w, new Float32Array(w.length), h, rows, cols) / 2,
          dead: r.dead,
        });
        m.setLinear(l, kind, new DenseLinear(what, rows, cols));
      }
    }
  }
  return { m, tensors, stats };
}

for (const spec of ["higgs:p=2,bits=3", "rtn:bits=3,group=32"]) {
  Deno.test(`gptqLayer() over the layers equals the projection-by-projection reference (${spec})`, async () => {
    const ref = await reference(spec);
    const m = model();
    let hidden = WINDOWS.map((w) => m.embed(w));
    const stats: ProjectionStats[] = [];
    const ticks: string[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      const r = await gptqLayer(m, l, hidden, (k) => name(l, k), parseGridSpec(spec), {}, (n) => {
        ticks.push(n);
      });
      for (const [n, t] of r.tensors) assert.deepEqual(t, ref.tensors.get(n), n);
      assert.equal(r.tensors.size, 7);
      stats.push(...r.stats);
      // The outputs are the states through the quantized layer: the next layer's inputs.
      for (let w = 0; w < WINDOWS.length; w++) {
        const full = await ref.m.forwardLayers(0, l + 1, ref.m.embed(WINDOWS[w]!));
        assert.deepEqual(r.outputs[w], full, `layer ${l} window ${w}`);
      }
      hidden = r.outputs;
    }
    assert.deepEqual(stats, ref.stats);
    assert.deepEqual(ticks, ref.stats.map((s) => s.name));
    assert.ok(stats.every((s) => s.error < s.dataFreeError && s.dataFreeError < s.energy));
  });
}
