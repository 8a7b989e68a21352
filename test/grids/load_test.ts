import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { listGrids, loadGrid } from "../../src/grids/load.ts";
import { HIGGS_TARGETS } from "../../src/grids/grid.ts";

Deno.test("loadGrid() reads shipped grids, sorted, cached and never recomputed", async () => {
  const g = await loadGrid(2, 256);
  const entry = (await listGrids()).find((e) => e.p === 2 && e.n === 256);
  assert.equal(g.method, entry?.method); // the shipped file's record, not a fresh build
  assert.equal(g.mse, entry?.mse);
  assert.equal(g.points.length, 512);
  assert.equal(await loadGrid(2, 256), g);
  for (let j = 1; j < g.n; j++) {
    const a = g.points[2 * j - 2]!, b = g.points[2 * j]!;
    assert.ok(a < b || (a === b && g.points[2 * j - 1]! < g.points[2 * j + 1]!), `order at ${j}`);
  }
  const l = await loadGrid(1, 16);
  assert.equal(l.method, "lloyd-max-exact");
  assert.ok(Math.abs(l.mse / HIGGS_TARGETS["1,16"]! - 1) < 6e-5);
  const list = await listGrids();
  for (let n = 2; n <= 256; n++) assert.ok(list.some((e) => e.p === 1 && e.n === n), `(1, ${n})`);
});

Deno.test("loadGrid() names (p, n) and the available grids when one is missing", async () => {
  await assert.rejects(
    () => loadGrid(7, 3),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "not-found" && /\(7, 3\)/.test(e.message) &&
      /p = 2: n = /.test(e.message),
  );
  await assert.rejects(() => loadGrid(2, 1), /n = 1/);
});
