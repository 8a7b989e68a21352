import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/command.ts";
import { trainCommand } from "../../src/cli/commands/train.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { loadModel } from "../../src/model/loader.ts";

async function run(argv: string[]): Promise<string> {
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    await trainCommand.run(parseCommandArgs(trainCommand.flags, argv));
  } finally {
    console.log = log;
  }
  return out.join("\n");
}

Deno.test("quantlab train runs steps of the tiny Llama and writes a loadable folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const printed = await run([
      "--out",
      dir,
      "--steps",
      "2",
      "--batch",
      "1",
      "--ctx",
      "16",
      "--quiet",
    ]);
    assert.match(
      printed,
      /trained 2 steps: train loss [\d.]+, valid loss [\d.]+ \(perplexity [\d.]+\)/,
    );
    const model = await loadModel(dir);
    assert.equal(model.config.hiddenSize, 256);
    // The folder now holds a run: a rerun needs --resume (continue) or --force (start over).
    const same = ["--out", dir, "--steps", "2", "--batch", "1", "--ctx", "16", "--quiet"];
    await assert.rejects(
      () => run(same),
      (e: unknown) =>
        e instanceof QuantlabError && /not empty; add --force .* or --resume/.test(e.message),
    );
    assert.match(await run([...same, "--resume"]), /^trained 2 steps \(2 resumed\)/);
    await assert.rejects(
      () => run(["--steps", "2"]),
      (e: unknown) => e instanceof QuantlabError && /--out DIR is required/.test(e.message),
    );
    await assert.rejects(
      () => run(["--out", dir, "--lr", "5"]),
      (e: unknown) => e instanceof QuantlabError && /--lr/.test(e.message),
    );
    await assert.rejects(
      () => run(["--out", dir, "--data", "brown,wiki"]),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        /Corpus "wiki" is not embedded \(valid: brown, sotu\)/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantlab train's shape and recipe flags reach the model and training.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await run([
      ..."--steps 1 --batch 1 --ctx 16 --layers 1 --hidden 32 --heads 4 --kv-heads 2".split(" "),
      ..."--intermediate 64 --untied --warmup 0 --weight-decay 0 --grad-clip 0.5".split(" "),
      ..."--eval-every 1 --eval-windows 1 --checkpoint-every 1 --quiet --out".split(" "),
      dir,
    ]);
    const model = await loadModel(dir);
    const c = model.config;
    assert.deepEqual(
      [c.numLayers, c.hiddenSize, c.numHeads, c.numKvHeads, c.intermediateSize],
      [1, 32, 4, 2, 64],
    );
    assert.equal(c.tieWordEmbeddings, false);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/training.json`)).config;
    assert.deepEqual(
      [cfg.warmup, cfg.weightDecay, cfg.gradClip, cfg.evalEvery, cfg.evalWindows],
      [0, 0, 0.5, 1, 1],
    );
    await assert.rejects(
      () => run(["--out", dir, "--hidden", "32", "--heads", "3"]),
      (e: unknown) =>
        e instanceof QuantlabError && /--hidden 32 must be an even multiple/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
