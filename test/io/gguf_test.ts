import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { decodeGguf, encodeGguf, type GgufTensor, type GgufValue } from "../../src/io/gguf.ts";
import { permuteRotateHalfToInterleaved } from "../../peers/llamacpp/convert.ts";

const md = (entries: [string, GgufValue][]) => new Map(entries);

Deno.test("encodeGguf() writes the GGUF v3 header, a typed key–value pair and a tensor info byte for byte", () => {
  const bytes = encodeGguf(md([["a", { type: "u32", value: 7 }]]), [
    { name: "w", dims: [2], type: "F32", data: new Float32Array([1, -2]) },
  ]);
  const v = new DataView(bytes.buffer);
  // Per the GGUF spec (ggml docs/gguf.md): magic "GGUF", version 3, tensor count, metadata count.
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "GGUF");
  assert.deepEqual([v.getUint32(4, true), v.getBigUint64(8, true), v.getBigUint64(16, true)], [
    3,
    1n,
    1n,
  ]);
  // Key: u64 length + bytes; value type 4 (UINT32) + value.
  assert.deepEqual([
    v.getBigUint64(24, true),
    bytes[32],
    v.getUint32(33, true),
    v.getUint32(37, true),
  ], [
    1n,
    "a".charCodeAt(0),
    4,
    7,
  ]);
  // Tensor info: name, n_dims, dims (u64), type 0 (F32), offset 0 (relative to the data section).
  assert.deepEqual([v.getBigUint64(41, true), bytes[49], v.getUint32(50, true)], [
    1n,
    "w".charCodeAt(0),
    1,
  ]);
  assert.deepEqual([v.getBigUint64(54, true), v.getUint32(62, true), v.getBigUint64(66, true)], [
    2n,
    0,
    0n,
  ]);
  // The data section starts at the next multiple of 32 (74 → 96) and the file ends aligned.
  assert.deepEqual([v.getFloat32(96, true), v.getFloat32(100, true)], [1, -2]);
  assert.equal(bytes.length, 128);
  assert.ok(bytes.subarray(74, 96).every((b) => b === 0));
});

Deno.test("decodeGguf(encodeGguf()) round-trips every value type, arrays, F32/F16 tensors and a custom alignment", () => {
  const metadata = md([
    ["general.alignment", { type: "u32", value: 64 }],
    ["u8", { type: "u8", value: 255 }],
    ["i8", { type: "i8", value: -128 }],
    ["u16", { type: "u16", value: 65535 }],
    ["i16", { type: "i16", value: -32768 }],
    ["i32", { type: "i32", value: -5 }],
    ["f32", { type: "f32", value: Math.fround(0.1) }],
    ["f64", { type: "f64", value: 0.1 }],
    ["bool", { type: "bool", value: true }],
    ["u64", { type: "u64", value: 2n ** 63n }],
    ["i64", { type: "i64", value: -(2n ** 40n) }],
    ["string", { type: "string", value: "Ġt héllo" }],
    ["tokens", {
      type: "array",
      itemType: "string",
      value: Array.from({ length: 5000 }, (_, i) => `tok${i}`),
    }],
    ["types", { type: "array", itemType: "i32", value: [1, 3, 5] }],
  ]);
  const tensors: GgufTensor[] = [
    { name: "a", dims: [3], type: "F32", data: new Float32Array([1, 2, 3]) },
    {
      name: "b",
      dims: [5, 2],
      type: "F16",
      data: Uint16Array.from({ length: 10 }, (_, i) => 0x3c00 + i),
    },
    {
      name: "c",
      dims: [100, 300],
      type: "F32",
      data: Float32Array.from({ length: 30000 }, (_, i) => i / 7),
    },
  ];
  const bytes = encodeGguf(metadata, tensors);
  const back = decodeGguf(bytes);
  assert.equal(back.version, 3);
  assert.deepEqual([...back.metadata], [...metadata]);
  assert.deepEqual(back.tensors, tensors);
  assert.equal(bytes.length % 64, 0);
});

Deno.test("decodeGguf() names what is wrong with a bad file", () => {
  const good = encodeGguf(md([["k", { type: "string", value: "v" }]]), [
    { name: "w", dims: [4], type: "F32", data: new Float32Array(4) },
  ]);
  const bad = (bytes: Uint8Array, re: RegExp) =>
    assert.throws(
      () => decodeGguf(bytes),
      (e: unknown) => e instanceof QuantlabError && re.test(e.message),
    );
  bad(new TextEncoder().encode("GGML and more bytes"), /Not a GGUF file: magic 0x4c4d4747/);
  bad(good.slice(0, 30), /GGUF file ends at byte 30 inside/);
  bad(good.slice(0, good.length - 20), /GGUF tensor "w" needs bytes \d+–\d+; the file has \d+/);
  const v4 = good.slice();
  new DataView(v4.buffer).setUint32(4, 4, true);
  bad(v4, /GGUF version 4 is not supported/);
  assert.throws(
    () => encodeGguf(new Map(), [{ name: "w", dims: [3], type: "F32", data: new Float32Array(4) }]),
    /GGUF tensor "w": dims \[3\] need 3 F32 values; got 4/,
  );
  assert.throws(
    () => encodeGguf(md([["n", { type: "u32", value: -1.5 }]]), []),
    /GGUF metadata "n": value -1.5 is not a valid u32/,
  );
});

Deno.test("the q/k permutation turns rotate-half pairs (i, i + d/2) into adjacent rows (2i, 2i + 1) per head", () => {
  // Two heads of head_dim 4, one column: rows are their own indices.
  const w = Float32Array.from({ length: 8 }, (_, i) => i);
  assert.deepEqual([...permuteRotateHalfToInterleaved(w, 2, 4, 1)], [0, 2, 1, 3, 4, 6, 5, 7]);
  // Columns move with their row.
  const w2 = Float32Array.from({ length: 8 }, (_, i) => i);
  assert.deepEqual([...permuteRotateHalfToInterleaved(w2, 1, 4, 2)], [0, 1, 4, 5, 2, 3, 6, 7]);
});
