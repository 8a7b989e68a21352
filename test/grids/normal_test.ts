import assert from "node:assert/strict";
import {
  erf,
  erfc,
  normalCdf,
  normalPdf,
  normalQuantile,
  normalSf,
} from "../../src/grids/normal.ts";

// [x, Q(x), erf(x), erfc(x)] from 40-digit mpmath.
const REF: [number, number, number, number][] = [
  [-3, 0.9986501019683699, -0.9999779095030014, 1.999977909503001],
  [-0.7, 0.7580363477769270, -0.6778011938374184, 1.677801193837418],
  [0.1, 0.4601721627229710, 0.1124629160182849, 0.8875370839817151],
  [1.2, 0.1150696702217083, 0.9103139782296354, 0.08968602177036462],
  [1.5, 0.06680720126885807, 0.9661051464753108, 0.03389485352468927],
  [2.5, 0.006209665325776132, 0.9995930479825550, 0.0004069520174449590],
  [4.5, 3.397673124730062e-6, 0.9999999998033839, 1.966160441542888e-10],
  [8, 6.220960574271784e-16, 1, 1.122429717298293e-29],
  [20, 2.753624118606233e-89, 1, 5.395865611607901e-176],
];

Deno.test("normalSf(), erf() and erfc() match 40-digit references to ~1e-15", () => {
  for (const [x, q, e, ec] of REF) {
    assert.ok(Math.abs(normalSf(x) / q - 1) < 4e-15, `Q(${x}) = ${normalSf(x)}`);
    assert.ok(Math.abs(normalCdf(-x) / q - 1) < 4e-15, `Φ(${-x})`);
    assert.ok(Math.abs(erf(x) - e) < 3e-16, `erf(${x}) = ${erf(x)}`);
    assert.ok(Math.abs(erfc(x) / ec - 1) < 4e-15, `erfc(${x}) = ${erfc(x)}`);
  }
});

Deno.test("normalPdf() and normalQuantile() invert the CDF in the tails", () => {
  assert.equal(normalPdf(0), 0.3989422804014327);
  for (const q of [1e-300, 1e-20, 1e-5, 0.01, 0.3, 0.5, 0.8, 0.999]) {
    const x = normalQuantile(q);
    assert.ok(Math.abs(normalCdf(x) / q - 1) < 1e-13, `q = ${q}`);
  }
  assert.equal(normalQuantile(0), -Infinity);
  assert.ok(Number.isNaN(normalQuantile(2)));
  assert.equal(normalSf(Infinity), 0);
  assert.equal(erfc(-Infinity), 2);
});
