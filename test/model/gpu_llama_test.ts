import assert from "node:assert/strict";
import { gpu, gpuCase } from "../gpu/helpers.ts";
import { GpuLlama } from "../../src/model/gpu_llama.ts";
import { generate } from "../../src/model/generate.ts";
import { llamaKernels, UniformPool } from "../../src/model/gpu_ops.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { DenseLinear, type Linear } from "../../src/model/linear.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { assertClose, CONFIGS, maxAbs, tokens } from "./helpers.ts";

for (const [name, c] of Object.entries(CONFIGS)) {
  Deno.test({
    ...gpuCase(`GpuLlama equals the CPU model: forward, KV-cache decoding and NLL (${name})`),
    fn: async () => {
      const cpu = LlamaModel.fromWeights(c, randomLlamaWeights(c, 21));
      const model = await GpuLlama.create(cpu, gpu!, { nllChunkRows: 3 }); // several LM-head chunks
      try {
        const ids = tokens(9, c.vocabSize, 5);
        const V = c.vocabSize;
        const want = await cpu.forward(ids);
        assertClose(await model.forward(ids), want, 1e-5, `${name} forward`);
        const last = await model.forward(ids, { lastOnly: true });
        assert.ok(maxAbs(last, want.subarray(8 * V)) < 1e-4);
        const cache = model.newCache(16);
        await model.forward(ids.slice(0, 4), { cache });
        for (let t = 4; t < ids.length; t++) {
          const step = await model.forward([ids[t]!], { cache, lastOnly: true });
          assert.ok(maxAbs(step, want.subarray(t * V, (t + 1) * V)) < 1e-4, `position ${t}`);
        }
        assert.equal(cache.length, 9);
        await assert.rejects(() => model.forward(tokens(8, V), { cache }), /at most 16 positions/);
        const nll = await model.nll(ids, 2);
        assert.ok(maxAbs(nll, await cpu.nll(ids, 2)) < 1e-4);
        cache.destroy();
      } finally {
        model.dispose();
      }
    },
  });
}

Deno.test({
  ...gpuCase("GpuLlama runs the tiled GEMM path (≥ 5 rows, edges of a 64-tile) like the CPU"),
  fn: async () => {
    const c = llamaConfig({
      numLayers: 1,
      vocabSize: 70,
      hiddenSize: 40,
      numHeads: 5,
      intermediateSize: 66,
    });
    const cpu = LlamaModel.fromWeights(c, randomLlamaWeights(c, 22));
    const model = await GpuLlama.create(cpu, gpu!);
    try {
      const ids = tokens(67, c.vocabSize); // > 64 rows and > 64 keys (two attention blocks)
      assertClose(await model.forward(ids), await cpu.forward(ids), 1e-5, "tiled");
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  ...gpuCase("GpuLlama.setLinear() swaps a projection; a Linear without toGpu runs from weightF32"),
  fn: async () => {
    const c = llamaConfig({ numLayers: 2 });
    const cpu = LlamaModel.fromWeights(c, randomLlamaWeights(c, 23));
    const model = await GpuLlama.create(cpu, gpu!);
    try {
      const dense = cpu.getLinear(1, "o_proj") as DenseLinear;
      const w = dense.weight.map((v) => v * 1.5);
      const plain: Linear = {
        inFeatures: dense.inFeatures,
        outFeatures: dense.outFeatures,
        forward: (x, b, out) =>
          new DenseLinear(w, dense.outFeatures, dense.inFeatures).forward(x, b, out),
        weightF32: () => w,
      };
      cpu.setLinear(1, "o_proj", plain);
      await model.setLinear(1, "o_proj", plain);
      const ids = tokens(6, c.vocabSize);
      assertClose(await model.forward(ids), await cpu.forward(ids), 1e-5, "swapped");
      const opaque: Linear = { inFeatures: 32, outFeatures: 32, forward: (x) => x };
      await assert.rejects(() => model.setLinear(0, "q_proj", opaque), /neither a GPU kernel/);
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  ...gpuCase(
    "GpuLlama.greedy() chains argmax decoding on the GPU: same tokens as one forward per token",
  ),
  fn: async () => {
    for (const [name, c] of Object.entries(CONFIGS)) {
      const cpu = LlamaModel.fromWeights(c, randomLlamaWeights(c, 31));
      const model = await GpuLlama.create(cpu, gpu!);
      try {
        const prompt = tokens(5, c.vocabSize, 3);
        // generate(): chunks of 3 chained on the GPU against one forward + readback per token.
        const opts = { maxNewTokens: 8 };
        const chained = await generate(model, prompt, { ...opts, greedyChunk: 3 });
        const single = await generate(model, prompt, { ...opts, greedyChunk: 0 });
        assert.deepEqual(chained.tokens, single.tokens, name);
        assert.equal(chained.tokens.length, 8);
        // The cache after greedy() continues like one built token by token.
        const a = model.newCache(16), b = model.newCache(16);
        await model.forward(prompt, { cache: a });
        await model.forward(prompt, { cache: b });
        const ids = await model.greedy(single.tokens[0]!, a, 4);
        assert.deepEqual([...ids], single.tokens.slice(1, 5), `${name} greedy()`);
        assert.equal(a.length, 9);
        for (const t of single.tokens.slice(0, 4)) await model.forward([t], { cache: b });
        const next = single.tokens[4]!;
        const la = await model.forward([next], { cache: a, lastOnly: true });
        const lb = await model.forward([next], { cache: b, lastOnly: true });
        assert.ok(maxAbs(la, lb) < 1e-5, `${name} cache after greedy()`);
        await assert.rejects(() => model.greedy(1, a, 7), /at most 16 positions/);
        assert.equal(a.length, 10, "a refused chain leaves the cache as it was");
        a.destroy();
        b.destroy();
      } finally {
        model.dispose();
      }
    }
  },
});

Deno.test({
  ...gpuCase("ops_argmax picks the lowest index among equal maxima"),
  fn: async () => {
    const k = await llamaKernels(gpu!);
    const pool = new UniformPool(gpu!);
    const n = 1000;
    const logits = new Float32Array(n + 3).map((_, i) => Math.sin(i));
    logits.set([5, 7, 7, 2], 600); // maxima at 601 and 602 (index 598 and 599 after the offset)
    logits[3 + 990] = 7;
    const lb = gpu!.storage(logits), tb = gpu!.storage(4), ib = gpu!.storage(8);
    try {
      const d = k.argmax(pool, { logits: lb, offset: 3, n, tokens: tb, ids: ib, slot: 1 });
      await gpu!.runMany("argmax", [d]);
      const ids = new Uint32Array(await gpu!.read(ib));
      assert.equal(ids[1], 598);
      assert.equal(new Uint32Array(await gpu!.read(tb))[0], 598);
    } finally {
      [lb, tb, ib].forEach((b) => b.destroy());
      pool.destroy();
    }
  },
});
