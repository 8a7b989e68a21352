import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { type DType, DTYPE_BYTES, numel, Tensor, viewAs } from "../../src/core/tensor.ts";
import {
  parseSafetensors,
  SafetensorsFile,
  SafetensorsWriter,
  serializeSafetensors,
  writeSafetensors,
} from "../../src/io/safetensors.ts";
import { encodeHeader, tensorBytes } from "../../src/io/safetensors_format.ts";

const ALL_DTYPES = Object.keys(DTYPE_BYTES) as DType[];
const SHAPES: number[][] = [[2, 3], [], [0], [3, 0, 2], [5]];

/** A tensor of `dtype` and `shape` whose bytes are a seeded pseudo-random stream. */
function randomTensor(dtype: DType, shape: number[], seed: number): Tensor {
  const bytes = new Uint8Array(numel(shape) * DTYPE_BYTES[dtype]);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bytes[i] = s & 0xff;
  }
  if (dtype === "BOOL") bytes.forEach((b, i) => (bytes[i] = b & 1));
  return new Tensor(shape, dtype, viewAs(dtype, bytes));
}

function allTensors(): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  ALL_DTYPES.forEach((d, i) =>
    SHAPES.forEach((s, j) => m.set(`${d.toLowerCase()}.${j}`, randomTensor(d, s, i * 10 + j)))
  );
  return m;
}

function assertSameTensors(got: ReadonlyMap<string, Tensor>, want: ReadonlyMap<string, Tensor>) {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    assert.equal(g.dtype, w.dtype, name);
    assert.deepEqual(g.shape, w.shape, name);
    assert.deepEqual(tensorBytes(g), tensorBytes(w), name);
  }
}

/** Names of the entries of a folder, sorted. */
async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** A file from a header string and a buffer; `n` overrides the stored header length. */
function raw(json: string, buffer: Uint8Array | number = 0, n?: bigint): Uint8Array {
  const h = new TextEncoder().encode(json);
  const buf = typeof buffer === "number" ? new Uint8Array(buffer) : buffer;
  const out = new Uint8Array(8 + h.length + buf.length);
  new DataView(out.buffer).setBigUint64(0, n ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(buf, 8 + h.length);
  return out;
}

/** Asserts that parsing `bytes` throws a QuantlabError of `code` whose message has each part. */
function rejects(bytes: Uint8Array, code: string, ...parts: string[]): void {
  assert.throws(
    () => parseSafetensors(bytes, "x.safetensors"),
    (e: unknown) => {
      assert.ok(e instanceof QuantlabError, `not a QuantlabError: ${e}`);
      assert.equal(e.code, code, e.message);
      for (const p of ["x.safetensors", ...parts]) {
        assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${p}`);
      }
      return true;
    },
  );
}

const F32_2 = `{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`;

Deno.test("serializeSafetensors() and parseSafetensors() round-trip every dtype bit for bit", () => {
  const tensors = allTensors();
  const bytes = serializeSafetensors(tensors);
  const parsed = parseSafetensors(bytes);
  assertSameTensors(parsed.tensors, tensors);
  assert.deepEqual(parsed.metadata, {});
  // Scalars and empty tensors keep their shapes.
  assert.deepEqual(parsed.tensors.get("f32.1")!.shape, []);
  assert.equal(parsed.tensors.get("f32.1")!.numel, 1);
  assert.deepEqual(parsed.tensors.get("i64.3")!.shape, [3, 0, 2]);
});

Deno.test("metadata round-trips, including unusual keys, and is omitted when empty", () => {
  const meta = { format: "pt", "": "empty key", __proto__x: "ü ✓ \u0000", quant: '{"bits":4}' };
  const t = { w: randomTensor("BF16", [4], 1) };
  const parsed = parseSafetensors(serializeSafetensors(t, meta));
  assert.deepEqual(parsed.metadata, meta);
  const plain = new TextDecoder().decode(serializeSafetensors(t));
  assert.ok(!plain.includes("__metadata__"));
  const proto = JSON.parse('{"__proto__": "p"}') as Record<string, string>;
  assert.deepEqual(parseSafetensors(serializeSafetensors(t, proto)).metadata, proto);
});

Deno.test("serialisation pads the header with spaces and aligns every tensor to its size", () => {
  for (let len = 1; len <= 9; len++) {
    const tensors = {
      ["n".repeat(len)]: randomTensor("U8", [3], len),
      f64: randomTensor("F64", [2], 2),
      h: randomTensor("F16", [3], 3),
      i: randomTensor("I32", [1], 4),
    };
    const bytes = serializeSafetensors(tensors);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(header, /^\{.*\} *$/);
    const parsed = parseSafetensors(bytes);
    for (const info of parsed.header.tensors.values()) {
      assert.equal(info.byteOffset % DTYPE_BYTES[info.dtype], 0);
    }
    // Aligned tensors view the input without a copy.
    assert.equal(parsed.tensors.get("f64")!.data.buffer, bytes.buffer);
  }
});

Deno.test("serialisation is deterministic: by element size, then name, whatever the input order", () => {
  const a = randomTensor("U8", [2], 1);
  const b = randomTensor("F32", [2], 2);
  const c = randomTensor("F32", [1], 3);
  const one = serializeSafetensors({ a, b, c });
  const two = serializeSafetensors(new Map([["c", c], ["a", a], ["b", b]]));
  assert.deepEqual(one, two);
  assert.deepEqual(parseSafetensors(one).header.tensors.keys().toArray(), ["b", "c", "a"]);
  // Integer-like names keep that order too (object key order would put them first).
  const names = parseSafetensors(serializeSafetensors({ x: a, "10": a, "2": a })).tensors;
  assert.deepEqual([...names.keys()], ["10", "2", "x"]);
});

Deno.test("serializeSafetensors() rejects the reserved name and non-string metadata", () => {
  assert.throws(
    () => serializeSafetensors({ __metadata__: Tensor.zeros([1]) }),
    (e: unknown) => e instanceof QuantlabError && e.code === "bad-argument",
  );
  assert.throws(
    () => serializeSafetensors({}, { a: 1 } as unknown as Record<string, string>),
    (e: unknown) => e instanceof QuantlabError && e.message.includes('"a"'),
  );
  assert.throws(
    () =>
      encodeHeader([{ name: "a", dtype: "F32", shape: [1] }, {
        name: "a",
        dtype: "F32",
        shape: [1],
      }]),
    (e: unknown) => e instanceof QuantlabError && e.code === "bad-argument",
  );
});

Deno.test("parseSafetensors() accepts an empty file, a null metadata and spans listed out of order", () => {
  assert.equal(parseSafetensors(serializeSafetensors({})).tensors.size, 0);
  assert.equal(parseSafetensors(raw("{}")).tensors.size, 0);
  assert.deepEqual(parseSafetensors(raw('{"__metadata__":null}')).metadata, {});
  const json = `{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},` +
    `"e":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},` +
    `"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}`;
  const p = parseSafetensors(raw(json, new Uint8Array([1, 0, 2, 0, 7, 8])));
  assert.deepEqual([...p.tensors.keys()], ["a", "e", "b"]);
  assert.deepEqual([...p.tensors.get("a")!.data], [1, 2]);
  assert.deepEqual([...p.tensors.get("b")!.data], [7, 8]);
  // Header padding with spaces (and other JSON whitespace) is fine.
  assert.equal(parseSafetensors(raw(`{"w":${F32_2}}    `, 8)).tensors.size, 1);
});

Deno.test("parseSafetensors() ignores extra keys in a tensor entry, as the reference does", () => {
  const json = `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"note":"x"}}`;
  assert.deepEqual(parseSafetensors(raw(json, 8)).tensors.get("w")!.shape, [2]);
});

Deno.test("misaligned tensors in memory are copied, not viewed", () => {
  const json = `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},` +
    `"b":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}}`;
  const buf = new Uint8Array(5);
  new DataView(buf.buffer).setFloat32(1, 1.5, true);
  const p = parseSafetensors(raw(json + " ".repeat(8 - ((json.length + 8) % 8)), buf));
  assert.equal(p.tensors.get("b")!.data[0], 1.5);
});

// ---- Validation rules: one test each. -----------------------------------------------------

Deno.test("rejects a file shorter than the 8-byte header length", () => {
  rejects(new Uint8Array(5), "bad-file", "5 bytes");
});

Deno.test("rejects a header length over 100,000,000", () => {
  rejects(raw("{}", 0, 100_000_001n), "bad-file", "100000001", "100000000");
  rejects(raw("{}", 0, 2n ** 63n + 5n), "bad-file", String(2n ** 63n + 5n));
});

Deno.test("rejects a header length beyond the end of the file", () => {
  rejects(raw("{}", 0, 3n), "bad-file", "header length 3", "at most 2");
});

Deno.test('rejects a header that does not start with "{"', () => {
  rejects(raw(' {"a":1}'), "bad-file", "0x20", '"{"');
  rejects(raw("[]"), "bad-file", "0x5b");
  rejects(raw(""), "bad-file", "nothing");
});

Deno.test("rejects a header that is not valid UTF-8", () => {
  const bytes = raw('{"a\u00ff":1}');
  bytes[11] = 0xff; // the second byte of ÿ
  rejects(bytes, "bad-file", "UTF-8");
});

Deno.test("rejects a header that is not valid JSON", () => {
  rejects(raw('{"w":'), "bad-file", "JSON");
  rejects(raw(`{"w":${F32_2}}\0\0\0`, 8), "bad-file", "JSON");
});

Deno.test("rejects a key that occurs twice in the header", () => {
  rejects(raw(`{"w":${F32_2},"w":${F32_2}}`, 8), "bad-file", '"w" twice');
  rejects(
    raw(`{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8),
    "bad-file",
    '"dtype" twice',
  );
  rejects(raw(`{"w":${F32_2},"\\u0077":${F32_2}}`, 8), "bad-file", '"w" twice');
});

Deno.test("rejects an entry that is not an object", () => {
  rejects(raw('{"w":[1,2]}'), "bad-file", '"w"', "[1,2]");
  rejects(raw('{"w":null}'), "bad-file", '"w"', "null");
});

Deno.test("rejects an entry without dtype, shape or data_offsets", () => {
  rejects(raw('{"w":{"shape":[2],"data_offsets":[0,8]}}', 8), "bad-file", '"w"', '"dtype"');
  rejects(raw('{"w":{"dtype":"F32","data_offsets":[0,8]}}', 8), "bad-file", '"w"', '"shape"');
  rejects(raw('{"w":{"dtype":"F32","shape":[2]}}', 8), "bad-file", '"w"', '"data_offsets"');
});

Deno.test("rejects an unknown dtype as bad-file", () => {
  rejects(
    raw('{"w":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}', 8),
    "bad-file",
    '"w"',
    '"F17"',
  );
  rejects(raw('{"w":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}', 8), "bad-file", '"w"', "3");
  rejects(raw('{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}', 8), "bad-file", '"f32"');
});

Deno.test("rejects a known but unsupported dtype as unsupported, naming tensor and dtype", () => {
  for (const d of ["F8_E4M3", "F8_E5M2", "F4", "C64"]) {
    rejects(
      raw(`{"w8":{"dtype":"${d}","shape":[2],"data_offsets":[0,2]}}`, 2),
      "unsupported",
      '"w8"',
      d,
    );
  }
});

Deno.test("rejects a shape that is not a list of non-negative safe integers", () => {
  for (const s of ["[-1]", "[1.5]", '["2"]', "2", "null", "[9007199254740992]", "[[2]]"]) {
    rejects(raw(`{"w":{"dtype":"U8","shape":${s},"data_offsets":[0,2]}}`, 2), "bad-file", '"w"');
  }
});

Deno.test("rejects data_offsets that are not two non-negative integers", () => {
  for (const o of ["[0]", "[0,2,4]", "[-2,0]", "[0,2.5]", '"0,2"', "[0,null]"]) {
    rejects(raw(`{"w":{"dtype":"U8","shape":[2],"data_offsets":${o}}}`, 2), "bad-file", '"w"', o);
  }
});

Deno.test("rejects data_offsets with begin after end", () => {
  rejects(
    raw('{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}', 4),
    "bad-file",
    '"w"',
    "[4, 2]",
    "begin after end",
  );
});

Deno.test("rejects a span whose length is not numel × dtype size", () => {
  rejects(
    raw('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,6]}}', 6),
    "bad-file",
    '"w"',
    "6 bytes",
    "needs 8",
  );
  rejects(raw('{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,4]}}', 4), "bad-file", "needs 0");
});

Deno.test("rejects a shape whose size overflows", () => {
  const s = "[1073741824,1073741824,1073741824]";
  rejects(
    raw(`{"w":{"dtype":"U8","shape":${s},"data_offsets":[0,0]}}`),
    "bad-file",
    '"w"',
    "too large",
  );
});

Deno.test("rejects overlapping spans", () => {
  const json = `{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},` +
    `"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`;
  rejects(raw(json, 6), "bad-file", '"b"', "overlaps", '"a"');
});

Deno.test("rejects a gap between spans", () => {
  const json = `{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},` +
    `"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}`;
  rejects(raw(json, 6), "bad-file", "bytes 2 to 4", '"b"');
  rejects(
    raw('{"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', 3),
    "bad-file",
    "bytes 0 to 1",
  );
});

Deno.test("rejects bytes after the last tensor", () => {
  rejects(raw(`{"w":${F32_2}}`, 9), "bad-file", "1 bytes after the last tensor");
});

Deno.test("rejects a buffer shorter than the spans", () => {
  rejects(raw(`{"w":${F32_2}}`, 7), "bad-file", "8-byte buffer", "only 7", "truncated");
});

Deno.test("rejects metadata that is not a string → string map", () => {
  rejects(raw('{"__metadata__":{"a":1}}'), "bad-file", '"a"', "1");
  rejects(raw('{"__metadata__":["a"]}'), "bad-file", "__metadata__");
  rejects(raw('{"__metadata__":"a"}'), "bad-file", "__metadata__");
});

// ---- Files. ------------------------------------------------------------------------------

Deno.test("writeSafetensors() and SafetensorsFile round-trip every dtype through a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/all.safetensors`;
    const tensors = allTensors();
    await writeSafetensors(path, tensors, { format: "pt" });
    assert.deepEqual(await Deno.readFile(path), serializeSafetensors(tensors, { format: "pt" }));
    using f = await SafetensorsFile.open(path);
    assert.deepEqual(f.metadata, { format: "pt" });
    assert.equal(f.names().length, tensors.size);
    const got = new Map<string, Tensor>();
    for (const name of f.names()) got.set(name, await f.read(name));
    assertSameTensors(got, tensors);
    const info = f.info("f32.0");
    assert.equal(info.dtype, "F32");
    assert.deepEqual(info.shape, [2, 3]);
    assert.equal(info.byteLength, 24);
    const whole = await Deno.readFile(path);
    assert.deepEqual(
      whole.subarray(info.byteOffset, info.byteOffset + 24),
      tensorBytes(tensors.get("f32.0")!),
    );
    assert.deepEqual(await listDir(dir), ["all.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reading one tensor reads only the header and that tensor's bytes", async () => {
  const dir = await Deno.makeTempDir();
  const proto = Deno.FsFile.prototype;
  const original = proto.read;
  let bytesRead = 0;
  proto.read = async function (this: Deno.FsFile, p: Uint8Array): Promise<number | null> {
    const n = await original.call(this, p);
    bytesRead += n ?? 0;
    return n;
  };
  try {
    // A 256 MiB tensor that is never written (a sparse file), then a small one.
    const big = 256 * 2 ** 20;
    const path = `${dir}/big.safetensors`;
    const header = encodeHeader([
      { name: "big", dtype: "U8", shape: [big] },
      { name: "small", dtype: "F32", shape: [4] },
    ]);
    const small = new Float32Array([1, 2, 3, 4]);
    const file = await Deno.open(path, { write: true, create: true });
    await file.write(header.bytes);
    await file.truncate(header.bytes.length + big);
    await file.seek(header.bytes.length + big, Deno.SeekMode.Start);
    await file.write(new Uint8Array(small.buffer));
    file.close();

    using f = await SafetensorsFile.open(path);
    assert.equal(bytesRead, header.bytes.length);
    const t = await f.read("small");
    assert.deepEqual([...t.data], [1, 2, 3, 4]);
    assert.equal(bytesRead, header.bytes.length + 16); // the hole was never read
  } finally {
    proto.read = original;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SafetensorsFile serves concurrent reads correctly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tensors = allTensors();
    await writeSafetensors(`${dir}/a.safetensors`, tensors);
    using f = await SafetensorsFile.open(`${dir}/a.safetensors`);
    const names = f.names();
    const got = await Promise.all(names.map((n) => f.read(n)));
    assertSameTensors(new Map(names.map((n, i) => [n, got[i]!])), tensors);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SafetensorsFile reports missing files, folders, unknown tensors and closed files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      SafetensorsFile.open(`${dir}/nope.safetensors`),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "not-found" && e.message.includes("nope"),
    );
    await assert.rejects(
      SafetensorsFile.open(dir),
      (e: unknown) => e instanceof QuantlabError && e.code === "bad-file",
    );
    await Deno.writeFile(`${dir}/bad.safetensors`, raw(`{"w":${F32_2}}`, 4));
    await assert.rejects(
      SafetensorsFile.open(`${dir}/bad.safetensors`),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-file" &&
        e.message.includes("bad.safetensors"),
    );
    const path = `${dir}/ok.safetensors`;
    await writeSafetensors(path, { w: Tensor.zeros([2]) });
    const f = await SafetensorsFile.open(path);
    assert.throws(
      () => f.info("v"),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "not-found" && e.message.includes('"v"'),
    );
    f.close();
    f.close();
    await assert.rejects(
      f.read("w"),
      (e: unknown) => e instanceof QuantlabError && e.message.includes("closed"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file truncated after opening gives bad-file on read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.safetensors`;
    await writeSafetensors(path, { w: Tensor.zeros([16]) });
    using f = await SafetensorsFile.open(path);
    await Deno.truncate(path, 40);
    await assert.rejects(
      f.read("w"),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-file" && e.message.includes('"w"'),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SafetensorsWriter streams tensors in declared order and renames on close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/s.safetensors`;
    const a = randomTensor("U8", [3], 1);
    const b = randomTensor("F64", [2, 2], 2);
    const w = await SafetensorsWriter.create(path, [
      { name: "a", dtype: "U8", shape: [3] },
      { name: "b", dtype: "F64", shape: [2, 2] },
    ], { k: "v" });
    assert.deepEqual(w.pending, ["a", "b"]);
    await w.write("a", a);
    await assert.rejects(Deno.stat(path)); // not visible before close
    await w.write("b", b);
    await w.close();
    await w.abort(); // harmless after close
    const p = parseSafetensors(await Deno.readFile(path));
    assert.deepEqual([...p.tensors.keys()], ["a", "b"]);
    assertSameTensors(p.tensors, new Map([["a", a], ["b", b]]));
    assert.deepEqual(p.metadata, { k: "v" });
    assert.deepEqual(await listDir(dir), ["s.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SafetensorsWriter errors remove the temporary file and leave the target untouched", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/s.safetensors`;
    await Deno.writeTextFile(path, "old");
    const specs = [
      { name: "a", dtype: "U8" as const, shape: [3] },
      { name: "b", dtype: "F32" as const, shape: [2] },
    ];
    const cases: [string, (w: SafetensorsWriter) => Promise<void>][] = [
      ["out of order", (w) => w.write("b", Tensor.zeros([2]))],
      ["wrong shape", (w) => w.write("a", randomTensor("U8", [4], 1))],
      ["wrong dtype", (w) => w.write("a", randomTensor("I8", [3], 1))],
      ["close early", async (w) => {
        await w.write("a", randomTensor("U8", [3], 1));
        await w.close();
      }],
    ];
    for (const [what, act] of cases) {
      const w = await SafetensorsWriter.create(path, specs);
      await assert.rejects(act(w), (e: unknown) => e instanceof QuantlabError, what);
      await assert.rejects(w.write("a", randomTensor("U8", [3], 1)), QuantlabError);
      assert.deepEqual(
        await listDir(dir),
        ["s.safetensors"],
        what,
      );
      assert.equal(await Deno.readTextFile(path), "old");
    }
    {
      await using w = await SafetensorsWriter.create(path, specs);
      await w.write("a", randomTensor("U8", [3], 1));
    } // disposed without close: aborted
    assert.deepEqual(await listDir(dir), ["s.safetensors"]);
    await assert.rejects(
      writeSafetensors(`${dir}/missing/x.safetensors`, { a: Tensor.zeros([1]) }),
      (e: unknown) => e instanceof QuantlabError && e.code === "not-found",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeSafetensors() replaces an existing file atomically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    await writeSafetensors(path, { a: Tensor.zeros([2]) });
    await writeSafetensors(path, { b: randomTensor("I16", [3], 5) });
    assert.deepEqual(parseSafetensors(await Deno.readFile(path)).header.tensors.keys().toArray(), [
      "b",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
