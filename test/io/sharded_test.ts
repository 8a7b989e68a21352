import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { type DType, DTYPE_BYTES, numel, Tensor, viewAs } from "../../src/core/tensor.ts";
import { SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.ts";
import { tensorBytes } from "../../src/io/safetensors_format.ts";
import { INDEX_FILE, openCheckpoint, writeSharded } from "../../src/io/sharded.ts";

function randomTensor(dtype: DType, shape: number[], seed: number): Tensor {
  const bytes = new Uint8Array(numel(shape) * DTYPE_BYTES[dtype]);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bytes[i] = s & 0xff;
  }
  return new Tensor(shape, dtype, viewAs(dtype, bytes));
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertError(code: string, ...parts: string[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof QuantlabError, `not a QuantlabError: ${e}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${e.message} lacks ${p}`);
    return true;
  };
}

/** 10 tensors of 64 bytes each plus odd ones. */
function model(): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  for (let i = 0; i < 10; i++) {
    out.push([`layers.${i}.w`, randomTensor(i % 2 ? "BF16" : "F32", [i % 2 ? 32 : 16], i)]);
  }
  out.push(["scalar", randomTensor("I64", [], 99)]);
  out.push(["empty", randomTensor("F16", [0, 7], 98)]);
  return out;
}

Deno.test("writeSharded() splits at maxShardBytes and openCheckpoint() reads every tensor back", async () => {
  await withDir(async (dir) => {
    const tensors = model();
    const r = await writeSharded(dir, tensors, 200);
    // 64-byte tensors, 200-byte shards: 3 per shard; the scalar joins the last full one.
    assert.deepEqual(r.files.map((f) => f.slice(dir.length + 1)), [
      "model-00001-of-00004.safetensors",
      "model-00002-of-00004.safetensors",
      "model-00003-of-00004.safetensors",
      "model-00004-of-00004.safetensors",
    ]);
    assert.equal(r.totalSize, 10 * 64 + 8);
    assert.deepEqual(
      await listDir(dir),
      [...r.files.map((f) => f.slice(dir.length + 1)), INDEX_FILE].sort(),
    );
    const index = JSON.parse(await Deno.readTextFile(r.index));
    assert.deepEqual(index.metadata, { total_size: 648 });
    assert.equal(index.weight_map["layers.0.w"], "model-00001-of-00004.safetensors");
    assert.equal(index.weight_map["layers.9.w"], "model-00004-of-00004.safetensors");
    assert.deepEqual(Object.keys(index.weight_map), tensors.map(([n]) => n).sort());

    for (const target of [dir, r.index]) {
      using ckpt = await openCheckpoint(target);
      assert.equal(ckpt.files.length, 4);
      assert.deepEqual(ckpt.names().sort(), tensors.map(([n]) => n).sort());
      assert.deepEqual(ckpt.indexMetadata, { total_size: 648 });
      assert.deepEqual(await ckpt.metadata(), { format: "pt" });
      for (const [name, t] of tensors) {
        const got = await ckpt.read(name);
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual(got.shape, t.shape);
        assert.deepEqual(tensorBytes(got), tensorBytes(t), name);
      }
      const info = await ckpt.info("layers.4.w");
      assert.ok(info.file.endsWith("model-00002-of-00004.safetensors"));
      assert.equal(info.byteLength, 64);
      await ckpt.validate();
    }
  });
});

Deno.test("writeSharded() gives an oversized tensor its own shard and accepts async iterables", async () => {
  await withDir(async (dir) => {
    async function* gen(): AsyncGenerator<[string, Tensor]> {
      yield ["a", randomTensor("U8", [10], 1)];
      yield ["big", randomTensor("U8", [100], 2)];
      yield ["b", randomTensor("U8", [10], 3)];
    }
    const r = await writeSharded(dir, gen(), 50, { metadata: { note: "x" } });
    assert.equal(r.files.length, 3);
    using ckpt = await openCheckpoint(dir);
    assert.deepEqual((await ckpt.read("big")).numel, 100);
    assert.deepEqual(await ckpt.metadata(), { format: "pt", note: "x" });
  });
});

Deno.test("writeSharded() of nothing writes one empty shard and an index", async () => {
  await withDir(async (dir) => {
    const r = await writeSharded(dir, [], 100);
    assert.equal(r.files.length, 1);
    using ckpt = await openCheckpoint(dir);
    assert.deepEqual(ckpt.names(), []);
    await ckpt.validate();
  });
});

Deno.test("writeSharded() rejects duplicate names and bad sizes, leaving no files", async () => {
  await withDir(async (dir) => {
    const t = randomTensor("U8", [4], 1);
    await assert.rejects(
      writeSharded(dir, [["a", t], ["b", t], ["a", t]], 4),
      assertError("bad-argument", '"a"'),
    );
    assert.deepEqual(await listDir(dir), []);
    for (const bad of [0, -1, 1.5, NaN]) {
      await assert.rejects(writeSharded(dir, [["a", t]], bad), assertError("bad-argument"));
    }
    await assert.rejects(
      writeSharded(dir, [["__metadata__", t]], 4),
      assertError("bad-argument", "__metadata__"),
    );
    assert.deepEqual(await listDir(dir), []);
  });
});

Deno.test("openCheckpoint() opens a single file, by folder or path", async () => {
  await withDir(async (dir) => {
    const w = randomTensor("F16", [3], 1);
    await writeSafetensors(`${dir}/model.safetensors`, { w }, { format: "pt" });
    for (const target of [dir, `${dir}/model.safetensors`, `${dir}/`]) {
      using ckpt = await openCheckpoint(target);
      assert.deepEqual(ckpt.names(), ["w"]);
      assert.equal(ckpt.indexMetadata, null);
      assert.deepEqual(await ckpt.metadata(), { format: "pt" });
      assert.deepEqual(tensorBytes(await ckpt.read("w")), tensorBytes(w));
      await assert.rejects(ckpt.read("v"), assertError("not-found", '"v"'));
    }
  });
});

Deno.test("openCheckpoint() on a folder picks its only safetensors file or names candidates", async () => {
  await withDir(async (dir) => {
    await assert.rejects(openCheckpoint(dir), assertError("not-found", INDEX_FILE));
    await writeSafetensors(`${dir}/adapter.safetensors`, { a: Tensor.zeros([1]) });
    {
      using ckpt = await openCheckpoint(dir);
      assert.deepEqual(ckpt.names(), ["a"]);
    }
    await writeSafetensors(`${dir}/other.safetensors`, { b: Tensor.zeros([1]) });
    await assert.rejects(
      openCheckpoint(dir),
      assertError("not-found", "adapter.safetensors", "other.safetensors"),
    );
    await assert.rejects(openCheckpoint(`${dir}/nope`), assertError("not-found", "nope"));
  });
});

Deno.test("openCheckpoint() names index shards that do not exist", async () => {
  await withDir(async (dir) => {
    await writeSharded(dir, model(), 200);
    await Deno.remove(`${dir}/model-00003-of-00004.safetensors`);
    await assert.rejects(
      openCheckpoint(dir),
      assertError("not-found", "model-00003-of-00004.safetensors"),
    );
  });
});

Deno.test("a shard lacking a tensor the index lists is reported when opened, naming it", async () => {
  await withDir(async (dir) => {
    await writeSharded(dir, model(), 200);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/${INDEX_FILE}`));
    index.weight_map["ghost"] = "model-00002-of-00004.safetensors";
    await Deno.writeTextFile(`${dir}/${INDEX_FILE}`, JSON.stringify(index));
    using ckpt = await openCheckpoint(dir);
    // Shard 1 is fine; shard 2 is opened lazily and then found lacking.
    await ckpt.read("layers.0.w");
    await assert.rejects(
      ckpt.read("layers.3.w"),
      assertError("bad-file", '"ghost"', "model-00002-of-00004.safetensors"),
    );
    await assert.rejects(ckpt.validate(), assertError("bad-file", '"ghost"'));
  });
});

Deno.test("shards are opened lazily: a corrupt shard only fails reads that need it", async () => {
  await withDir(async (dir) => {
    await writeSharded(dir, model(), 200);
    await Deno.writeTextFile(`${dir}/model-00004-of-00004.safetensors`, "garbage!garbage!");
    using ckpt = await openCheckpoint(dir);
    assert.equal((await ckpt.read("layers.0.w")).numel, 16);
    await assert.rejects(
      ckpt.read("layers.9.w"),
      assertError("bad-file", "model-00004-of-00004.safetensors"),
    );
  });
});

Deno.test("openCheckpoint() rejects malformed indexes with bad-file", async () => {
  await withDir(async (dir) => {
    await writeSafetensors(`${dir}/s.safetensors`, { a: Tensor.zeros([1]) });
    const cases: [string, string][] = [
      ["{", "JSON"],
      ["[]", "object"],
      ['{"metadata":{}}', "weight_map"],
      ['{"weight_map":[]}', "weight_map"],
      ['{"weight_map":{"a":3}}', '"a"'],
      ['{"weight_map":{"a":"../s.safetensors"}}', "../s.safetensors"],
      ['{"weight_map":{"a":"/etc/passwd"}}', "/etc/passwd"],
      ['{"weight_map":{"a":"s.safetensors","a":"s.safetensors"}}', '"a"'],
      ['{"metadata":3,"weight_map":{"a":"s.safetensors"}}', "metadata"],
    ];
    for (const [text, part] of cases) {
      await Deno.writeTextFile(`${dir}/${INDEX_FILE}`, text);
      await assert.rejects(openCheckpoint(dir), assertError("bad-file", INDEX_FILE, part), text);
    }
    await Deno.writeTextFile(`${dir}/${INDEX_FILE}`, '{"weight_map":{"a":"s.safetensors"}}');
    using ckpt = await openCheckpoint(dir);
    assert.equal((await ckpt.read("a")).numel, 1);
  });
});

Deno.test("a checkpoint can be closed while shards are open and refuses reads afterwards", async () => {
  await withDir(async (dir) => {
    await writeSharded(dir, model(), 200);
    const ckpt = await openCheckpoint(dir);
    await Promise.all(ckpt.names().map((n) => ckpt.read(n)));
    ckpt.close();
    await assert.rejects(ckpt.read("layers.0.w"), assertError("bad-argument", "closed"));
    // The shard files themselves are intact.
    using f = await SafetensorsFile.open(ckpt.files[0]!);
    assert.equal(f.names().length, 3);
  });
});
