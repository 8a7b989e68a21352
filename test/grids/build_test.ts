import assert from "node:assert/strict";
import { setPoolSize } from "../../src/cpu/pool.ts";
import { buildGrid, perfectRoot } from "../../src/grids/build.ts";
import { HIGGS_TARGETS } from "../../src/grids/grid.ts";

const small = {
  trainSamples: 1 << 15,
  finalSamples: 1 << 16,
  mseSamples: 1 << 16,
  annealSteps: 60,
};

Deno.test("buildGrid() is deterministic and independent of the thread count", async () => {
  setPoolSize(1);
  const a = await buildGrid(2, 16, small);
  setPoolSize(2);
  const b = await buildGrid(2, 16, small);
  setPoolSize(undefined);
  assert.deepEqual([...a.points], [...b.points]);
  assert.equal(a.mse, b.mse);
  assert.equal(a.method, "lloyd-mc");
  // Sorted lexicographically, and already close to the reference with few samples.
  for (let j = 1; j < 16; j++) assert.ok(a.points[2 * j - 2]! <= a.points[2 * j]!);
  assert.ok(Math.abs(a.mse / HIGGS_TARGETS["2,16"]! - 1) < 0.02, String(a.mse));
});

Deno.test("buildGrid() computes p = 1 grids exactly and k-means++ grids for other n", async () => {
  const g = await buildGrid(1, 8);
  assert.equal(g.method, "lloyd-max-exact");
  assert.ok(Math.abs(g.mse / HIGGS_TARGETS["1,8"]! - 1) < 6e-5);
  const h = await buildGrid(3, 12, { ...small, init: "kmeans++" });
  assert.equal(h.points.length, 36);
  assert.ok(h.mse > 0.1 && h.mse < 0.3, String(h.mse));
  assert.equal(perfectRoot(256, 4), 4);
  assert.equal(perfectRoot(256, 3), 0);
  await assert.rejects(() => buildGrid(3, 12, { init: "product" }), /perfect 3-th power/);
  await assert.rejects(() => buildGrid(2, 1), /n = 1/);
});
