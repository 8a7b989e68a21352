import assert from "node:assert/strict";
import {
  architectureOf,
  checkForwardSupports,
  LINEAR_KINDS,
  MODEL_FAMILIES,
  SUPPORTED_ARCHITECTURES,
} from "../../src/model/family.ts";
import { llamaConfig, parseHfConfig, toHfConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { llamaForwardReference } from "../../src/model/reference.ts";
import { LlamaModel } from "../../src/model/llama.ts";

Deno.test("every supported architecture has a descriptor the forwards implement", () => {
  assert.deepEqual(Object.keys(MODEL_FAMILIES).sort(), [...SUPPORTED_ARCHITECTURES].sort());
  for (const f of Object.values(MODEL_FAMILIES)) {
    checkForwardSupports(f, "the CPU forward");
    assert.equal(architectureOf({ model_type: f.modelType }), f.architecture);
    assert.equal(architectureOf({ architectures: [f.architecture] }), f.architecture);
  }
});

Deno.test("each family's options survive config.json (bias, sliding window)", () => {
  const cases = [
    llamaConfig({ architecture: "LlamaForCausalLM", qkvBias: true, oBias: true, mlpBias: true }),
    llamaConfig({ architecture: "Qwen2ForCausalLM", slidingWindow: 8, slidingWindowFromLayer: 1 }),
    llamaConfig({ architecture: "MistralForCausalLM", slidingWindow: 4 }),
  ];
  for (const c of cases) {
    const back = parseHfConfig(toHfConfig(c));
    for (const k of ["qkvBias", "oBias", "mlpBias", "slidingWindow", "slidingWindowFromLayer"]) {
      assert.deepEqual(
        back[k as keyof typeof back],
        c[k as keyof typeof c],
        `${c.architecture} ${k}`,
      );
    }
  }
});

Deno.test("a random model of each family is named by its descriptor and runs the same forward", async () => {
  for (const f of Object.values(MODEL_FAMILIES)) {
    const c = llamaConfig({ architecture: f.architecture });
    const w = randomLlamaWeights(c, 3);
    const names = Object.keys(llamaTensors(c, w));
    assert.ok(names.includes(f.tensors.embed) && names.includes(f.tensors.finalNorm));
    for (const kind of LINEAR_KINDS) {
      assert.ok(names.includes(`${f.tensors.projection(1, kind)}.weight`), `${kind}`);
    }
    const ids = [1, 5, 2, 7];
    const ref = llamaForwardReference(c, w, ids);
    const cpu = await LlamaModel.fromWeights(c, w).forward(ids);
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(ref[i]! - cpu[i]!) < 1e-3);
  }
});
