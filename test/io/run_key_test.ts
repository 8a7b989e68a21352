import assert from "node:assert/strict";
import { describeKeyDifferences, keyDifferences } from "../../src/io/run_key.ts";

Deno.test("keyDifferences() names only the differing fields, nested, both ways, with both values", () => {
  const saved = {
    ctx: 8,
    draws: 1,
    levels: [1, 2],
    inputs: { "model.safetensors": { bytes: 10, xxh64: "xxh64:a" } },
    gone: true,
  };
  const now = {
    ctx: 8,
    draws: 1,
    levels: [1, 3],
    inputs: { "model.safetensors": { bytes: 10, xxh64: "xxh64:b" } },
    added: "x",
  };
  assert.deepEqual(keyDifferences(saved, now), [
    "levels was [1,2], now [1,3]",
    'inputs["model.safetensors"].xxh64 was "xxh64:a", now "xxh64:b"',
    "gone was true, now absent",
    'added was absent, now "x"',
  ]);
  assert.deepEqual(keyDifferences(saved, structuredClone(saved)), []);
  // No key at all, or not an object: the whole key differs.
  assert.deepEqual(keyDifferences(undefined, { a: 1 }), ['key was absent, now {"a":1}']);
  assert.deepEqual(keyDifferences(3, { a: 1 }), ['key was 3, now {"a":1}']);
  const long = "y".repeat(100);
  assert.equal(keyDifferences({ s: long }, { s: "z" })[0], `s was "${"y".repeat(56)}…, now "z"`);
});

Deno.test("describeKeyDifferences() joins the first few and counts the rest", () => {
  const a = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, i]));
  const b = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, -i - 1]));
  const s = describeKeyDifferences(a, b);
  assert.ok(s.startsWith("f0 was 0, now -1; f1 was 1, now -2;"), s);
  assert.ok(s.endsWith("f5 was 5, now -6; and 3 more"), s);
});
