import assert from "node:assert/strict";
import { parseCommandArgs, UsageError } from "../../src/cli/command.ts";
import { errorCommand } from "../../src/cli/commands/error.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";

Deno.test("error prints relative MSE and bits/weight per tensor and the total", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log;
  try {
    await writeSafetensors(`${dir}/w.safetensors`, {
      a: Tensor.f32([8, 256], fillNormal(new Float32Array(8 * 256), 1)),
      b: Tensor.f32([4, 256], fillNormal(new Float32Array(4 * 256), 2)),
    });
    await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
      options: { p: 1, bits: 4, hadamard: 256 },
    });
    const lines: string[] = [];
    console.log = (...a: unknown[]) => void lines.push(a.join(" "));
    await errorCommand.run(
      parseCommandArgs(errorCommand.flags, [`${dir}/w.safetensors`, `${dir}/q.safetensors`]),
    );
    await errorCommand.run(
      parseCommandArgs(errorCommand.flags, [
        `${dir}/w.safetensors`,
        `${dir}/q.safetensors`,
        "--json",
      ]),
    );
    console.log = log;
    const table = lines[0]!;
    assert.match(table, /tensor\s+shape\s+method\s+rel MSE\s+bits\/weight/);
    assert.match(table, /^a\s+8x256\s+higgs\s+\d\.\d{4}e-\d+\s+4\.\d{4}$/m);
    assert.match(table, /^total \(2 tensors\)/m);
    const json = JSON.parse(lines[1]!);
    assert.equal(json.tensors.length, 2);
    for (const t of json.tensors) assert.ok(t.relMse > 0.005 && t.relMse < 0.02, String(t.relMse));
    assert.ok(json.total.bitsPerWeight > 4 && json.total.bitsPerWeight < 4.5);
  } finally {
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("error needs exactly two inputs", async () => {
  await assert.rejects(errorCommand.run(parseCommandArgs(errorCommand.flags, ["a"])), UsageError);
});
