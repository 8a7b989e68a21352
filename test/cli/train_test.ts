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
    await assert.rejects(
      () => run(["--steps", "2"]),
      (e: unknown) => e instanceof QuantlabError && /--out DIR is required/.test(e.message),
    );
    await assert.rejects(
      () => run(["--out", dir, "--lr", "5"]),
      (e: unknown) => e instanceof QuantlabError && /--lr/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
