import assert from "node:assert/strict";
import { parseCommandArgs, UsageError } from "../../src/cli/command.ts";
import { dequantizeCommand } from "../../src/cli/commands/dequantize.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";
import { dequantize } from "../../src/quant/dequantize.ts";

Deno.test("dequantize writes the f32 reconstruction under the original names", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log;
  try {
    await writeSafetensors(`${dir}/w.safetensors`, {
      w: Tensor.f32([5, 100], fillNormal(new Float32Array(500), 1)),
      b: Tensor.zeros([5]),
    });
    await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
      options: { p: 1, bits: 2, hadamard: 64 },
    });
    console.log = () => {};
    const argv = [`${dir}/q.safetensors`, "--out", `${dir}/d.safetensors`, "-q"];
    await dequantizeCommand.run(parseCommandArgs(dequantizeCommand.flags, argv));
    console.log = log;
    const f = await SafetensorsFile.open(`${dir}/d.safetensors`);
    const w = await f.read("w");
    const b = await f.read("b");
    f.close();
    assert.deepEqual(w.shape, [5, 100]);
    assert.equal(w.dtype, "F32");
    assert.deepEqual(b.shape, [5]);
    const ck = await QuantizedCheckpoint.open(`${dir}/q.safetensors`);
    const q = await ck.read("w");
    ck.close();
    assert.deepEqual(w.data, dequantize(q));
  } finally {
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dequantize asks for a .safetensors output and one input", async () => {
  const run = (argv: string[]) =>
    dequantizeCommand.run(parseCommandArgs(dequantizeCommand.flags, argv));
  await assert.rejects(
    run(["q"]),
    (e: unknown) => e instanceof UsageError && /FILE\.safetensors/.test(e.message),
  );
  await assert.rejects(run(["q", "--out", "x.bin"]), UsageError);
  await assert.rejects(run(["a", "b", "--out", "x.safetensors"]), UsageError);
});
