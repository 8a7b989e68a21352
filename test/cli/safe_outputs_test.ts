import assert from "node:assert/strict";
import { main } from "../../src/cli/main.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { INDEX_FILE, openCheckpoint } from "../../src/io/sharded.ts";

/** Runs the CLI, returning its exit code and what it printed on stderr. */
async function cli(argv: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await main(argv), err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const weight = (seed: number): Tensor =>
  Tensor.f32([8, 128], fillNormal(new Float32Array(8 * 128), seed));

Deno.test("zero quantizable tensors: exit 1, one line, nothing left behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/m`);
    await writeSafetensors(`${dir}/m/model.safetensors`, {
      "norm.weight": Tensor.zeros([128]),
      "ids": new Tensor([2, 2], "I32", new Int32Array(4)),
    });
    await Deno.writeTextFile(`${dir}/m/config.json`, "{}");
    const r = await cli(["quantize", `${dir}/m`, "--out", `${dir}/q`, "-q", "--backend", "cpu"]);
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, /holds no tensor to quantize.*nothing was written/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a folder input with --out X.safetensors is a usage error (exit 2), nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/m`);
    await writeSafetensors(`${dir}/m/model.safetensors`, { "layers.0.w": weight(1) });
    const r = await cli(["quantize", `${dir}/m`, "--out", `${dir}/q.safetensors`, "-q"]);
    assert.equal(r.code, 2);
    assert.match(r.err[0]!, /is a folder, so the output is a folder too/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--force replaces an old sharded output whole: its index never wins over the new file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/m`);
    await writeSafetensors(`${dir}/m/model.safetensors`, { "layers.0.w": weight(2) });
    await Deno.mkdir(`${dir}/q`);
    await Deno.writeTextFile(
      `${dir}/q/${INDEX_FILE}`,
      JSON.stringify({ weight_map: { "layers.0.w": "old-00001-of-00001.safetensors" } }),
    );
    const argv = ["quantize", `${dir}/m`, "--out", `${dir}/q`, "-q", "--backend", "cpu"];
    const refused = await cli(argv);
    assert.equal(refused.code, 2);
    assert.equal(refused.err.length, 1);
    assert.match(refused.err[0]!, /--out ".*\/q" already exists .*--force.*--resume/);
    const r = await cli([...argv, "--force"]);
    assert.equal(r.code, 0, r.err.join("\n"));
    assert.deepEqual([...Deno.readDirSync(`${dir}/q`)].map((e) => e.name).sort(), [
      "config.json",
      "model.safetensors",
    ]);
    const ck = await openCheckpoint(`${dir}/q`);
    try {
      assert.ok(ck.files[0]!.endsWith("/model.safetensors"), ck.files.join());
    } finally {
      ck.close();
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["m", "q"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dequantize refuses to write over its input (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeSafetensors(`${dir}/w.safetensors`, { "layers.0.w": weight(3) });
    const q = `${dir}/q.safetensors`;
    assert.equal((await cli(["quantize", `${dir}/w.safetensors`, "--out", q, "-q"])).code, 0);
    const before = await Deno.readFile(q);
    const r = await cli(["dequantize", q, "--out", q]);
    assert.equal(r.code, 2);
    assert.match(r.err[0]!, /is a file of the input checkpoint/);
    assert.deepEqual(await Deno.readFile(q), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
