import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import {
  decodeGrid,
  encodeNearest,
  encodeNearestReference,
  encodeOneExact,
  encodeRange,
} from "../../src/grids/encode.ts";
import { exactSumSign } from "../../src/grids/encode_exact.ts";
import { encodePlan, type PlanKind } from "../../src/grids/encode_plan.ts";
import { encodeNearestParallel } from "../../src/grids/parallel.ts";
import { lloydMax } from "../../src/grids/lloyd_max.ts";
import { sortPoints } from "../../src/grids/grid.ts";

function randomGrid(p: number, n: number, seed: number, scale = 1.3) {
  const points = fillNormal(new Float32Array(n * p), seed, 0, scale);
  return { p, n, points: sortPoints(points, p) };
}

function assertSameCodes(a: Uint16Array, b: Uint16Array, what: string) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) assert.fail(`${what}: vector ${i} got ${a[i]}, reference ${b[i]}`);
  }
}

Deno.test("encodeNearest() returns exactly the brute-force codes for every plan kind", () => {
  const cases: [number, number, PlanKind][] = [
    [1, 16, "sorted1d"],
    [1, 256, "sorted1d"],
    [2, 16, "cells2d"],
    [2, 256, "cells2d"],
    [2, 1024, "cells2d"],
    [3, 256, "sorted-first"],
    [8, 64, "sorted-first"],
    [4, 10, "brute"],
  ];
  for (const [p, n, kind] of cases) {
    const grid = p === 1
      ? { p, n, points: Float32Array.from(lloydMax(n).points) }
      : randomGrid(p, n, 31 * p + n);
    assert.equal(encodePlan(grid).kind, kind);
    const m = 4000;
    const x = fillNormal(new Float32Array(m * p), n + p, 0, 1.5);
    // Far outside the grid, huge, tiny and zero coordinates.
    for (let i = 0; i < 8 * p; i++) x[i] = x[i]! * 1e25;
    for (let i = 8 * p; i < 16 * p; i++) x[i] = x[i]! * 1e-30;
    x.fill(0, 16 * p, 17 * p);
    x[17 * p] = 3e38;
    assertSameCodes(encodeNearest(grid, x), encodeNearestReference(grid, x), `(${p}, ${n})`);
  }
});

Deno.test("encodeNearest() sends exact ties to the lowest index on every path", () => {
  // Square lattice {-1, 1}²: (0, 0) is a 4-way tie, (0, y) a 2-way tie.
  const sq = { p: 2, n: 4, points: new Float32Array([-1, -1, -1, 1, 1, -1, 1, 1]) };
  const x = new Float32Array([0, 0, 0, 0.3, 0.3, 0, 0, -5, 1e-30, 0, -1e-45, 7]);
  const want = [0, 1, 2, 0, 2, 1];
  assert.deepEqual([...encodeNearestReference(sq, x)], want);
  for (const kind of ["brute", "cells2d"] as PlanKind[]) {
    const out = new Uint16Array(6);
    encodeRange(encodePlan(sq, { kind }), x, out, 0, 6);
    assert.deepEqual([...out], want, kind);
  }
  // Dyadic 1-D and 3-D grids: midpoints are exact, ties at every midpoint.
  const line = { p: 1, n: 5, points: new Float32Array([-2, -1, 0, 1, 2]) };
  assert.deepEqual([...encodeNearest(line, new Float32Array([-1.5, -0.5, 0.5, 1.5, 9]))], [
    0,
    1,
    2,
    3,
    4,
  ]);
  const pts3: number[] = [];
  for (let j = 0; j < 27; j++) {
    pts3.push((j % 3) - 1, (Math.floor(j / 3) % 3) - 1, Math.floor(j / 9) - 1);
  }
  const cube = { p: 3, n: 27, points: sortPoints(pts3, 3) };
  const xt = new Float32Array([0.5, 0.5, 0.5, -0.5, 0, 0.5, 0, 0, 0, 0.5, -0.5, 0.25]);
  assertSameCodes(encodeNearest(cube, xt), encodeNearestReference(cube, xt), "cube ties");
  assert.equal(encodeNearest(cube, xt)[0], 13); // (0,0,0) before (0,0,1), (0,1,0), …
  // Ties on real grids: x at the f32 midpoint of two neighbouring points.
  const g = randomGrid(2, 256, 5);
  const xm = new Float32Array(2 * 255);
  for (let j = 0; j < 255; j++) {
    for (let i = 0; i < 2; i++) {
      xm[2 * j + i] = (g.points[2 * j + i]! + g.points[2 * j + 2 + i]!) / 2;
    }
  }
  assertSameCodes(encodeNearest(g, xm), encodeNearestReference(g, xm), "midpoints");
  const lm = { p: 1, n: 16, points: Float32Array.from(lloydMax(16).points) };
  assert.equal(encodeNearest(lm, new Float32Array([0]))[0], 7); // symmetric grid: 0 is a tie
  assert.equal(encodeOneExact(lm, new Float32Array([0]), 0), 7);
});

Deno.test("exactSumSign() decides signs without rounding", () => {
  assert.equal(exactSumSign([1e300, 1, -1e300]), 1);
  assert.equal(exactSumSign([1, 2 ** -60, -1]), 1);
  assert.equal(exactSumSign([0.5, 0.25, -0.75]), 0);
  assert.equal(exactSumSign([]), 0);
  assert.equal(exactSumSign([-(2 ** -1000), 2 ** 600, -(2 ** 600)]), -1);
});

Deno.test("encodeNearestParallel() equals encodeNearest() and decodeGrid() inverts it", async () => {
  const grid = randomGrid(2, 256, 77);
  const m = 100_000;
  const x = fillNormal(new Float32Array(2 * m), 8);
  const sync = encodeNearest(grid, x);
  const pooled = await encodeNearestParallel(grid, x);
  assertSameCodes(pooled, sync, "pooled");
  const y = decodeGrid(grid, sync);
  assert.equal(y.length, 2 * m);
  for (const v of [0, 17, m - 1]) {
    assert.equal(y[2 * v], grid.points[2 * sync[v]!]);
    assert.equal(y[2 * v + 1], grid.points[2 * sync[v]! + 1]);
  }
});

Deno.test("encoders reject bad grids and inputs with clear errors", () => {
  const ok = { p: 2, n: 4, points: new Float32Array(8) };
  const code = (c: string) => (e: unknown) => e instanceof QuantlabError && e.code === c;
  assert.throws(
    () => encodeNearest({ p: 1, n: 1, points: new Float32Array(1) }, new Float32Array(1)),
    /n = 1/,
  );
  assert.throws(
    () => encodeNearest({ p: 1, n: 65537, points: new Float32Array(65537) }, new Float32Array(1)),
    /n = 65537 is not valid; use an integer from 2 to 65536/,
  );
  assert.throws(
    () => encodeNearest({ p: 0, n: 4, points: new Float32Array(0) }, new Float32Array(1)),
    /p = 0/,
  );
  assert.throws(
    () => encodeNearest({ ...ok, points: new Float32Array(7) }, new Float32Array(2)),
    code("bad-shape"),
  );
  assert.throws(
    () =>
      encodeNearest(
        { ...ok, points: new Float32Array([0, 0, 1, NaN, 2, 2, 3, 3]) },
        new Float32Array(2),
      ),
    code("bad-value"),
  );
  assert.throws(() => encodeNearest(ok, new Float32Array(3)), /not a multiple/);
  assert.throws(() => encodeNearest(ok, new Float32Array([1, NaN])), /NaN at index 1/);
  assert.throws(() => decodeGrid(ok, new Uint16Array([4])), /Code 4/);
  // n = 65536 works (codes use all 16 bits).
  const big = { p: 1, n: 65536, points: Float32Array.from({ length: 65536 }, (_, i) => i) };
  assert.deepEqual([...encodeNearest(big, new Float32Array([65535.2, -3, 7.5]))], [65535, 0, 7]);
});
