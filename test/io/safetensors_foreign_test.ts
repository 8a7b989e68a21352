// A file written by the reference implementation (huggingface/safetensors' Rust core), read by
// quantlab's two readers: origin and contents in test/fixtures/safetensors_samples/README.md.
import assert from "node:assert/strict";
import { tensorToF32 } from "../../src/core/dtype.ts";
import type { Tensor } from "../../src/core/tensor.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { parseSafetensors } from "../../src/io/safetensors_format.ts";

const FIXTURE = new URL("../fixtures/safetensors_samples/overall.safetensors", import.meta.url);

// numpy type code → [safetensors dtype, the stored values of np.array(range(-3, 3), dtype)].
const EXPECTED: Record<string, [string, number[]]> = {
  B: ["U8", [253, 254, 255, 0, 1, 2]],
  H: ["U16", [65533, 65534, 65535, 0, 1, 2]],
  I: ["U32", [4294967293, 4294967294, 4294967295, 0, 1, 2]],
  b: ["I8", [-3, -2, -1, 0, 1, 2]],
  h: ["I16", [-3, -2, -1, 0, 1, 2]],
  i: ["I32", [-3, -2, -1, 0, 1, 2]],
  e: ["F16", [-3, -2, -1, 0, 1, 2]],
  f: ["F32", [-3, -2, -1, 0, 1, 2]],
  d: ["F64", [-3, -2, -1, 0, 1, 2]],
};

function checkTensor(name: string, t: Tensor): void {
  const [dtype, values] = EXPECTED[name]!;
  assert.equal(t.dtype, dtype, name);
  assert.deepEqual(t.shape, [6], name);
  const got = dtype.startsWith("F")
    ? Array.from(tensorToF32(t).data)
    : Array.from(t.data as ArrayLike<number>);
  assert.deepEqual(got, values, name);
}

Deno.test("the reference implementation's sample file parses in memory: metadata, 9 dtypes, values", async () => {
  const bytes = await Deno.readFile(FIXTURE);
  assert.equal(bytes.length, 702);
  const parsed = parseSafetensors(bytes, "overall.safetensors");
  assert.deepEqual(parsed.metadata, { test: "a" });
  assert.deepEqual([...parsed.tensors.keys()].sort(), Object.keys(EXPECTED).sort());
  for (const [name, t] of parsed.tensors) checkTensor(name, t);
});

Deno.test("the reference implementation's sample file reads lazily from disk, tensor by tensor", async () => {
  const f = await SafetensorsFile.open(FIXTURE.pathname);
  try {
    assert.deepEqual(f.names().sort(), Object.keys(EXPECTED).sort());
    for (const name of f.names()) checkTensor(name, await f.read(name));
  } finally {
    f.close();
  }
});
