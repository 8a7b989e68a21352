import assert from "node:assert/strict";
import { parallelFor, poolSize, setPoolSize, sharedF32, toShared } from "../../src/cpu/pool.ts";
import { QuantlabError } from "../../src/core/errors.ts";

const EXAMPLE = new URL("../../src/cpu/pool_example.ts", import.meta.url).href;

Deno.test("parallelFor() covers every index exactly once across workers", async () => {
  const n = 100_003;
  const out = sharedF32(n);
  const counts = await parallelFor(EXAMPLE, "fill", n, [out], { minChunk: 1000 });
  assert.equal((counts as number[]).reduce((a, b) => a + b, 0), n);
  assert.equal(counts.length, Math.min(poolSize(), Math.floor(n / 1000)));
  for (let i = 0; i < n; i += 997) assert.equal(out[i], i);
  assert.equal(out[n - 1], n - 1);
});

Deno.test("parallelFor() runs small ranges on the calling thread", async () => {
  const out = new Float32Array(5); // not shared: only works because no worker is involved
  const r = await parallelFor(EXAMPLE, "fill", 5, [out], { minChunk: 100 });
  assert.deepEqual(r, [5]);
  assert.equal(out[4], 4);
});

Deno.test("parallelFor() reports a missing function as a QuantlabError", async () => {
  setPoolSize(2);
  try {
    await assert.rejects(
      () => parallelFor(EXAMPLE, "nope", 10, [], { minChunk: 1 }),
      (e: unknown) => e instanceof QuantlabError && /no function "nope"/.test(e.message),
    );
  } finally {
    setPoolSize(undefined);
  }
});

Deno.test("toShared() copies into a SharedArrayBuffer", () => {
  const s = toShared(new Uint32Array([1, 2, 3]));
  assert.ok(s.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([...s], [1, 2, 3]);
  assert.throws(() => setPoolSize(0), QuantlabError);
});
