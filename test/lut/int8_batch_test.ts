// The batch path of the `fast` CPU kernels (several activation rows per weight pass: each tile of
// weight rows decoded once, then reused by every activation row): on the pool, on the calling
// thread and one row at a time it gives the same floats, for every format and batches that split
// into full and partial chunks of INT8_BATCH_ROWS.
import assert from "node:assert/strict";
import { lutMatmul, prepareLut } from "../../src/lut/cpu.ts";
import { INT8_BATCH_ROWS, lutInt8Steal } from "../../src/lut/cpu_int8.ts";
import { randomQuantized, type RandomSpec, randomX } from "./helpers.ts";

/** Enough weights (≥ 2·2¹⁸ per call) for the pool's work stealing; odd row counts. */
const SPECS: (RandomSpec & { label: string })[] = [
  { label: "4-bit g64", rows: 1031, cols: 256, bits: 4, group: 64 },
  { label: "2-bit g64 zeros", rows: 1029, cols: 320, bits: 2, group: 64, zeros: true },
  { label: "3-bit g128 zeros", rows: 1027, cols: 256, bits: 3, group: 128, zeros: true },
  { label: "(2,16) g256", rows: 1025, cols: 256, bits: 4, p: 2, group: 256 },
  {
    label: "(2,256) g256 Hadamard 128",
    rows: 1033,
    cols: 256,
    bits: 8,
    p: 2,
    group: 256,
    hadamard: { size: 128, seed: 2 },
  },
];

Deno.test("kernel fast, batch path: pooled ≡ single thread ≡ one row at a time", async () => {
  const batch = INT8_BATCH_ROWS + 3;
  for (const spec of SPECS) {
    const t = prepareLut(randomQuantized(spec));
    assert.ok(t.wasm?.layout.int8, `${spec.label}: no WebAssembly fast kernel`);
    const x = randomX(batch * spec.cols, 21);
    const pooled = await lutMatmul(t, x, batch, { numerics: "fast" });
    const single = await lutMatmul(t, x, batch, { numerics: "fast", singleThread: true });
    assert.deepEqual(pooled, single, spec.label);
    const n = spec.rows;
    for (const b of [0, INT8_BATCH_ROWS - 1, INT8_BATCH_ROWS, batch - 1]) {
      const one = await lutMatmul(t, x.subarray(b * spec.cols, (b + 1) * spec.cols), 1, {
        numerics: "fast",
      });
      assert.deepEqual(pooled.subarray(b * n, (b + 1) * n), one, `${spec.label} row ${b}`);
    }
    // Not all zero or equal: the comparison has something to compare.
    assert.ok(new Set(pooled.subarray(0, 64)).size > 32, spec.label);
  }
});

Deno.test("kernel fast, work stealing: a worker woken for an earlier call takes nothing from a later one", async () => {
  const spec = SPECS[0]!;
  const t = prepareLut(randomQuantized(spec));
  await lutMatmul(t, randomX(3 * spec.cols, 5), 3, { numerics: "fast", singleThread: true });
  const w = t.wasm!, L = w.layout.int8!, ctrl = w.int8!.ctrl;
  const base = { codes: w.layout.codes, scales: w.layout.scales, zeros: w.layout.zeros };
  const args = [w.memory, { ...base, out: w.layout.out }, L, spec.rows, 64, 3] as const;
  // Counters as the caller sets them for its call number 5.
  ctrl.set([5 << 8, 0, 5 << 8, 5]);
  assert.equal(lutInt8Steal(...args, 4), 0, "call 4's worker ran chunks of call 5");
  assert.deepEqual([...ctrl.subarray(0, 4)], [5 << 8, 0, 5 << 8, 5]);
  const chunks = Math.ceil(spec.rows / 64);
  assert.equal(lutInt8Steal(...args, 5), chunks);
  assert.deepEqual([...ctrl.subarray(0, 4)], [(5 << 8) + chunks, chunks, (5 << 8) + 1, 5]);
});
