import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { gpu, gpuCase } from "../gpu/helpers.ts";
import { encodeNearestReference } from "../../src/grids/encode.ts";
import {
  encodeNearestDispatch,
  encodeNearestGpu,
  NEAR_TIE,
  resolveNearTies,
  uploadGrid,
} from "../../src/grids/encode_gpu.ts";
import { cpuLloydStepper } from "../../src/grids/build.ts";
import { gpuLloydStepper } from "../../src/grids/lloyd_gpu.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...gpuCase("encodeNearestGpu() returns the CPU codes on random inputs, far points and ties"),
  ...opts,
  async fn() {
    const cases: [number, number, number][] = [
      [1, 16, 3000],
      [2, 256, 2000],
      [2, 4096, 200],
      [3, 64, 700],
      [8, 256, 300],
    ];
    for (const [p, n, m] of cases) {
      const grid = { p, n, points: fillNormal(new Float32Array(n * p), 7 * p + n) };
      const x = fillNormal(new Float32Array(m * p), 99);
      for (let i = 0; i < 5 * p; i++) x[i] = x[i]! * 1e20;
      const ref = encodeNearestReference(grid, x);
      for (const flagAll of [false, true]) {
        const c = await encodeNearestGpu(gpu!, grid, x, { flagAll });
        assert.deepEqual([...c], [...ref], `(${p}, ${n}) flagAll ${flagAll}`);
      }
    }
    const sq = { p: 2, n: 4, points: new Float32Array([-1, -1, -1, 1, 1, -1, 1, 1]) };
    const xt = new Float32Array([0, 0, 0, 0.3, 0.3, 0, 1e-30, 0, -1e-45, 5]);
    assert.deepEqual([...await encodeNearestGpu(gpu!, sq, xt)], [0, 1, 2, 2, 1]);
  },
});

Deno.test({
  ...gpuCase("encodeNearestDispatch() flags exact ties for resolveNearTies()"),
  ...opts,
  async fn() {
    const grid = { p: 1, n: 3, points: new Float32Array([-1, 0, 1]) };
    const g = uploadGrid(gpu!, grid);
    const x = new Float32Array([0.5, -0.9, 2]);
    const xb = gpu!.storage(x), cb = gpu!.storage(12);
    await gpu!.runMany("encode", [await encodeNearestDispatch(gpu!, g, xb, cb, 3)]);
    const codes = new Uint32Array(await gpu!.read(cb));
    assert.ok(codes[0]! >= NEAR_TIE);
    assert.deepEqual([...codes.slice(1)], [0, 2]);
    assert.equal(resolveNearTies(grid, x, codes), 1);
    assert.deepEqual([...codes], [1, 0, 2]);
    [g.buffer, xb, cb].forEach((b) => b.destroy());
  },
});

Deno.test({
  ...gpuCase("gpuLloydStepper() accumulates the CPU stepper's sums and counts"),
  ...opts,
  async fn() {
    for (const [p, n] of [[1, 2], [2, 64], [3, 17]] as [number, number][]) {
      const x = fillNormal(new Float32Array(3000 * p), 3);
      const pts = fillNormal(new Float32Array(n * p), 4);
      const a = gpuLloydStepper(gpu!, p, n), b = cpuLloydStepper(p, n);
      await a.setSamples(x);
      await b.setSamples(x);
      const ra = await a.step(pts, 100, 2900), rb = await b.step(pts, 100, 2900);
      assert.deepEqual([...ra.counts], [...rb.counts]);
      for (let i = 0; i < n * p; i++) assert.ok(Math.abs(ra.sums[i]! - rb.sums[i]!) < 1e-5);
      assert.ok(Math.abs(ra.sse / rb.sse - 1) < 1e-6);
      // Samples split over buffers of 700 vectors: windows crossing parts give the same sums.
      const c = gpuLloydStepper(gpu!, p, n, { partBytes: 700 * 4 * p });
      await c.setSamples(x);
      for (const [s, e] of [[100, 2900], [650, 1450], [0, 3000]]) {
        const rc = await c.step(pts, s, e), ra2 = await a.step(pts, s, e);
        assert.deepEqual([...rc.counts], [...ra2.counts]);
        assert.deepEqual([...rc.sums], [...ra2.sums]);
        assert.equal(rc.sse === ra2.sse || Math.abs(rc.sse / ra2.sse - 1) < 1e-6, true);
      }
      a.dispose();
      c.dispose();
    }
  },
});
