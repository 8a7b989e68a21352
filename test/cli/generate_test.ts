import assert from "node:assert/strict";
import { generateCommand, generateOutput } from "../../src/cli/commands/generate.ts";
import { parseCommandArgs } from "../../src/cli/command.ts";
import { loadModel, loadTokenizer, writeHfFolder } from "../../src/model/loader.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

async function run(argv: string[]): Promise<{ text: string; err: string }> {
  const text: string[] = [], err: string[] = [];
  const write = generateOutput.write, error = console.error;
  generateOutput.write = (s) => void text.push(s);
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    await generateCommand.run(parseCommandArgs(generateCommand.flags, argv));
  } finally {
    generateOutput.write = write;
    console.error = error;
  }
  return { text: text.join(""), err: err.join("\n") };
}

Deno.test("quantlab generate streams greedy and seeded samples and reports tokens/s", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = llamaConfig({ vocabSize: 458, eosTokenIds: [457] });
    await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 71)), {
      tokenizer: byteLevelTokenizerJson(),
      tokenizerConfig: tinyTokenizerConfig(),
    });
    const a = await run([
      dir,
      "--prompt",
      "The model",
      "--max-tokens",
      "5",
      "--backend",
      "cpu",
      "--ignore-eos",
    ]);
    const b = await run([
      dir,
      "--prompt",
      "The model",
      "--max-tokens",
      "5",
      "--backend",
      "cpu",
      "--ignore-eos",
    ]);
    assert.equal(a.text, b.text);
    assert.ok(a.text.endsWith("\n"));
    // Greedy is the argmax of the model's last-position logits, one full forward per token.
    const tok = await loadTokenizer(dir);
    const model = await loadModel(dir);
    const ids = tok.encode("The model");
    const greedy: number[] = [];
    for (let i = 0; i < 5; i++) {
      const logits = await model.forward([...ids, ...greedy]);
      const last = logits.subarray(logits.length - c.vocabSize);
      greedy.push(last.indexOf(Math.max(...last)));
    }
    assert.equal(a.text, tok.decode(greedy) + "\n");
    assert.match(a.err, /BOS: the tokenizer's post-processor prepends "<s>"/);
    assert.match(a.err, /greedy/);
    assert.match(a.err, /5 tokens \(length\); prefill [\d.]+ tok\/s, decode [\d.]+ tok\/s/);
    const s1 = await run([
      dir,
      "-p",
      "x",
      "--max-tokens",
      "6",
      "--temperature",
      "1",
      "--seed",
      "3",
      "--backend",
      "cpu",
    ]);
    const s2 = await run([
      dir,
      "-p",
      "x",
      "--max-tokens",
      "6",
      "--temperature",
      "1",
      "--seed",
      "3",
      "--backend",
      "cpu",
    ]);
    assert.equal(s1.text, s2.text);
    // Another seed, or temperature 0, gives another text: the flags reach the sampler. (Random
    // weights over 458 ids sample near-uniformly: two 6-token draws agree with probability ~1e-16.)
    const sample = (seed: string, temperature: string) =>
      run([
        dir,
        "-p",
        "x",
        "--max-tokens",
        "6",
        "--temperature",
        temperature,
        "--seed",
        seed,
        "--backend",
        "cpu",
        "--ignore-eos",
      ]);
    const t1 = await sample("3", "1");
    assert.notEqual((await sample("4", "1")).text, t1.text);
    assert.notEqual((await sample("3", "0")).text, t1.text);
    assert.notEqual((await sample("3", "100")).text, t1.text);
    await assert.rejects(() => run([dir, "--backend", "cpu"]), /--prompt is required/);
    await assert.rejects(() => run(["--prompt", "x"]), /exactly one MODEL folder/);
    await assert.rejects(() => run([dir, "-p", "x", "--top-p", "2"]), /--top-p 2 is not valid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
