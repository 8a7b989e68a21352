import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import {
  checkGridShape,
  type Grid,
  gridFromJson,
  gridToJson,
  sortPoints,
  validateGridPoints,
} from "../../src/grids/grid.ts";

const base: Grid = {
  p: 2,
  n: 3,
  points: new Float32Array([0.1, -2, -1.5, 3, 0.1, -5]),
  mse: 0.5,
  mseStdErr: 0.001,
  mseSamples: 100,
  mseSeed: 3,
  seed: 1,
  samples: 10,
  iterations: 7,
  method: "lloyd-mc",
  version: 1,
};

Deno.test("checkGridShape() rejects n < 2, n > 65536 and p < 1 naming the value", () => {
  assert.throws(() => checkGridShape(1, 1), /n = 1 is not valid/);
  assert.throws(() => checkGridShape(2, 65537), /n = 65537/);
  assert.throws(() => checkGridShape(0, 4), /p = 0 is not valid/);
  assert.throws(() => checkGridShape(1.5, 4), QuantlabError);
  checkGridShape(1, 65536);
});

Deno.test("sortPoints() orders points lexicographically and gridToJson() round-trips f32 exactly", () => {
  const s = sortPoints(base.points, 2);
  assert.deepEqual([...s], [...new Float32Array([-1.5, 3, 0.1, -5, 0.1, -2])]);
  const g = { ...base, points: s };
  const back = gridFromJson(JSON.parse(gridToJson(g)), 2, 3);
  assert.deepEqual([...back.points], [...g.points]);
  assert.equal(back.mse, 0.5);
  assert.equal(back.method, "lloyd-mc");
  validateGridPoints(back);
});

Deno.test("gridFromJson() turns NaN, wrong shapes and wrong (p, n) into bad-file errors", () => {
  const json = JSON.parse(gridToJson(base));
  const badFile = (e: unknown) => e instanceof QuantlabError && e.code === "bad-file";
  assert.throws(
    () => gridFromJson({ ...json, points: [...json.points.slice(0, 5), null] }, 2, 3),
    badFile,
  );
  assert.throws(
    () => gridFromJson({ ...json, points: json.points.slice(0, 4) }, 2, 3),
    /4 coordinates/,
  );
  assert.throws(() => gridFromJson({ ...json, p: 3 }, 2, 3), /expected \(2, 3\)/);
  assert.throws(() => gridFromJson({ ...json, mse: "x" }, 2, 3), badFile);
  assert.throws(() => gridFromJson(null, 2, 3), badFile);
  assert.throws(
    () => validateGridPoints({ p: 1, n: 2, points: new Float32Array([0, NaN]) }, "bad-file"),
    badFile,
  );
});
