import assert from "node:assert/strict";
import { pairedCompare } from "../../src/eval/paired.ts";

Deno.test("pairedCompare() gives the mean difference, its standard error and z", () => {
  const a = [10, 12, 11, 13, 9];
  const b = [10.2, 12.1, 11.3, 13.2, 9.2];
  const r = pairedCompare(a, b);
  const d = [0.2, 0.1, 0.3, 0.2, 0.2];
  const mean = d.reduce((s, v) => s + v, 0) / 5;
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / 4);
  assert.equal(r.n, 5);
  assert.ok(Math.abs(r.meanDiff - mean) < 1e-12);
  assert.ok(Math.abs(r.se! - sd / Math.sqrt(5)) < 1e-12);
  assert.ok(Math.abs(r.z! - mean / r.se!) < 1e-9);
  assert.equal(r.deltaMeanNll, null);
});

Deno.test("pairedCompare() on perplexity results reports per-token deltas and ΔPPL", () => {
  const win = (nll: number[]) => ({
    windows: nll.map((v, index) => ({ index, begin: 0, end: 0, scored: 4, nll: v })),
  });
  const r = pairedCompare(win([8, 8, 8]), win([8.4, 8.4, 8.4]));
  assert.ok(Math.abs(r.deltaMeanNll! - 0.1) < 1e-12);
  assert.equal(r.se, 0);
  assert.equal(r.z, Infinity);
  assert.ok(Math.abs(r.deltaPpl! - (Math.exp(2.1) - Math.exp(2))) < 1e-12);
  assert.throws(() => pairedCompare([1, 2], [1]), /same non-zero number of windows/);
  const other = { windows: [{ index: 0, begin: 0, end: 0, scored: 3, nll: 1 }] };
  assert.throws(() => pairedCompare(win([1]), other), /scored token counts differ/);
});
