import assert from "node:assert/strict";
import { forwardLayerSequential } from "../../src/model/sequential_capture.ts";
import {
  captureLayerHessians,
  HESSIAN_GROUPS,
  type HessianGroup,
} from "../../src/model/hessian_capture.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { DenseLinear } from "../../src/model/linear.ts";

// Two layers, grouped-query attention, windows of different lengths.
const config = llamaConfig({
  numLayers: 2,
  hiddenSize: 64,
  numHeads: 4,
  numKvHeads: 2,
  intermediateSize: 96,
});
const WINDOWS = [[1, 5, 9, 2, 7, 3], [4, 4, 8, 1], [11, 12, 13, 14, 15]];
const model = () => LlamaModel.fromWeights(config, randomLlamaWeights(config, 5));
const entering = (m: LlamaModel, layer: number) =>
  Promise.all(WINDOWS.map(async (w) => (await m.captureHidden(w))[layer]!));

Deno.test("forwardLayerSequential() with hooks that change nothing: forwardLayers' outputs and captureLayerHessians' H, bit for bit", async () => {
  const m = model();
  for (let layer = 0; layer < 2; layer++) {
    const hidden = await entering(m, layer);
    const before = hidden.map((h) => h.slice());
    const ref = await captureLayerHessians(m, layer, hidden);
    const groups: HessianGroup[] = [];
    const out = await forwardLayerSequential(m, layer, hidden, (g, acc) => {
      groups.push(g);
      assert.equal(acc.rows, 15, g);
      assert.deepEqual(acc.h, ref.hessians[g].h, `layer ${layer} ${g}`);
    });
    assert.deepEqual(groups, ["qkv", "o", "gateUp", "down"]);
    for (let w = 0; w < hidden.length; w++) {
      assert.deepEqual(out[w], await m.forwardLayers(layer, layer + 1, hidden[w]!));
    }
    assert.deepEqual(hidden, before, "the inputs are not modified");
  }
});

Deno.test("forwardLayerSequential(): each group's H is that of the model as the earlier hooks left it", async () => {
  // The spec: when a group's hook runs, its H equals a fresh capture of the model as it is then
  // (earlier groups replaced), and the outputs are the forward through the replaced layer.
  const m = model();
  const layer = 1;
  const hidden = await entering(m, layer);
  const out = await forwardLayerSequential(m, layer, hidden, async (g, acc) => {
    const fresh = await captureLayerHessians(m, layer, hidden);
    assert.deepEqual(acc.h, fresh.hessians[g].h, g);
    for (const kind of HESSIAN_GROUPS[g]) {
      const lin = m.getLinear(layer, kind);
      const w = lin.weightF32!().map((v, i) => v * (1 + 0.3 * Math.sin(i)));
      m.setLinear(layer, kind, new DenseLinear(w, lin.outFeatures, lin.inFeatures));
    }
  });
  for (let w = 0; w < hidden.length; w++) {
    assert.deepEqual(out[w], await m.forwardLayers(layer, layer + 1, hidden[w]!));
  }
  // The replacements did change something: the H of o differs from the unchanged model's.
  const orig = model();
  const before = await captureLayerHessians(orig, layer, await entering(orig, layer));
  const after = await captureLayerHessians(m, layer, hidden);
  assert.notDeepEqual(after.hessians.o.h, before.hessians.o.h);
});

Deno.test("forwardLayerSequential(): bad layer, no windows or a misshapen window → one clear error", async () => {
  const m = model();
  const nop = () => {};
  await assert.rejects(
    () => forwardLayerSequential(m, 2, [m.embed([1])], nop),
    /Layer 2 does not exist; use 0 to 1/,
  );
  await assert.rejects(() => forwardLayerSequential(m, 0, [], nop), /at least one window/);
  await assert.rejects(
    () => forwardLayerSequential(m, 0, [new Float32Array(65)], nop),
    /Window 0 holds 65 values; expected a positive multiple of d = 64/,
  );
});
