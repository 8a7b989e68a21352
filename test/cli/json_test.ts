import assert from "node:assert/strict";
import { runCli } from "./run_cli.ts";
import { openCheckpoint } from "../../src/io/sharded.ts";
import { numel } from "../../src/core/tensor.ts";

type Json = Record<string, unknown>;

/** Runs `argv` with --json and returns the one object on stdout, after checking its header. */
async function json(schema: string, argv: string[]): Promise<Json> {
  const r = await runCli([...argv, "--json", "-q"]);
  assert.equal(r.code, 0, r.err);
  const o = JSON.parse(r.out) as Json;
  assert.equal(o.schema, `quantlab.${schema}`);
  assert.equal(o.schemaVersion, 1);
  return o;
}

/** Checks that `o` has each key with the given typeof ("array", "null|number", …). */
function shape(o: Json, want: Record<string, string>): void {
  for (const [k, types] of Object.entries(want)) {
    const v = o[k];
    const t = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
    assert.ok(types.split("|").includes(t), `${k}: ${t}, want ${types}`);
  }
}

async function elementCount(path: string): Promise<number> {
  const ck = await openCheckpoint(path);
  try {
    let n = 0;
    for (const name of ck.names()) n += numel((await ck.info(name)).shape);
    return n;
  } finally {
    ck.close();
  }
}

Deno.test("--json of quantize, error, ppl, generate, info and grids mse: one object each, versioned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-json-" });
  const model = "assets/tiny-llama";
  try {
    const q = await json("quantize", [
      "quantize",
      model,
      "-o",
      `${dir}/q`,
      "--method",
      "higgs",
      "--hadamard",
      "256",
    ]);
    shape(q, {
      input: "object",
      output: "object",
      method: "string",
      tensors: "object",
      weights: "object",
      bitsPerWeight: "object",
      compressionRatio: "number",
      seconds: "number",
      weightsPerSecond: "number",
    });
    const bits = q.bitsPerWeight as Record<string, number>;
    assert.ok(
      Math.abs(bits.codes! + bits.scales! + bits.table! + bits.padding! - bits.total!) < 1e-9,
    );

    const e = await json("error", ["error", model, `${dir}/q`]);
    shape(e, { original: "string", quantized: "string", tensors: "array", total: "object" });
    const total = e.total as { bitsPerWeight: number; tensors: number };
    assert.ok(Math.abs(total.bitsPerWeight - bits.total!) < 1e-9, "quantize and error agree");

    const p = await json("ppl", [
      "ppl",
      `${dir}/q`,
      "--text",
      "brown:test",
      "--windows",
      "2",
      "--ctx",
      "64",
    ]);
    shape(p, {
      model: "object",
      text: "object",
      ctx: "number",
      stride: "number",
      windows: "number",
      perplexity: "number",
      perplexitySe: "number|null",
      meanNll: "number",
      scoredTokens: "number",
      bitsPerByte: "number|null",
      tokensPerSecond: "number",
      out: "null|string",
    });
    assert.equal(p.windows, 2);
    assert.equal((p.text as Json).evaluatedTokens, 128);

    const g = await json("generate", [
      "generate",
      model,
      "--prompt",
      "The jury",
      "--max-tokens",
      "3",
      "--ignore-eos",
    ]);
    shape(g, {
      prompt: "string",
      promptTokens: "number",
      text: "string",
      tokens: "array",
      generatedTokens: "number",
      stopReason: "string",
      ctx: "number",
      prefillTokensPerSecond: "null|number",
      decodeTokensPerSecond: "null|number",
    });
    assert.equal(g.stopReason, "max-tokens");
    assert.equal(g.prefillTokensPerSecond, null, "a 3-token prompt is too short to time");

    for (const path of [model, `${dir}/q`, `${model}/model.safetensors`]) {
      const i = await json("info", ["info", path]);
      shape(i, {
        path: "string",
        quantized: "boolean",
        files: "array",
        totalBytes: "number",
        architecture: "object|null",
        parameters: "object",
        storedDtypes: "object",
        contextLength: "number|null",
        vocabSize: "number|null",
        tokenizer: "object|null",
        quantization: "object|null",
        tensors: "array",
      });
      const params = i.parameters as { total: number; byKind: Record<string, number> };
      assert.equal(Object.values(params.byKind).reduce((a, b) => a + b), params.total);
      // The parameter count is the dense checkpoint's element count, quantized or not.
      assert.equal(params.total, await elementCount(model));
      if (path === model) assert.equal(params.total, await elementCount(path));
      if (i.quantized) {
        const qi = i.quantization as { bitsPerWeight: { total: number }; tensors: number };
        assert.ok(Math.abs(qi.bitsPerWeight.total - total.bitsPerWeight) < 1e-9);
        assert.equal(qi.tensors, total.tensors);
        // Per tensor too.
        const byName = new Map(
          (e.tensors as { name: string; bitsPerWeight: number }[]).map((t) => [t.name, t]),
        );
        for (
          const t of i.tensors as { name: string; quant: { bits: { total: number } } | null }[]
        ) {
          if (!t.quant) continue;
          assert.ok(Math.abs(t.quant.bits.total - byName.get(t.name)!.bitsPerWeight) < 1e-9);
        }
      }
    }
    const d = await json("device", ["info"]);
    shape(d, { deno: "string", cpuThreads: "string", backend: "string", choice: "string" });

    const m = await json("grids.mse", [
      "grids",
      "mse",
      "--p",
      "2",
      "--n",
      "16",
      "--samples",
      "20000",
    ]);
    shape(m, { p: "number", n: "number", mse: "number", mseStdErr: "number", stored: "object" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("info MODEL prints architecture, parameters by kind, dtypes, context, tokenizer", async () => {
  const r = await runCli(["info", "assets/tiny-llama", "--tensors"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /architecture\s+LlamaForCausalLM: 4 layers, hidden 256/);
  assert.match(
    r.out,
    /parameters\s+4\.46M = embedding 1\.05M \+ projections 3\.41M \+ norms 2\.30K/,
  );
  assert.match(r.out, /stored dtypes\s+BF16 \(38 tensors/);
  assert.match(r.out, /context length\s+4096/);
  assert.match(r.out, /tokenizer\s+BPE, 4096 tokens/);
  assert.match(r.out, /quantization\s+none/);
  assert.match(r.out, /model\.layers\.0\.mlp\.up_proj\.weight\s+768x256\s+BF16\s+16\s+projection/);
  // A path that does not exist is fixed by changing the command: exit 2.
  const bad = await runCli(["info", "/nonexistent/model"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.err.split("\n").length, 1);
});
