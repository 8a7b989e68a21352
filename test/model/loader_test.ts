import assert from "node:assert/strict";
import { gpuCase, needGpu } from "../gpu/helpers.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { loadCausalLM, loadModel, loadTokenizer, writeHfFolder } from "../../src/model/loader.ts";
import { modelHash } from "../../src/io/model_folder.ts";
import {
  buildLlamaModel,
  type LinearSpec,
  memorySource,
  registerLinearFactory,
} from "../../src/model/build.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { llamaForwardReference } from "../../src/model/reference.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";
import { assertClose, CONFIGS, tokens } from "./helpers.ts";

const TOKENIZER = byteLevelTokenizerJson();
const VOCAB = 460; // the tokenizer has 458 ids; models often pad the vocabulary

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-model-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const CASES = [
  {
    name: "Llama (llama3 rope scaling, tied embeddings, sharded f32)",
    c: CONFIGS.llama3!,
    dtype: "F32",
    shard: 40000,
  },
  { name: "Qwen2 (q/k/v bias, f16)", c: CONFIGS.qwen2!, dtype: "F16" },
  { name: "Mistral (sliding window 3 < sequence, bf16)", c: CONFIGS.mistral!, dtype: "BF16" },
] as const;

for (const { name, c: base, dtype, ...rest } of CASES) {
  Deno.test(`loadModel() loads and runs a ${name} folder end to end`, async () => {
    const c = { ...base, vocabSize: VOCAB };
    const w = randomLlamaWeights(c, 31);
    await withDir(async (dir) => {
      await writeHfFolder(dir, c, llamaTensors(c, w, dtype), {
        tokenizer: TOKENIZER,
        tokenizerConfig: tinyTokenizerConfig(),
        ...("shard" in rest ? { shardBytes: rest.shard } : {}),
      });
      const model = await loadModel(dir);
      assert.deepEqual(model.config, c);
      const tok = await loadTokenizer(dir);
      const ids = tok.encode("the model reads the word");
      assert.equal(ids[0], tok.tokenToId("<s>"));
      assert.ok(ids.length > 4);
      const logits = await model.forward(ids);
      // The reference on the loaded (rounded) weights is the spec …
      assertClose(logits, llamaForwardReference(c, model.denseWeights(), ids), 1e-5, "loaded");
      // … and the weights are the ones written, up to the dtype's rounding.
      const tol = dtype === "F32" ? 1e-6 : dtype === "F16" ? 3e-3 : 2e-2;
      assertClose(logits, llamaForwardReference(c, w, ids), tol, "original weights");
    });
  });
}

Deno.test("loadModel() names a missing tensor, a missing bias and a missing lm_head", async () => {
  const c = { ...CONFIGS.qwen2!, vocabSize: VOCAB };
  const all = llamaTensors(c, randomLlamaWeights(c, 32));
  await withDir(async (dir) => {
    const { ["model.layers.1.mlp.up_proj.weight"]: _a, ...noUp } = all;
    await writeHfFolder(dir, c, noUp);
    await assert.rejects(
      () => loadModel(dir),
      /Checkpoint lacks tensor "model.layers.1.mlp.up_proj.weight", which Qwen2ForCausalLM needs/,
    );
    const { ["model.layers.0.self_attn.k_proj.bias"]: _b, ...noBias } = all;
    await writeHfFolder(dir, c, noBias);
    await assert.rejects(
      () => loadModel(dir),
      /lacks tensor "model.layers.0.self_attn.k_proj.bias"/,
    );
    const { ["lm_head.weight"]: _c, ...noHead } = all;
    await writeHfFolder(dir, c, noHead);
    await assert.rejects(
      () => loadModel(dir),
      /lacks tensor "lm_head.weight" and config.json sets tie_word_embeddings false/,
    );
    await writeHfFolder(dir, c, { ...all, "model.norm.weight": Tensor.zeros([3]) });
    await assert.rejects(
      () => loadModel(dir),
      /"model.norm.weight" has shape \[3\]; the config needs \[48\]/,
    );
  });
});

Deno.test("loadModel() names an unknown architecture, and a missing config.json", async () => {
  const c = llamaConfig();
  await withDir(async (dir) => {
    await assert.rejects(() => loadModel(dir), /Model config not found/);
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)), {
      extraConfig: { architectures: ["PhiForCausalLM"] },
    });
    await assert.rejects(
      () => loadModel(dir),
      /Architecture PhiForCausalLM is not supported; use one of LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM/,
    );
  });
});

Deno.test("loadModel() routes quantized folders through linearFactory or the registered factory", async () => {
  const c = llamaConfig({ vocabSize: VOCAB });
  const w = randomLlamaWeights(c, 33);
  await withDir(async (dir) => {
    const tensors = llamaTensors(c, w);
    await writeHfFolder(dir, c, tensors, {
      extraConfig: { quantization_config: { quant_method: "test-method", bits: 4 } },
    });
    await assert.rejects(
      () => loadModel(dir),
      /quant_method "test-method" and no loader is registered/,
    );
    const asked: string[] = [];
    const factory = (spec: LinearSpec) => {
      asked.push(spec.name);
      if (spec.kind !== "q_proj") return undefined; // dense for the rest
      // A "quantized" q_proj: the dense weight scaled by 2, read from the checkpoint itself.
      return spec.source.read(`${spec.name}.weight`).then((t) =>
        new DenseLinear(
          (t.data as Float32Array).map((v) => 2 * v),
          spec.outFeatures,
          spec.inFeatures,
        )
      );
    };
    const model = await loadModel(dir, { linearFactory: factory });
    assert.equal(asked.length, 7 * c.numLayers + 1);
    assert.ok(asked.includes("model.layers.1.self_attn.q_proj") && asked.includes("lm_head"));
    const ids = tokens(6, c.vocabSize);
    w.layers.forEach((L) => (L.q_proj = { weight: L.q_proj.weight.map((v) => 2 * v) }));
    assertClose(await model.forward(ids), llamaForwardReference(c, w, ids), 1e-5, "factory");
    registerLinearFactory("test-method", factory);
    assert.equal((await loadModel(dir)).config.quantization?.quant_method, "test-method");
  });
});

Deno.test("buildLlamaModel() builds from tensors in memory like LlamaModel.fromWeights()", async () => {
  const c = CONFIGS.mistral!;
  const w = randomLlamaWeights(c, 34);
  const a = await buildLlamaModel(c, memorySource(llamaTensors(c, w)));
  const ids = tokens(7, c.vocabSize);
  assert.deepEqual(await a.forward(ids), await LlamaModel.fromWeights(c, w).forward(ids));
});

Deno.test("modelHash() is stable for a folder and changes with the weights", async () => {
  const c = llamaConfig();
  await withDir(async (dir) => {
    await writeHfFolder(`${dir}/a`, c, llamaTensors(c, randomLlamaWeights(c, 1)));
    await writeHfFolder(`${dir}/b`, c, llamaTensors(c, randomLlamaWeights(c, 2)));
    const a = await modelHash(`${dir}/a`);
    assert.equal(await modelHash(`${dir}/a`), a);
    assert.notEqual(await modelHash(`${dir}/b`), a);
  });
});

Deno.test({
  ...gpuCase("loadCausalLM() places a folder on the CPU or on WebGPU with equal logits"),
  fn: async () => {
    const c = { ...CONFIGS.qwen2!, vocabSize: VOCAB };
    await withDir(async (dir) => {
      await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 35)));
      const cpu = await loadCausalLM(dir, { kind: "cpu" });
      assert.equal(cpu.backend, "cpu");
      const gpu = needGpu();
      const web = await loadCausalLM(dir, { kind: "webgpu", gpu });
      try {
        assert.equal(web.backend, "webgpu");
        const ids = tokens(5, c.vocabSize);
        assertClose(await web.forward(ids), await cpu.forward(ids), 1e-5, "cpu vs webgpu");
      } finally {
        web.dispose();
      }
    });
  },
});
