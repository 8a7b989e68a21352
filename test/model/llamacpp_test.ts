/**
 * quantlab's model conventions checked from outside: small random-weight Llama and Qwen2 models
 * (and the embedded tiny Llama) written as Hugging Face folders, converted to GGUF by quantlab's own
 * writer, and evaluated by llama.cpp (prebuilt v0.4.0 through its C API, F32 KV cache, flash
 * attention off, logits at every position) in a child process; and every family, Mistral's sliding
 * window included, against a plain f64 forward written in the test (independent_reference.ts).
 *
 * llama.cpp is installed by `peers/llamacpp/install.sh` (`.ci/run` runs it); without it those cases
 * are skipped with that reason in their name.
 */
import assert from "node:assert/strict";
import { skipName } from "../skip.ts";
import { hfFolderToGguf, type ToGgufOptions } from "../../peers/llamacpp/convert.ts";
import { llamaCppLibDir } from "../../peers/llamacpp/ffi.ts";
import { type LlamaConfig, llamaConfig } from "../../src/model/config.ts";
import { loadModel, writeHfFolder } from "../../src/model/loader.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import type { ReferenceWeights } from "../../src/model/reference.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";
import { loadBrown } from "../../src/data/brown.ts";
import { loadTokenizer } from "../../src/model/loader.ts";
import { TINY_MODEL_URL } from "../../src/jobs/tiny_ppl.ts";
import { independentForward, nllFromLogits } from "./independent_reference.ts";
import { relError } from "./helpers.ts";

const ROOT = new URL("../../", import.meta.url);
const LIB_DIR = llamaCppLibDir(ROOT);
const haveLlamaCpp = Deno.build.os === "linux" && Deno.build.arch === "x86_64" &&
  (await Deno.stat(`${LIB_DIR}/libllama.v0.4.0.so`).then(() => true, () => false));
const NO_LLAMACPP = "llama.cpp is not installed; run peers/llamacpp/install.sh";

/** Tolerances of the issue: logits within 1e-4 relative (RMS), perplexity within 1e-5. */
const LOGITS_TOL = 1e-4;
const PPL_TOL = 1e-5;

const VOCAB = 458; // byteLevelTokenizerJson(): 256 bytes + 200 merges + <s>, </s>
const FAMILIES: Record<string, LlamaConfig> = {
  // GQA 4/2, tied embeddings (no output.weight in the GGUF), the interleaved-RoPE permutation.
  llama: llamaConfig({
    vocabSize: VOCAB,
    hiddenSize: 64,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    intermediateSize: 96,
    numLayers: 2,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    bosTokenId: 456,
    eosTokenIds: [457],
  }),
  // q/k/v biases, GQA 6/2, θ = 1e6, untied LM head, NeoX RoPE (no permutation).
  qwen2: llamaConfig({
    architecture: "Qwen2ForCausalLM",
    vocabSize: VOCAB,
    hiddenSize: 96,
    numHeads: 6,
    numKvHeads: 2,
    headDim: 16,
    intermediateSize: 80,
    numLayers: 2,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    bosTokenId: 456,
    eosTokenIds: [457],
  }),
};

/** Two windows of 40 ids spread over the vocabulary. */
const WINDOWS = [0, 1].map((w) =>
  Array.from({ length: 40 }, (_, i) => (i * 37 + w * 101 + 11) % 456)
);

async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-llamacpp-" });
  try {
    return await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** llama.cpp's logits for each window, from a child process (peers/llamacpp/logits.ts). */
async function llamaCppLogits(gguf: string, windows: number[][]): Promise<Float32Array[]> {
  const out = `${gguf}.logits`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--no-config",
      "peers/llamacpp/logits.ts",
      gguf,
      out,
      JSON.stringify(windows),
    ],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, `llama.cpp failed (exit ${r.code}):\n${stderr.slice(-4000)}`);
  const { vocabSize } = JSON.parse(new TextDecoder().decode(r.stdout));
  const all = new Float32Array((await Deno.readFile(out)).buffer);
  const res: Float32Array[] = [];
  let at = 0;
  for (const w of windows) {
    res.push(all.slice(at, at + w.length * vocabSize));
    at += w.length * vocabSize;
  }
  assert.equal(at, all.length);
  return res;
}

function ppl(nlls: number[][]): number {
  const flat = nlls.flat();
  return Math.exp(flat.reduce((a, b) => a + b, 0) / flat.length);
}

/** Writes family `name` with random weights, converts it and returns both runtimes' logits. */
async function compare(name: string, opts: ToGgufOptions = {}, weights?: ReferenceWeights) {
  const c = FAMILIES[name]!;
  const w = weights ?? randomLlamaWeights(c, 7);
  return await withTempDir(async (dir) => {
    await writeHfFolder(`${dir}/hf`, c, llamaTensors(c, w), {
      tokenizer: byteLevelTokenizerJson(),
      tokenizerConfig: tinyTokenizerConfig(),
    });
    await hfFolderToGguf(`${dir}/hf`, `${dir}/m.gguf`, opts);
    const theirs = await llamaCppLogits(`${dir}/m.gguf`, WINDOWS);
    const model = await loadModel(`${dir}/hf`);
    const ours = await Promise.all(WINDOWS.map((ids) => model.forward(ids)));
    const ourNll = await Promise.all(WINDOWS.map(async (ids) => [...(await model.nll(ids, 1))]));
    const theirNll = WINDOWS.map((ids, i) => nllFromLogits(theirs[i]!, ids, c.vocabSize));
    return { c, ours, theirs, ourPpl: ppl(ourNll), theirPpl: ppl(theirNll) };
  });
}

for (const name of Object.keys(FAMILIES)) {
  Deno.test({
    name: skipName(
      `llama.cpp on quantlab's GGUF of a random ${name} gives quantlab's logits (1e-4) and perplexity (1e-5)`,
      !haveLlamaCpp,
      NO_LLAMACPP,
    ),
    ignore: !haveLlamaCpp,
    fn: async () => {
      const r = await compare(name);
      for (const [i, ours] of r.ours.entries()) {
        const e = relError(ours, r.theirs[i]!);
        assert.ok(e <= LOGITS_TOL, `${name} window ${i}: logits differ by ${e} relative`);
      }
      assert.ok(
        Math.abs(r.ourPpl / r.theirPpl - 1) <= PPL_TOL,
        `${name}: perplexity ${r.ourPpl} vs llama.cpp's ${r.theirPpl}`,
      );
    },
  });
}

Deno.test({
  name: skipName(
    "llama.cpp tells a Llama converted without the RoPE row permutation from quantlab's (the check is sharp)",
    !haveLlamaCpp,
    NO_LLAMACPP,
  ),
  ignore: !haveLlamaCpp,
  fn: async () => {
    const r = await compare("llama", { skipPermutation: true });
    const e = relError(r.ours[0]!, r.theirs[0]!);
    assert.ok(e > 100 * LOGITS_TOL, `logits differ by only ${e} without the permutation`);
  },
});

Deno.test({
  name: skipName(
    "llama.cpp gives the embedded tiny Llama's perplexity on a Brown test window (1e-5)",
    !haveLlamaCpp,
    NO_LLAMACPP,
  ),
  ignore: !haveLlamaCpp,
  fn: async () => {
    const dir = TINY_MODEL_URL.pathname;
    const ids = (await loadTokenizer(dir)).encode(await loadBrown("test")).slice(0, 128);
    await withTempDir(async (tmp) => {
      await hfFolderToGguf(dir, `${tmp}/tiny.gguf`);
      const [theirs] = await llamaCppLogits(`${tmp}/tiny.gguf`, [ids]);
      const model = await loadModel(dir);
      const ours = await model.forward(ids);
      const e = relError(ours, theirs!);
      assert.ok(e <= LOGITS_TOL, `tiny Llama: logits differ by ${e} relative`);
      const a = ppl([[...(await model.nll(ids, 1))]]);
      const b = ppl([nllFromLogits(theirs!, ids, model.config.vocabSize)]);
      assert.ok(Math.abs(a / b - 1) <= PPL_TOL, `tiny Llama: perplexity ${a} vs llama.cpp's ${b}`);
    });
  },
});

// ---- the plain f64 forward: every family, Mistral's window included, no llama.cpp needed ----

const MISTRAL = llamaConfig({
  architecture: "MistralForCausalLM",
  vocabSize: 97,
  hiddenSize: 64,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  intermediateSize: 80,
  numLayers: 2,
  ropeTheta: 10000,
  slidingWindow: 4,
});

for (const [name, c] of Object.entries({ ...FAMILIES, mistral: MISTRAL })) {
  Deno.test(`quantlab's ${name} forward equals a plain f64 forward written in the test (1e-5)`, async () => {
    const w = randomLlamaWeights(c, 11);
    const model = LlamaModel.fromWeights(c, w);
    const ids = Array.from({ length: 14 }, (_, i) => (i * 29 + 5) % (c.vocabSize - 2));
    const want = independentForward(c, w, ids);
    const got = await model.forward(ids);
    const e = relError(got, want);
    assert.ok(e <= 1e-5, `${name}: relative error ${e} against the f64 forward`);
  });
}

Deno.test("Mistral's window edge: quantlab matches window W and not W − 1, W + 1 or full attention", async () => {
  const c = MISTRAL;
  const w = randomLlamaWeights(c, 12);
  const model = LlamaModel.fromWeights(c, w);
  const ids = Array.from({ length: 14 }, (_, i) => (i * 31 + 3) % (c.vocabSize - 2));
  const got = await model.forward(ids);
  const W = c.slidingWindow!;
  assert.ok(relError(got, independentForward(c, w, ids)) <= 1e-5);
  for (const other of [W - 1, W + 1, null]) {
    const e = relError(got, independentForward({ ...c, slidingWindow: other }, w, ids));
    assert.ok(e > 1e-3, `window ${other} gives the same logits as window ${W} (${e})`);
  }
  // Positions before the window first fills see the whole prefix: the same as full attention.
  const full = independentForward({ ...c, slidingWindow: null }, w, ids.slice(0, W));
  assert.ok(relError(got.subarray(0, W * c.vocabSize), full) <= 1e-5);
});
