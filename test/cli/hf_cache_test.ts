import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/command.ts";
import { quantizeCommand } from "../../src/cli/commands/quantize.ts";
import { pplCommand } from "../../src/cli/commands/ppl.ts";
import { errorCommand } from "../../src/cli/commands/error.ts";
import { generateCommand, generateOutput } from "../../src/cli/commands/generate.ts";
import type { Command } from "../../src/cli/command.ts";
import { writeHfFolder } from "../../src/model/loader.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

/** Runs a command, returning what it printed on stdout (console.log and generate's writer). */
async function run(cmd: Command, argv: string[]): Promise<string> {
  const out: string[] = [];
  const log = console.log, err = console.error, write = generateOutput.write;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = () => {};
  generateOutput.write = (s) => void out.push(s);
  try {
    await cmd.run(parseCommandArgs(cmd.flags, argv));
  } finally {
    console.log = log;
    console.error = err;
    generateOutput.write = write;
  }
  return out.join("\n");
}

/**
 * Moves every file of `src` into a Hugging Face cache layout under `cache`:
 * `models--org--tiny/blobs/<name>.blob`, `snapshots/rev1/<name>` linking to it (relative links,
 * and one absolute link for config.json), `refs/main` = "rev1". Returns the repository folder.
 */
async function makeCache(src: string, cache: string): Promise<string> {
  const repo = `${cache}/models--org--tiny`;
  await Deno.mkdir(`${repo}/blobs`, { recursive: true });
  await Deno.mkdir(`${repo}/snapshots/rev1`, { recursive: true });
  await Deno.mkdir(`${repo}/refs`);
  await Deno.writeTextFile(`${repo}/refs/main`, "rev1\n");
  for await (const e of Deno.readDir(src)) {
    const blob = `${repo}/blobs/${e.name}.blob`;
    await Deno.rename(`${src}/${e.name}`, blob);
    const target = e.name === "config.json"
      ? await Deno.realPath(blob)
      : `../../blobs/${e.name}.blob`;
    await Deno.symlink(target, `${repo}/snapshots/rev1/${e.name}`);
  }
  return repo;
}

const TEXT = "A language model assigns a probability to every sequence of tokens. ".repeat(8);

for (const sharded of [false, true]) {
  Deno.test(
    `quantize, ppl, error and generate read a Hugging Face cache folder (${
      sharded ? "sharded" : "single file"
    }) and its snapshot folder`,
    async () => {
      const dir = await Deno.makeTempDir();
      try {
        const c = llamaConfig({ vocabSize: 458, hiddenSize: 64, intermediateSize: 128 });
        await writeHfFolder(`${dir}/src`, c, llamaTensors(c, randomLlamaWeights(c, 5)), {
          tokenizer: byteLevelTokenizerJson(),
          tokenizerConfig: tinyTokenizerConfig(),
          ...(sharded ? { shardBytes: 40000 } : {}),
        });
        const repo = await makeCache(`${dir}/src`, `${dir}/cache`);
        await Deno.writeTextFile(`${dir}/text.txt`, TEXT);
        const snap = `${repo}/snapshots/rev1`;
        for (const [i, input] of [repo, snap].entries()) {
          const out = `${dir}/q${i}`;
          const printed = await run(quantizeCommand, [
            input,
            "--out",
            out,
            "--bits",
            "4",
            "--p",
            "2",
            "--hadamard",
            "64",
            "-q",
            "--backend",
            "cpu",
          ]);
          assert.match(printed, /quantized\s+\d+ tensors/);
          // The output holds real files only: the tokenizer was copied as content.
          for await (const e of Deno.readDir(out)) {
            assert.ok(e.isFile, `${e.name} in the output is not a regular file`);
          }
          assert.deepEqual(
            JSON.parse(await Deno.readTextFile(`${out}/tokenizer.json`)),
            byteLevelTokenizerJson(),
          );
          for (const model of [input, out]) {
            const ppl = await run(pplCommand, [
              model,
              "--text",
              `${dir}/text.txt`,
              "--ctx",
              "32",
              "--stride",
              "16",
              "--quiet",
              "--backend",
              "cpu",
            ]);
            assert.match(ppl, /perplexity\s+[\d.]+/);
            const gen = await run(generateCommand, [
              model,
              "--prompt",
              "The",
              "--max-tokens",
              "3",
              "--ignore-eos",
              "--backend",
              "cpu",
            ]);
            assert.ok(gen.length > 0);
          }
          const err = await run(errorCommand, [input, out]);
          assert.match(err, /total/);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("a dangling symlink in a snapshot folder is one clear error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = llamaConfig({ vocabSize: 458 });
    await writeHfFolder(`${dir}/src`, c, llamaTensors(c, randomLlamaWeights(c, 5)), {
      tokenizer: byteLevelTokenizerJson(),
    });
    const repo = await makeCache(`${dir}/src`, `${dir}/cache`);
    await Deno.remove(`${repo}/blobs/model.safetensors.blob`);
    await Deno.writeTextFile(`${dir}/x.txt`, TEXT);
    await assert.rejects(
      run(pplCommand, [repo, "--text", `${dir}/x.txt`, "--backend", "cpu"]),
      /model\.safetensors" is a symlink to "\.\.\/\.\.\/blobs\/model\.safetensors\.blob", which does not exist/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
