import assert from "node:assert/strict";
import { lutMatmul, prepareLut, setLutNumerics } from "../../src/lut/cpu.ts";
import { LutLinear } from "../../src/lut/linear.ts";
import { lutInt8Isa, setLutInt8Isa } from "../../src/lut/cpu_int8.ts";
import { setLutWasm } from "../../src/lut/cpu_wasm.ts";
import { rotateActivations } from "../../src/lut/rotate.ts";
import { tmacCovers, tmacErrorBound, tmacRowsTs, tmacTables } from "../../src/lut/tmac_format.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { randomQuantized, type RandomSpec, randomX, referenceProduct } from "./helpers.ts";

/**
 * Odd row counts (partial tiles of 16 rows: a repacked copy), whole tiles (repacked in place),
 * padded columns, groups of 64·k, with/without zeros.
 */
const SPECS: (RandomSpec & { label: string })[] = [
  { label: "23×130 g64 zeros", rows: 23, cols: 130, bits: 2, group: 64, zeros: true },
  { label: "9×192 channel", rows: 9, cols: 192, bits: 2 },
  { label: "37×256 g128 zeros", rows: 37, cols: 256, bits: 2, group: 128, zeros: true },
  {
    label: "5×64 g64 Hadamard 64",
    rows: 5,
    cols: 64,
    bits: 2,
    group: 64,
    hadamard: { size: 64, seed: 2 },
  },
  { label: "2101×256 g64 zeros (pooled)", rows: 2101, cols: 256, bits: 2, group: 64, zeros: true },
  { label: "32×192 channel (in place)", rows: 32, cols: 192, bits: 2 },
  { label: "48×256 g128 zeros (in place)", rows: 48, cols: 256, bits: 2, group: 128, zeros: true },
  {
    label: "2048×256 g64 zeros (pooled, in place)",
    rows: 2048,
    cols: 256,
    bits: 2,
    group: 64,
    zeros: true,
  },
];

/** A random tensor of the spec on a uniform table (RTN/HQQ's kind). */
function uniform(spec: RandomSpec): QuantizedTensor {
  return { ...randomQuantized(spec), table: new Float32Array([-0.75, -0.25, 0.25, 0.75]) };
}

/** The spec's result per activation row, and the stated bound. */
function spec(q: QuantizedTensor, x: Float32Array, batch: number) {
  const [rows, cols] = q.shape;
  const pc = q.paddedCols;
  const xp = rotateActivations(x, batch, cols, pc, q.rotation);
  const y = new Float32Array(batch * rows), bound = new Float64Array(batch * rows);
  for (let b = 0; b < batch; b++) {
    const tab = tmacTables(xp, b * pc, pc, q.groupSize, q.table[1]! - q.table[0]!);
    tmacRowsTs(q, tab, y.subarray(b * rows, (b + 1) * rows), 0, rows);
    bound.set(tmacErrorBound(q, tab, xp, b * pc), b * rows);
  }
  return { y, bound };
}

Deno.test("the bit-plane kernel covers 2-bit codes on uniform tables only", () => {
  for (const s of SPECS) assert.ok(tmacCovers(uniform(s)), s.label);
  assert.ok(!tmacCovers(randomQuantized(SPECS[0]!)), "random table");
  assert.ok(!tmacCovers({ ...uniform(SPECS[0]!), codeBits: 4 }), "4-bit");
});

Deno.test("kernel fast, 2-bit uniform: equal to its TypeScript spec, within the stated bound", async () => {
  for (const s of SPECS) {
    const q = uniform(s);
    const t = prepareLut(q);
    for (const batch of s.rows > 100 ? [1] : [1, 3]) {
      const x = randomX(batch * s.cols, 7 + batch);
      const { y: want, bound } = spec(q, x, batch);
      const single = await lutMatmul(t, x, batch, { numerics: "fast", singleThread: true });
      assert.deepEqual(single, want, `${s.label} batch ${batch}: WebAssembly vs spec`);
      const pooled = await lutMatmul(t, x, batch, { numerics: "fast" });
      assert.deepEqual(pooled, want, `${s.label} batch ${batch}: pooled`);
      if (s.rows > 100) continue; // the f64 reference is O(rows·pc²) with a rotation
      const ref = referenceProduct(q, x, batch);
      for (let i = 0; i < ref.length; i++) {
        assert.ok(
          Math.abs(single[i]! - ref[i]!) <= bound[i]!,
          `${s.label} output ${i}: |${single[i]} − ${ref[i]}| > ${bound[i]}`,
        );
      }
    }
  }
});

Deno.test("kernel fast, 2-bit uniform: the TypeScript fallback and the plain SIMD build agree to the bit", async () => {
  for (const s of [...SPECS.slice(0, 3), SPECS[5]!, SPECS[6]!]) {
    const q = uniform(s);
    const x = randomX(s.cols, 3);
    const y = await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" });
    setLutWasm(false);
    try {
      assert.deepEqual(await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" }), y, s.label);
    } finally {
      setLutWasm(true);
    }
    if (lutInt8Isa() === "relaxed") {
      setLutInt8Isa("simd");
      try {
        const plain = await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" });
        assert.deepEqual(plain, y, `${s.label}: plain SIMD`);
      } finally {
        setLutInt8Isa(undefined);
      }
    }
  }
});

Deno.test("tmacTables: i8 sums per quad at the block's step, ties rounded up", () => {
  // One block: quad 0 = (1, −1, 0.5, 0), the other quads 0: m = max|T| = 1.5 (1 + 0.5).
  const x = new Float64Array(64);
  x.set([1, -1, 0.5, 0]);
  const t = tmacTables(x, 0, 64, 64, 2);
  // T[p] = Σ bits: T[1] = 1 → 127·1/1.5 = 84.67 → 85; T[3] = 0 → 0; T[6] = −0.5 → −42.33 → −42.
  assert.deepEqual([t.t8[1], t.t8[3], t.t8[5], t.t8[6], t.t8[16]], [85, 0, 127, -42, 0]);
  assert.equal(t.stb[0], Math.fround(1.5 / 127 * 2));
  assert.equal(t.xg[0], 0.5);
});

Deno.test("kernel fast, 2-bit uniform: the WebAssembly tables equal the spec's on zero blocks and ties", async () => {
  const s = { rows: 16, cols: 256, bits: 2, group: 128, zeros: true };
  const q = uniform(s);
  const x = randomX(s.cols, 5);
  x.fill(0, 0, 64); // a block of zeros: m = 0, every entry 0
  for (let i = 64; i < 128; i++) x[i] = ((i % 7) - 3) / 6; // sums landing on ½ steps
  x[200] = 1e-30; // a tiny entry beside ordinary ones
  const { y } = spec(q, x, 1);
  assert.deepEqual(
    await lutMatmul(prepareLut(q), x, 1, { numerics: "fast", singleThread: true }),
    y,
  );
});

Deno.test("kernel fast, 2-bit uniform: repacked in place, restored for exact calls and dequantization", async () => {
  const s = { rows: 32, cols: 128, bits: 2, group: 64, zeros: true };
  const q = uniform(s);
  const lin = new LutLinear(q);
  const codes = lin.q.codes.slice(), scales = lin.q.scales.slice(), zeros = lin.q.zeros!.slice();
  const x = randomX(s.cols, 21);
  const exact = await lutMatmul(prepareLut(q), x, 1, { path: "lut" });
  setLutNumerics("fast");
  let fast: Float32Array;
  try {
    fast = await lin.forward(x, 1);
    assert.deepEqual(fast, spec(q, x, 1).y);
    if (lutInt8Isa()) assert.notDeepEqual(lin.q.codes, codes, "repacked in place");
  } finally {
    setLutNumerics("exact");
  }
  assert.deepEqual(await lin.forward(x, 1), exact, "exact after fast");
  assert.deepEqual(lin.q.codes, codes);
  assert.deepEqual(lin.q.scales, scales);
  assert.deepEqual(lin.q.zeros, zeros);
  setLutNumerics("fast");
  try {
    assert.deepEqual(await lin.forward(x, 1), fast, "fast again");
    assert.equal(lin.weightF32().length, s.rows * s.cols);
    assert.deepEqual(lin.q.codes, codes, "weightF32 restores the layout");
    assert.deepEqual(await lin.forward(x, 1), fast, "and fast once more");
  } finally {
    setLutNumerics("exact");
  }
});
