import assert from "node:assert/strict";
import { pplCommand } from "../../src/cli/commands/ppl.ts";
import { parseCommandArgs } from "../../src/cli/command.ts";
import { loadModel, loadTokenizer, writeHfFolder } from "../../src/model/loader.ts";
import { evaluatePerplexity } from "../../src/eval/perplexity.ts";
import { TINY_RECORD_URL, type TinyEvalRecord } from "../../tools/record_eval.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

async function run(argv: string[]): Promise<string> {
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    await pplCommand.run(parseCommandArgs(pplCommand.flags, argv));
  } finally {
    console.log = log;
  }
  return out.join("\n");
}

const TEXT = "A language model assigns a probability to every sequence of tokens. ".repeat(12);

Deno.test("quantlab ppl reports PPL, NLL, bits/byte and writes resumable JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = llamaConfig({ vocabSize: 458 });
    const model = `${dir}/model`;
    await writeHfFolder(model, c, llamaTensors(c, randomLlamaWeights(c, 81)), {
      tokenizer: byteLevelTokenizerJson(),
      tokenizerConfig: tinyTokenizerConfig(),
    });
    await Deno.writeTextFile(`${dir}/text.txt`, TEXT);
    const out = `${dir}/r.json`;
    const argv = [
      model,
      "--text",
      `${dir}/text.txt`,
      "--ctx",
      "32",
      "--stride",
      "16",
      "--out",
      out,
      "--quiet",
      "--backend",
      "cpu",
    ];
    const printed = await run(argv);
    assert.match(printed, /perplexity\s+[\d.]+ ± [\d.]+/);
    assert.match(printed, /bits\/byte\s+[\d.]+/);
    assert.match(
      printed,
      /BOS\s+the tokenizer's post-processor prepends "<s>" \(id 456\), once at the start/,
    );
    const doc = JSON.parse(await Deno.readTextFile(out));
    assert.equal(doc.schemaVersion, 1);
    assert.match(doc.model.hash, /^[0-9a-f]{64}$/);
    assert.equal(doc.config.ctx, 32);
    assert.equal(doc.result.scoredTokens, doc.config.tokens - 1);
    assert.ok(doc.result.bitsPerByte > 0);
    // The library on the same tokens and windows gives the same perplexity.
    const tok = await loadTokenizer(model);
    const lib = await evaluatePerplexity(await loadModel(model), tok.encode(TEXT), {
      ctx: 32,
      stride: 16,
    });
    assert.ok(
      Math.abs(doc.result.ppl / lib.ppl - 1) < 1e-9,
      `CLI perplexity ${doc.result.ppl} vs the library's ${lib.ppl}`,
    );
    // Only the first token (BOS, no bytes) is never scored: every byte of the text counts.
    assert.equal(doc.result.scoredBytes, TEXT.length);
    // A rerun needs --resume (or --force); it resumes every window and gives the same numbers.
    await assert.rejects(() => run(argv), /already exists; add --force .* or --resume/);
    const again = await run([...argv, "--resume"]);
    assert.match(again, /windows resumed from/);
    const doc2 = JSON.parse(await Deno.readTextFile(out));
    assert.equal(doc2.result.ppl, doc.result.ppl);
    assert.deepEqual(doc2.windows, doc.windows);
    const short = await run([
      model,
      "--text",
      `${dir}/text.txt`,
      "--max-tokens",
      "20",
      "--quiet",
      "--backend",
      "cpu",
    ]);
    assert.match(short, /20 of \d+ tokens evaluated, ctx 512, stride 512/);
    await assert.rejects(() => run([model, "--quiet"]), /--text FILE is required/);
    await assert.rejects(() => run([model, "--text", `${dir}/none.txt`]), /Cannot read text file/);
    await assert.rejects(
      () => run([model, "--text", `${dir}/text.txt`, "--ctx", "8", "--stride", "9"]),
      /--stride 9 is not valid/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantlab ppl --text brown:SPLIT evaluates the embedded corpus; bad paths say so", async () => {
  const model = new URL("../../assets/tiny-llama", import.meta.url).pathname;
  const printed = await run([
    model,
    "--text",
    "brown:valid",
    "--max-tokens",
    "600",
    "--ctx",
    "300",
  ]);
  assert.match(printed, /text\s+brown:valid: 600 of \d+ tokens evaluated, ctx 300/);
  const ppl = Number(/perplexity\s+([\d.]+)/.exec(printed)![1]);
  // The recorded value of this case (tools/record_eval.ts), within ±2 %.
  const rec: TinyEvalRecord = JSON.parse(await Deno.readTextFile(TINY_RECORD_URL));
  assert.deepEqual([rec.cli.split, rec.cli.tokens, rec.cli.ctx], ["valid", 600, 300]);
  assert.ok(
    Math.abs(ppl / rec.cli.ppl - 1) <= 0.02,
    `Brown valid: ${ppl} vs the recorded ${rec.cli.ppl}`,
  );
  await assert.rejects(
    () => run([model, "--text", "brown:dev"]),
    /Cannot read text file brown:dev: .*\(or use \{brown\|sotu\}:\{train\|valid\|test\}\)/,
  );
});
