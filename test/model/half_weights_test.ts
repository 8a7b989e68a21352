import assert from "node:assert/strict";
import { forceGemmBackend } from "../../src/cpu/matmul.ts";
import { setWasmGemmThreads } from "../../src/cpu/wasm_gemm.ts";
import { setHalfTileElements } from "../../src/cpu/half_matmul.ts";
import { llamaConfig, type LlamaConfig } from "../../src/model/config.ts";
import { DenseLinear, HalfLinear } from "../../src/model/linear.ts";
import type { LlamaModel } from "../../src/model/llama.ts";
import { loadModel, writeHfFolder } from "../../src/model/loader.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { LINEAR_KINDS } from "../../src/model/types.ts";

/** Bit patterns of an f32 array. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

// Odd widths (d 36, MLP 52, vocab 71) so every product cuts into several tiles and a short one.
const SHAPES = { hiddenSize: 36, numHeads: 3, numKvHeads: 1, intermediateSize: 52, vocabSize: 71 };

/** Loads one folder both ways and compares; GEMM on WebAssembly (exact tile = whole equality). */
async function compare(
  arch: LlamaConfig["architecture"],
  tie: boolean,
  dtype: "BF16" | "F16",
): Promise<{ kept: LlamaModel; widened: LlamaModel }> {
  const c = llamaConfig({ architecture: arch, tieWordEmbeddings: tie, ...SHAPES });
  const dir = await Deno.makeTempDir();
  try {
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 7), dtype));
    const kept = await loadModel(dir, { halfWeights: "keep" });
    const widened = await loadModel(dir);
    const tokens = [3, 70, 0, 12, 5, 5, 41];
    for (const lastOnly of [false, true]) {
      const a = await kept.forward(tokens, { lastOnly });
      const b = await widened.forward(tokens, { lastOnly });
      assert.deepEqual(bits(a), bits(b), `${arch} tie ${tie} ${dtype} lastOnly ${lastOnly}`);
    }
    assert.deepEqual(bits(kept.embedding), bits(widened.embedding));
    return { kept, widened };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("halfWeights keep: bf16/f16 folders (tied, untied, with biases) give the widened model's logits to the bit", async () => {
  // The WebAssembly GEMM sums each output in an order independent of the rows per call (see
  // src/cpu/half_matmul.ts), so a kept model must equal the widened one exactly.
  forceGemmBackend("wasm");
  setWasmGemmThreads(false);
  setHalfTileElements(640); // tiles of 16 rows at width 36, of 12 at width 52
  try {
    for (
      const [arch, tie, dtype] of [
        ["LlamaForCausalLM", false, "BF16"],
        ["LlamaForCausalLM", true, "F16"],
        ["Qwen2ForCausalLM", true, "BF16"], // q/k/v biases
      ] as const
    ) {
      const { kept, widened } = await compare(arch, tie, dtype);
      assert.ok(kept.embeddingIsHalf && !widened.embeddingIsHalf);
      for (const kind of LINEAR_KINDS) {
        assert.ok(kept.getLinear(1, kind) instanceof HalfLinear, kind);
        assert.ok(widened.getLinear(1, kind) instanceof DenseLinear, kind);
      }
      assert.ok(kept.lmHead instanceof HalfLinear);
      if (tie) {
        // The tied head reads the embedding's own 16-bit array: no second copy.
        const head = kept.lmHead as HalfLinear;
        assert.equal(head.weight.data.length, SHAPES.vocabSize * SHAPES.hiddenSize);
      }
    }
  } finally {
    forceGemmBackend(null);
    setWasmGemmThreads(true);
    setHalfTileElements(null);
  }
});

Deno.test("halfWeights keep leaves an f32 folder f32", async () => {
  const c = llamaConfig();
  const dir = await Deno.makeTempDir();
  try {
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 2)));
    const m = await loadModel(dir, { halfWeights: "keep" });
    assert.ok(!m.embeddingIsHalf);
    assert.ok(m.getLinear(0, "q_proj") instanceof DenseLinear);
    assert.ok(m.lmHead instanceof DenseLinear);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
