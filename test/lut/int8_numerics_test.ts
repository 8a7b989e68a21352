// The `fast` numerics of src/lut/int8_format.ts themselves: the fitted 7-bit table and the identity
// the kernels compute (rounded table × rounded activations). The kernels against this spec, on odd
// shapes, batches and threads: int8_test.ts.
import assert from "node:assert/strict";
import { fitInt8Lattice, int8Table, quantizeActivations } from "../../src/lut/int8_format.ts";
import { int8RowsTs } from "../../src/lut/int8_fallback.ts";
import { rotateActivations } from "../../src/lut/rotate.ts";
import { getCode, rowStrideWords } from "../../src/quant/packing.ts";
import { FP4_LEVELS, NF4_LEVELS } from "../../src/quant/normal_float.ts";
import { randomQuantized, type RandomSpec, randomX } from "./helpers.ts";

/** Squared rounding error of `table` on the lattice tmin + delta·k. */
function sse(table: Float32Array, tmin: number, delta: number): number {
  let e = 0;
  for (const v of table) {
    const k = Math.round((v - tmin) / delta);
    assert.ok(k >= 0 && k <= 127);
    e += (tmin + k * delta - v) ** 2;
  }
  return e;
}

Deno.test("int8Table fits non-uniform tables no worse than 128 levels over [min, max]", () => {
  const grid = randomX(512, 9); // a HIGGS (2,256)-sized grid
  for (const [name, t] of [["NF4", NF4_LEVELS], ["FP4", FP4_LEVELS], ["grid", grid]] as const) {
    const lo = Math.min(...t), hi = Math.max(...t);
    const f = fitInt8Lattice(t);
    assert.ok(sse(t, f.tmin, f.delta) <= sse(t, lo, (hi - lo) / 127), name);
    const p = name === "grid" ? 2 : 1;
    const t8 = int8Table(t, p);
    assert.ok(!t8.exact && t8.delta === f.delta && t8.tmin === f.tmin, name);
    for (let i = 0; i < t.length; i++) {
      assert.equal(t8.t7[i], Math.round((t[i]! - f.tmin) / f.delta), `${name} entry ${i}`);
    }
  }
  // NF4 (bitsandbytes' levels, span 2): RMS rounding error 0.3176 of a step 2/127 over [−1, 1],
  // 0.1834 of it fitted (values of this search: 201 steps × 32 offsets).
  const step = 2 / 127, f = fitInt8Lattice(NF4_LEVELS);
  assert.equal(Math.sqrt(sse(NF4_LEVELS, -1, step) / 16) / step, 0.31756987717463164);
  assert.equal(Math.sqrt(sse(NF4_LEVELS, f.tmin, f.delta) / 16) / step, 0.18339053325348667);
});

const SPECS: (RandomSpec & { label: string })[] = [
  { label: "4-bit g64", rows: 13, cols: 200, bits: 4, group: 64 },
  { label: "3-bit g128 zeros", rows: 7, cols: 256, bits: 3, group: 128, zeros: true },
  {
    label: "(2,16) g128 Hadamard 128",
    rows: 5,
    cols: 250,
    bits: 4,
    p: 2,
    group: 128,
    hadamard: { size: 128, seed: 1 },
  },
];

Deno.test("fast = the rounded table times the rounded activations (f64 spec, batch 1 and 3)", () => {
  for (const spec of SPECS) {
    const q = randomQuantized(spec);
    const t = int8Table(q.table, q.p);
    const [rows, cols] = q.shape, pc = q.paddedCols, g = q.groupSize, p = q.p;
    const stride = rowStrideWords(pc / p, q.codeBits);
    for (const batch of [1, 3]) {
      const xp = rotateActivations(randomX(batch * cols, batch), batch, cols, pc, q.rotation);
      for (let b = 0; b < batch; b++) {
        const a = quantizeActivations(xp, b * pc, pc, g);
        const y = new Float32Array(rows);
        int8RowsTs(q, t, a, y, 0, rows);
        for (let r = 0; r < rows; r++) {
          let want = 0, mag = 0;
          for (let i = 0; i < pc; i++) {
            const gi = Math.floor(i / g);
            const c = getCode(q.codes, stride, r, Math.floor(i / p), q.codeBits);
            const lv = t.tmin + t.delta * t.t7[c * p + (i % p)]!;
            const xq = a.q[i]! * a.dx[i >> 6]!;
            const w = q.scales[r * (pc / g) + gi]! * (lv - (q.zeros?.[r * (pc / g) + gi] ?? 0));
            want += w * xq;
            mag += Math.abs(w * xq);
          }
          // int8RowsTs sums in f64 and stores f32: equal up to that rounding.
          assert.ok(
            Math.abs(y[r]! - want) <= 1e-7 * mag,
            `${spec.label} batch ${batch} row ${b}, output ${r}: ${y[r]} vs ${want}`,
          );
        }
      }
    }
  }
});
