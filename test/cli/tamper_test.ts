import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/command.ts";
import type { Command } from "../../src/cli/command.ts";
import { quantizeCommand } from "../../src/cli/commands/quantize.ts";
import { pplCommand } from "../../src/cli/commands/ppl.ts";
import { errorCommand } from "../../src/cli/commands/error.ts";
import { generateCommand, generateOutput } from "../../src/cli/commands/generate.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { parseDescriptor, QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { writeHfFolder } from "../../src/model/loader.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

async function run(cmd: Command, argv: string[]): Promise<void> {
  const log = console.log, err = console.error, write = generateOutput.write;
  console.log = () => {};
  console.error = () => {};
  generateOutput.write = () => {};
  try {
    await cmd.run(parseCommandArgs(cmd.flags, argv));
  } finally {
    console.log = log;
    console.error = err;
    generateOutput.write = write;
  }
}

/** Flips `n` bytes in the middle of stored tensor `name` of safetensors file `path`. */
async function flip(path: string, name: string, n = 16): Promise<void> {
  const f = await SafetensorsFile.open(path);
  const info = f.info(name);
  f.close();
  const bytes = await Deno.readFile(path);
  const at = info.byteOffset + Math.max(0, Math.floor(info.byteLength / 2) - n / 2);
  for (let i = 0; i < Math.min(n, info.byteLength); i++) bytes[at + i]! ^= 0x5a;
  await Deno.writeFile(path, bytes);
}

const W = "model.layers.0.mlp.down_proj.weight";
const TEXT = "Every sequence of tokens has a probability. ".repeat(8);

Deno.test("tampered codes, scales or table: ppl, error and generate fail with an error naming the tensor", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = llamaConfig({ vocabSize: 458, hiddenSize: 64, intermediateSize: 128 });
    const model = `${dir}/model`;
    await writeHfFolder(model, c, llamaTensors(c, randomLlamaWeights(c, 5)), {
      tokenizer: byteLevelTokenizerJson(),
      tokenizerConfig: tinyTokenizerConfig(),
    });
    await Deno.writeTextFile(`${dir}/text.txt`, TEXT);
    const q = `${dir}/q`;
    await run(quantizeCommand, [model, "--out", q, "--bits", "3", "-q", "--backend", "cpu"]);
    const file = `${q}/model.safetensors`;
    const pristine = await Deno.readFile(file);
    // Every quantized tensor carries a checksum, and the untouched checkpoint loads.
    const ck = await QuantizedCheckpoint.open(q);
    assert.match(ck.descriptor(W).checksum ?? "", /^xxh64:[0-9a-f]{16}$/);
    await ck.read(W);
    ck.close();
    const commands: [string, Command, string[]][] = [
      ["ppl", pplCommand, [q, "--text", `${dir}/text.txt`, "--ctx", "16", "--backend", "cpu"]],
      ["error", errorCommand, [model, q]],
      ["generate", generateCommand, [q, "--prompt", "x", "--max-tokens", "2", "--backend", "cpu"]],
    ];
    for (const part of ["codes", "scales", "table"]) {
      await Deno.writeFile(file, pristine);
      await flip(file, `${W}.${part}`, part === "table" ? 2 : 16);
      for (const [label, cmd, argv] of commands) {
        await assert.rejects(
          run(cmd, argv),
          (e: unknown) =>
            e instanceof QuantlabError && e.code === "bad-file" &&
            e.message.includes(`Quantized tensor "${W}"`) &&
            /do not match their checksum \(stored xxh64:[0-9a-f]{16}, now xxh64:/.test(e.message),
          `${label} after tampering with ${part}`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("descriptors without a checksum (older checkpoints) still parse; a malformed one is refused", () => {
  const d = {
    method: "rtn",
    shape: [1, 4],
    paddedCols: 4,
    p: 1,
    codeBits: 2,
    groupSize: 4,
    groupAxis: 1,
    tableDtype: "F32",
    rotation: { kind: "none" },
    scaleStorage: { kind: "float", dtype: "F32" },
    params: {},
  };
  assert.equal(parseDescriptor("w", d).checksum, undefined);
  assert.equal(
    parseDescriptor("w", { ...d, checksum: "xxh64:0123456789abcdef" }).checksum,
    "xxh64:0123456789abcdef",
  );
  assert.throws(() => parseDescriptor("w", { ...d, checksum: "md5:00" }), /field "checksum"/);
});
