import assert from "node:assert/strict";
import { parseCommandArgs, UsageError } from "../../src/cli/command.ts";
import {
  QUANT_FLAGS,
  quantizeCommand,
  quantOptionsFromArgs,
} from "../../src/cli/commands/quantize.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";

async function capture(f: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await f();
  } finally {
    console.log = orig;
  }
  return lines.join("\n");
}

Deno.test("quantize --method higgs writes a quantized checkpoint folder and prints a summary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/m`);
    await writeSafetensors(`${dir}/m/model.safetensors`, {
      "layers.0.mlp.up_proj.weight": Tensor.f32(
        [16, 128],
        fillNormal(new Float32Array(16 * 128), 1),
      ),
      "embed_tokens.weight": Tensor.f32([8, 128], fillNormal(new Float32Array(8 * 128), 2)),
      "norm.weight": Tensor.zeros([128]),
    });
    await Deno.writeTextFile(`${dir}/m/config.json`, "{}");
    const argv = [
      `${dir}/m`,
      "--out",
      `${dir}/q`,
      "--p",
      "1",
      "--bits",
      "4",
      "--hadamard",
      "64",
      "--seed",
      "3",
      "-q",
      "--backend",
      "cpu",
    ];
    const out = await capture(() =>
      quantizeCommand.run(parseCommandArgs(quantizeCommand.flags, argv))
    );
    assert.match(out, /quantized\s+1 tensors, copied 2/);
    assert.match(out, /size\s+[\d.]+ MiB → [\d.]+ MiB \([\d.]+× smaller\)/);
    assert.match(
      out,
      /bits\/weight\s+[\d.]+ over .* = codes [\d.]+ \+ scales [\d.]+ \+ table [\d.]+ \+ padding [\d.]+/,
    );
    assert.match(out, /time\s+[\d.]+ s \([\d.]+ M weights\/s\)/);
    const ck = await QuantizedCheckpoint.open(`${dir}/q`);
    const q = await ck.read("layers.0.mlp.up_proj.weight");
    ck.close();
    assert.deepEqual(q.rotation, { kind: "hadamard", size: 64, seed: 3 });
    assert.equal(q.codeBits, 4);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/q/config.json`));
    assert.equal(cfg.quantization_config.seed, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantize flags map to QuantOptions, method extras included", () => {
  const o = quantOptionsFromArgs(parseCommandArgs(QUANT_FLAGS, [
    "--bits",
    "2.5",
    "--p",
    "2",
    "--n",
    "32",
    "--hadamard",
    "512",
    "--group",
    "row",
    "--axis",
    "0",
    "--scale-dtype",
    "F32",
    "--round-zero",
    "--iters",
    "10",
    "--symmetric",
    "--clip-search",
    "--double-quant",
    "--table-dtype",
    "F32",
    "--extra",
    "foo=1.5",
    "--extra",
    "bar=x",
  ]));
  assert.deepEqual(o, {
    bits: 2.5,
    p: 2,
    gridSize: 32,
    hadamard: 512,
    groupSize: null,
    axis: 0,
    scaleDtype: "F32",
    extra: {
      tableDtype: "F32",
      roundZero: true,
      iters: 10,
      symmetric: true,
      clipSearch: true,
      doubleQuant: true,
      foo: 1.5,
      bar: "x",
    },
  });
  assert.deepEqual(quantOptionsFromArgs(parseCommandArgs(QUANT_FLAGS, [])), {});
});

Deno.test("quantize rejects bad command lines with a usage error naming the value", async () => {
  const run = (argv: string[]) =>
    quantizeCommand.run(parseCommandArgs(quantizeCommand.flags, argv));
  await assert.rejects(run([]), UsageError);
  await assert.rejects(
    run(["x"]),
    (e: unknown) => e instanceof UsageError && /--out is required/.test(e.message),
  );
  await assert.rejects(
    run(["x", "--out", "y", "--method", "awq"]),
    (e: unknown) =>
      e instanceof UsageError &&
      /--method awq is not valid; use one of .*higgs.*gptq/.test(e.message),
  );
  await assert.rejects(
    run(["x", "--out", "y", "--seed=-1"]),
    (e: unknown) => e instanceof UsageError && /--seed -1/.test(e.message),
  );
  await assert.rejects(run(["x", "--out", "y", "--scale-dtype", "F8"]), UsageError);
  await assert.rejects(run(["x", "--out", "y", "--extra", "novalue"]), UsageError);
});
