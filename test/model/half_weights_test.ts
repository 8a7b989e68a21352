import assert from "node:assert/strict";
import { forceGemmBackend } from "../../src/cpu/matmul.ts";
import { setWasmGemmThreads } from "../../src/cpu/wasm_gemm.ts";
import { setHalfTileElements } from "../../src/cpu/half_matmul.ts";
import { setWidenWasm } from "../../src/cpu/widen.ts";
import { type LlamaConfig, llamaConfig } from "../../src/model/config.ts";
import { DenseLinear, HalfLinear } from "../../src/model/linear.ts";
import type { LlamaModel } from "../../src/model/llama.ts";
import { loadModel, resolveHalfWeights, writeHfFolder } from "../../src/model/loader.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";
import { runCli } from "../cli/run_cli.ts";
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
  // src/cpu/half_matmul.ts), so a kept model must equal the widened one exactly. Batch-1 products
  // (the lastOnly head) would run the 16-bit GEMV, whose own summation order is checked against
  // the same specification in test/cpu/half_gemv_test.ts; switched off here with the widening
  // kernels (the TypeScript widening is exact too).
  setWidenWasm(false);
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
      assert.ok(!(kept.embeddingWeight instanceof Float32Array));
      assert.ok(widened.embeddingWeight instanceof Float32Array);
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
    setWidenWasm(true);
  }
});

Deno.test("halfWeights keep leaves an f32 folder f32", async () => {
  const c = llamaConfig();
  const dir = await Deno.makeTempDir();
  try {
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 2)));
    const m = await loadModel(dir, { halfWeights: "keep" });
    assert.ok(m.embeddingWeight instanceof Float32Array);
    assert.ok(m.getLinear(0, "q_proj") instanceof DenseLinear);
    assert.ok(m.lmHead instanceof DenseLinear);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveHalfWeights: auto keeps 16-bit only when the widened checkpoint exceeds 80 % of the memory", async () => {
  const c = llamaConfig();
  const dir = await Deno.makeTempDir();
  try {
    const t = llamaTensors(c, randomLlamaWeights(c, 3), "BF16");
    await writeHfFolder(dir, c, t);
    const bytes = Object.values(t).reduce((a, x) => a + x.byteLength, 0);
    // Widened: every byte twice (all tensors are bf16); the threshold is 0.8 × available.
    const edge = (2 * bytes) / 0.8;
    assert.equal((await resolveHalfWeights(dir, "auto", edge)).halfWeights, "widen");
    assert.equal((await resolveHalfWeights(dir, "auto", edge - 1)).halfWeights, "keep");
    assert.equal((await resolveHalfWeights(dir, "auto", null)).halfWeights, "widen");
    assert.equal((await resolveHalfWeights(dir, "f32", 1)).halfWeights, "widen");
    assert.equal((await resolveHalfWeights(dir, "16bit", 1e15)).halfWeights, "keep");
    const f32 = `${dir}/f32`;
    await writeHfFolder(f32, c, llamaTensors(c, randomLlamaWeights(c, 3)));
    assert.equal((await resolveHalfWeights(f32, "auto", 1)).halfWeights, "widen");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantlab ppl --weights 16bit and f32 print the same perplexity on a bf16 folder; a bad choice exits 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = llamaConfig({ vocabSize: 458 });
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 5), "BF16"), {
      tokenizer: byteLevelTokenizerJson(),
      tokenizerConfig: tinyTokenizerConfig(),
    });
    await Deno.writeTextFile(
      `${dir}/t.txt`,
      "Every sequence of tokens has a probability. ".repeat(4),
    );
    const ppl = async (w: string) =>
      await runCli([
        "ppl",
        dir,
        "-t",
        `${dir}/t.txt`,
        "--ctx",
        "32",
        "--weights",
        w,
        "--json",
        "-q",
      ]);
    const a = await ppl("16bit"), b = await ppl("f32");
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const pa = JSON.parse(a.out).perplexity, pb = JSON.parse(b.out).perplexity;
    // OpenBLAS may sum a tile's dot products in another order (src/cpu/half_matmul.ts): the
    // perplexities agree to f32 rounding, 1e-5 relative for this 2-layer model.
    assert.ok(Math.abs(pa - pb) <= 1e-5 * pb, `${pa} vs ${pb}`);
    const bad = await ppl("f16");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--weights f16 is not valid; use one of auto, f32, 16bit/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
