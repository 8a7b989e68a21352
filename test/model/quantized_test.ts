import assert from "node:assert/strict";
import { loadModel, writeHfFolder } from "../../src/model/loader.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { LutLinear } from "../../src/lut/linear.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { LINEAR_KINDS } from "../../src/model/types.ts";
import { getGpu } from "../../src/gpu/device.ts";
import { GpuLlama } from "../../src/model/gpu_llama.ts";

const TOKENS = [1, 5, 9, 2, 33, 17, 60, 4, 8, 40];

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

for (
  const [method, options] of [
    ["higgs", { p: 2, bits: 4, hadamard: 64, seed: 3 }],
    ["hqq", { bits: 4, groupSize: 16 }],
    ["nf4", { groupSize: 32 }],
  ] as const
) {
  Deno.test(`a ${method} checkpoint loads as LUT layers that equal the dequantized dense model`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "quantlab-qmodel-" });
    try {
      const c = llamaConfig({ architecture: "Qwen2ForCausalLM", hiddenSize: 64, numHeads: 4 });
      await writeHfFolder(`${dir}/dense`, c, llamaTensors(c, randomLlamaWeights(c, 7)));
      await quantizeCheckpoint(`${dir}/dense`, `${dir}/q`, { method, options });
      const model = await loadModel(`${dir}/q`);
      // Every projection runs on packed codes; the dense twin uses the dequantized weights.
      const twin = await loadModel(`${dir}/dense`);
      const ck = await QuantizedCheckpoint.open(`${dir}/q`);
      try {
        for (let l = 0; l < c.numLayers; l++) {
          for (const kind of LINEAR_KINDS) {
            const lin = model.getLinear(l, kind);
            assert.ok(lin instanceof LutLinear, `layer ${l} ${kind} is ${lin.constructor.name}`);
            const w = dequantize(lin.q);
            twin.setLinear(l, kind, new DenseLinear(w, lin.outFeatures, lin.inFeatures, lin.bias));
          }
        }
        assert.ok(ck.quantizedNames.length === c.numLayers * LINEAR_KINDS.length);
      } finally {
        ck.close();
      }
      const a = await model.forward(TOKENS);
      const b = await twin.forward(TOKENS);
      assert.ok(relErr(a, b) < 1e-5, `logits differ: ${relErr(a, b)}`);
      const gpu = await getGpu();
      if (gpu) {
        const g = await GpuLlama.create(model, gpu);
        const lg = await g.forward(TOKENS);
        assert.ok(relErr(lg, b) < 1e-4, `GPU logits differ: ${relErr(lg, b)}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
