import assert from "node:assert/strict";
import { hashSafetensorsFile } from "../../src/io/content_hash.ts";
import { checksumOf } from "../../src/io/checksum.ts";
import { modelHash } from "../../src/io/model_folder.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";

async function withTemp(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-hash-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Overwrites 4 bytes at `at` with a finite f32. */
async function poke(path: string, at: number, value: number): Promise<void> {
  const f = await Deno.open(path, { read: true, write: true });
  try {
    await f.seek(at, Deno.SeekMode.Start);
    await f.write(new Uint8Array(new Float32Array([value]).buffer));
  } finally {
    f.close();
  }
}

Deno.test("hashSafetensorsFile() is the XXH64 of the whole file, streamed past 16 MiB pieces", async () => {
  await withTemp(async (dir) => {
    // 18 MiB of f32: the stream crosses a 16 MiB piece boundary inside the tensor.
    const n = 18 * 2 ** 18;
    const path = `${dir}/a.safetensors`;
    await writeSafetensors(path, { w: Tensor.f32([n], fillNormal(new Float32Array(n), 1)) });
    const bytes = await Deno.readFile(path);
    const plain = await hashSafetensorsFile(path);
    const checked = await hashSafetensorsFile(path, new Set(["w"]));
    assert.deepEqual(plain, { bytes: bytes.length, xxh64: checksumOf([bytes]) });
    assert.deepEqual(checked, plain);
  });
});

Deno.test("a NaN past the first 16 MiB piece is found, named by tensor, index and value", async () => {
  await withTemp(async (dir) => {
    const n = 18 * 2 ** 18;
    const data = fillNormal(new Float32Array(n), 2);
    const at = 17 * 2 ** 18 + 5; // in the second piece
    data[at] = NaN;
    const path = `${dir}/a.safetensors`;
    await writeSafetensors(path, {
      before: Tensor.zeros([3]),
      w: Tensor.f32([n / 512, 512], data),
    });
    await assert.rejects(
      hashSafetensorsFile(path, new Set(["w"])),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-value" &&
        e.message.includes(
          `holds NaN at index ${at} (row ${Math.floor(at / 512)}, column ${at % 512})`,
        ),
    );
    // Tensors not asked about are not checked.
    assert.equal((await hashSafetensorsFile(path, new Set(["before"]))).bytes > n * 4, true);
  });
});

Deno.test("a changed value in the middle of a 3 MiB file changes its hash and the model hash, size kept", async () => {
  await withTemp(async (dir) => {
    const n = 768 * 1024; // 3 MiB of f32
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeTextFile(`${dir}/m/config.json`, '{"model_type": "llama"}');
    const path = `${dir}/m/model.safetensors`;
    await writeSafetensors(path, {
      w: Tensor.f32([768, 1024], fillNormal(new Float32Array(n), 3)),
    });
    const size = (await Deno.stat(path)).size;
    const [h0, m0] = [await hashSafetensorsFile(path), await modelHash(`${dir}/m`)];
    // Far from the first and last MiB, which an earlier model hash sampled.
    await poke(path, Math.floor(size / 8) * 4, 0.5);
    assert.equal((await Deno.stat(path)).size, size);
    const [h1, m1] = [await hashSafetensorsFile(path), await modelHash(`${dir}/m`)];
    assert.equal(h1.bytes, h0.bytes);
    assert.notEqual(h1.xxh64, h0.xxh64);
    assert.notEqual(m1, m0);
    // The tokenizer is part of what a model computes: it changes the model hash too.
    await Deno.writeTextFile(`${dir}/m/tokenizer.json`, "{}");
    assert.notEqual(await modelHash(`${dir}/m`), m1);
  });
});
