import assert from "node:assert/strict";
import { LlamaModel } from "../../src/model/llama.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { llamaForwardReference, llamaLayersReference } from "../../src/model/reference.ts";
import { tokenNll } from "../../src/model/ops.ts";
import { forceTypeScriptGemm } from "../../src/cpu/matmul.ts";
import { setOpsWasm } from "../../src/model/ops_wasm.ts";
import { assertClose, CONFIGS, maxAbs, tokens } from "./helpers.ts";

for (const [name, c] of Object.entries(CONFIGS)) {
  Deno.test(`LlamaModel.forward() matches the reference forward (${name}, relative error ≤ 1e-5)`, async () => {
    const w = randomLlamaWeights(c, 3);
    const model = LlamaModel.fromWeights(c, w);
    const ids = tokens(11, c.vocabSize);
    assertClose(await model.forward(ids), llamaForwardReference(c, w, ids), 1e-5, name);
  });

  Deno.test(`LlamaModel logits of a prefix do not change when tokens are appended (${name})`, async () => {
    const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 4));
    const ids = tokens(12, c.vocabSize, 2);
    const full = await model.forward(ids);
    const prefix = await model.forward(ids.slice(0, 5));
    assert.ok(maxAbs(prefix, full.subarray(0, 5 * c.vocabSize)) < 1e-5);
  });

  Deno.test(`LlamaModel KV-cache decoding equals the full forward (${name})`, async () => {
    const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 5));
    const ids = tokens(10, c.vocabSize, 3);
    const V = c.vocabSize;
    const full = await model.forward(ids);
    const cache = model.newCache(4); // capacity is a hard cap
    await assert.rejects(() => model.forward(ids, { cache }), /at most 4 positions/);
    const cache2 = model.newCache(64);
    const head = await model.forward(ids.slice(0, 3), { cache: cache2 });
    assert.ok(maxAbs(head, full.subarray(0, 3 * V)) < 1e-5);
    // Two tokens at once, then one at a time.
    const two = await model.forward(ids.slice(3, 5), { cache: cache2 });
    assert.ok(maxAbs(two, full.subarray(3 * V, 5 * V)) < 1e-5);
    for (let t = 5; t < ids.length; t++) {
      const step = await model.forward([ids[t]!], { cache: cache2, lastOnly: true });
      assert.ok(maxAbs(step, full.subarray(t * V, (t + 1) * V)) < 1e-5, `position ${t}`);
    }
    assert.equal(cache2.length, ids.length);
  });
}

Deno.test("LlamaModel applies the sliding window: a Mistral window of 3 differs from full attention", async () => {
  const c = CONFIGS.mistral!;
  const w = randomLlamaWeights(c, 6);
  const ids = tokens(9, c.vocabSize, 4);
  const windowed = await LlamaModel.fromWeights(c, w).forward(ids);
  const full = await LlamaModel.fromWeights({ ...c, slidingWindow: null }, w).forward(ids);
  const V = c.vocabSize;
  // The first 3 positions see the same keys either way; later ones do not.
  assert.ok(maxAbs(windowed.subarray(0, 3 * V), full.subarray(0, 3 * V)) < 1e-5);
  assert.ok(maxAbs(windowed.subarray(3 * V), full.subarray(3 * V)) > 1e-3);
  assertClose(windowed, llamaForwardReference(c, w, ids), 1e-5, "windowed vs reference");
});

Deno.test("LlamaModel applies Qwen2's window only from max_window_layers on", async () => {
  const base = CONFIGS.qwen2!;
  const c = { ...base, numLayers: 3, slidingWindow: 2, slidingWindowFromLayer: 2 };
  const w = randomLlamaWeights(c, 7);
  const ids = tokens(8, c.vocabSize);
  assertClose(
    await LlamaModel.fromWeights(c, w).forward(ids),
    llamaForwardReference(c, w, ids),
    1e-5,
    "qwen2",
  );
});

Deno.test("LlamaModel.forward() matches the reference with the TypeScript GEMM and a long block", async () => {
  forceTypeScriptGemm(true);
  try {
    const c = llamaConfig({ numLayers: 1, vocabSize: 40 });
    const w = randomLlamaWeights(c, 8);
    const ids = tokens(130, c.vocabSize); // > one 128-row attention block
    assertClose(
      await LlamaModel.fromWeights(c, w).forward(ids),
      llamaForwardReference(c, w, ids),
      1e-5,
      "ts gemm",
    );
  } finally {
    forceTypeScriptGemm(false);
  }
});

Deno.test("LlamaModel.forward() matches the reference with and without the wasm softmax/SwiGLU", async () => {
  const c = CONFIGS.llama3!;
  const w = randomLlamaWeights(c, 13);
  const model = LlamaModel.fromWeights(c, w);
  const ids = tokens(150, c.vocabSize); // > one 128-row attention block
  const want = llamaForwardReference(c, w, ids);
  try {
    for (const on of [true, false]) {
      setOpsWasm(on);
      assertClose(await model.forward(ids), want, 1e-5, on ? "wasm" : "typescript");
    }
  } finally {
    setOpsWasm(true);
  }
});

Deno.test("LlamaModel.nll() equals the log-softmax of the forward logits", async () => {
  const c = CONFIGS.qwen2!;
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 9));
  const ids = tokens(10, c.vocabSize);
  const logits = await model.forward(ids);
  const nll = await model.nll(ids, 3);
  assert.equal(nll.length, 7);
  for (let t = 3; t < ids.length; t++) {
    const want = tokenNll(logits, (t - 1) * c.vocabSize, c.vocabSize, ids[t]!);
    assert.ok(Math.abs(nll[t - 3]! - want) < 1e-5);
  }
  await assert.rejects(() => model.nll(ids, 0), /First scored position 0/);
});

Deno.test("LlamaModel.captureHidden() and forwardFrom() resume the forward at any layer", async () => {
  const c = llamaConfig({ numLayers: 3 });
  const w = randomLlamaWeights(c, 10);
  const model = LlamaModel.fromWeights(c, w);
  const ids = tokens(7, c.vocabSize);
  const full = await model.forward(ids);
  const states = await model.captureHidden(ids);
  assert.equal(states.length, c.numLayers + 1);
  assert.deepEqual(states[0], model.embed(ids));
  for (let l = 0; l <= c.numLayers; l++) {
    assert.ok(maxAbs(await model.forwardFrom(l, states[l]!), full) < 1e-5, `layer ${l}`);
  }
  // Hidden states equal the reference trunk.
  assertClose(states[2]!, llamaLayersReference(c, w, states[0]!, 7, 0, 2), 1e-5, "hidden 2");
  const nll = await model.nllFrom(1, states[1]!, ids, 1);
  assert.ok(maxAbs(nll, await model.nll(ids, 1)) < 1e-6);
});

Deno.test("LlamaModel.setLinear() swaps one projection and changes only the layers after it", async () => {
  const c = llamaConfig({ numLayers: 3 });
  const w = randomLlamaWeights(c, 11);
  const model = LlamaModel.fromWeights(c, w);
  const ids = tokens(6, c.vocabSize);
  const before = await model.captureHidden(ids);
  const orig = model.getLinear(1, "up_proj") as DenseLinear;
  const perturbed = orig.weight.map((v, i) => v + (i % 3 === 0 ? 0.05 : 0));
  const old = model.setLinear(
    1,
    "up_proj",
    new DenseLinear(perturbed, orig.outFeatures, orig.inFeatures),
  );
  assert.equal(old, orig);
  const after = await model.captureHidden(ids);
  assert.deepEqual(after[1], before[1]);
  assert.ok(maxAbs(after[2]!, before[2]!) > 1e-4);
  // The reference built from the model's current (dense) weights agrees.
  assertClose(
    await model.forward(ids),
    llamaForwardReference(c, model.denseWeights(), ids),
    1e-5,
    "swapped",
  );
  assert.throws(
    () => model.setLinear(1, "up_proj", new DenseLinear(new Float32Array(4), 2, 2)),
    /model.layers.1.mlp.up_proj is \[2, 2\]/,
  );
  assert.throws(() => model.getLinear(7, "q_proj"), /Layer 7 does not exist/);
});

Deno.test("LlamaModel accepts a Promise-returning Linear (pool-backed kernels)", async () => {
  const c = llamaConfig({ numLayers: 1 });
  const w = randomLlamaWeights(c, 12);
  const model = LlamaModel.fromWeights(c, w);
  const ids = tokens(5, c.vocabSize);
  const want = await model.forward(ids);
  const dense = model.getLinear(0, "down_proj") as DenseLinear;
  model.setLinear(0, "down_proj", {
    inFeatures: dense.inFeatures,
    outFeatures: dense.outFeatures,
    forward: (x, batch, out) => Promise.resolve(dense.forward(x, batch, out)),
  });
  assert.ok(maxAbs(await model.forward(ids), want) === 0);
});

Deno.test("LlamaModel rejects token ids outside the vocabulary", async () => {
  const c = llamaConfig();
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
  await assert.rejects(
    () => model.forward([1, 64]),
    /Token id 64 at position 1 is outside the vocabulary \[0, 64\)/,
  );
  await assert.rejects(() => model.forward([]), /at least one token/);
});
