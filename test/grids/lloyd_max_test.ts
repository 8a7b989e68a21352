import assert from "node:assert/strict";
import { gaussianMass, gaussianMse1d, lloydMax } from "../../src/grids/lloyd_max.ts";
import { QuantlabError } from "../../src/core/errors.ts";

Deno.test("lloydMax() reproduces the exact Lloyd–Max MSEs of higgs.md §2", () => {
  const table: [number, number][] = [
    [4, 0.11748],
    [8, 0.034548],
    [16, 0.0095010],
    [32, 0.0025047],
    [
      256,
      4.1185e-5,
    ],
  ];
  for (const [n, target] of table) {
    const r = lloydMax(n);
    // The table is rounded to 5 significant digits.
    assert.ok(Math.abs(r.mse / target - 1) < 6e-5, `(1, ${n}): ${r.mse} vs ${target}`);
  }
});

Deno.test("lloydMax() converges: centroid residual ≤ 1e-12 and the MSE is stationary to 1e-10", () => {
  for (const n of [2, 3, 7, 64, 255]) {
    const r = lloydMax(n);
    assert.ok(r.residual < 1e-11, `n = ${n}: residual ${r.residual}`);
    for (let k = 0; k < n; k++) assert.ok(r.points[k] === -r.points[n - 1 - k]!);
    // A small perturbation of any point raises the MSE (second order): a true minimum.
    const c = Float64Array.from(r.points);
    c[n >> 1] = c[n >> 1]! + 1e-4;
    assert.ok(gaussianMse1d(c) > r.mse);
    // One more Lloyd step changes the MSE by < 1e-10 relative.
    const again = lloydMax(n, { maxIterations: r.iterations + 1 });
    assert.ok(Math.abs(again.mse / r.mse - 1) < 1e-10);
  }
  assert.ok(Math.abs(lloydMax(2).points[1]! - Math.sqrt(2 / Math.PI)) < 1e-15);
});

Deno.test("gaussianMse1d() and gaussianMass() integrate exactly", () => {
  assert.ok(Math.abs(gaussianMse1d([0]) - 1) < 1e-15);
  assert.ok(
    Math.abs(gaussianMse1d([-Math.sqrt(2 / Math.PI), Math.sqrt(2 / Math.PI)]) - (1 - 2 / Math.PI)) <
      1e-15,
  );
  assert.ok(Math.abs(gaussianMass(-Infinity, Infinity) - 1) < 1e-16);
  assert.ok(Math.abs(gaussianMass(8, 9) / 6.2198e-16 - 1) < 1e-3);
  assert.throws(() => lloydMax(1), QuantlabError);
  assert.throws(() => lloydMax(65537), /n = 65537/);
});
