/**
 * The bit-plane kernel's f16 scales and zeros (`tmac_layout.ts`): where every scale and zero is
 * an f16 value (F16 storage, the default), the repacked tensor holds both as f16 in the scales
 * region and frees its f32 zeros; the results are those of the spec bit for bit, and restoring
 * gives back the checkpoint's arrays bit for bit.
 */
import assert from "node:assert/strict";
import { f16BitsToF32, roundToF16 } from "../../src/core/dtype.ts";
import { lutMatmul, prepareLut, setLutNumerics } from "../../src/lut/cpu.ts";
import { lutInt8Isa, setLutInt8Isa } from "../../src/lut/cpu_int8.ts";
import { setLutWasm } from "../../src/lut/cpu_wasm.ts";
import { LutLinear } from "../../src/lut/linear.ts";
import { rotateActivations } from "../../src/lut/rotate.ts";
import { tmacRowsTs, tmacTables } from "../../src/lut/tmac_format.ts";
import {
  halfToF32,
  tmacHalfExact,
  tmacRepackHalf,
  tmacUnpackHalf,
} from "../../src/lut/tmac_layout.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { randomQuantized, type RandomSpec, randomX } from "./helpers.ts";

/** A random tensor on a uniform table with its scales and zeros rounded to f16 (F16 storage). */
function halfTensor(spec: RandomSpec): QuantizedTensor {
  const q = randomQuantized({ ...spec, zeros: true });
  return {
    ...q,
    table: new Float32Array([-0.75, -0.25, 0.25, 0.75]),
    scales: roundToF16(q.scales),
    zeros: roundToF16(q.zeros!),
    scaleStorage: { kind: "float", dtype: "F16" },
    zeroStorage: { kind: "float", dtype: "F16" },
  };
}

/** The spec's result (the checkpoint's layout, f32 scales and zeros). */
function spec(q: QuantizedTensor, x: Float32Array): Float32Array {
  const [rows, cols] = q.shape;
  const xp = rotateActivations(x, 1, cols, q.paddedCols, q.rotation);
  const y = new Float32Array(rows);
  tmacRowsTs(
    q,
    tmacTables(xp, 0, q.paddedCols, q.groupSize, q.table[1]! - q.table[0]!),
    y,
    0,
    rows,
  );
  return y;
}

const bits = (a: Float32Array): number[] => [...new Uint32Array(a.slice().buffer)];

/** Whole tiles of 16 rows (in place, f16), odd column counts (padding), groups of 64·k. */
const SPECS: (RandomSpec & { label: string })[] = [
  { label: "16×130 g64", rows: 16, cols: 130, bits: 2, group: 64 },
  { label: "48×320 g64", rows: 48, cols: 320, bits: 2, group: 64 },
  { label: "32×256 g128", rows: 32, cols: 256, bits: 2, group: 128 },
  { label: "2048×256 g64 (pooled)", rows: 2048, cols: 256, bits: 2, group: 64 },
];

Deno.test("halfToF32: every finite f16 pattern to its value, bit for bit", () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue; // Inf / NaN: never f16-exact scales
    const want = f16BitsToF32(h), got = halfToF32(h);
    assert.ok(Object.is(got, want), `0x${h.toString(16)}: ${got} vs ${want}`);
  }
});

Deno.test("tmacHalfExact: f16 values only, finite", () => {
  assert.ok(tmacHalfExact([new Float32Array([0, -0, 2 ** -24, -(2 ** -14), 65504, 0.5])]));
  for (const v of [0.1, 2 ** -25, 65520, Infinity, NaN, 1 + 2 ** -11]) {
    assert.ok(!tmacHalfExact([new Float32Array([1]), new Float32Array([v])]), String(v));
  }
});

Deno.test("tmacRepackHalf / tmacUnpackHalf: a round trip bit for bit (zeros, −0, subnormals, padding rows)", () => {
  const rows = 21, gpr = 3, n = rows * gpr;
  const s = roundToF16(Float32Array.from({ length: n }, (_, i) => (i % 5 - 2) * 0.37));
  const z = Float32Array.from(
    { length: n },
    (_, i) => [0, -0, 2 ** -24, 3 * 2 ** -20, 2.5][i % 5]!,
  );
  const hd = new Uint16Array(2 * 2 * gpr * 16); // 2 tiles
  tmacRepackHalf(rows, gpr, s, z, hd);
  // Row 17 sits in tile 1 at lane 1: its group 2 scale at (1·3 + 2)·32 + 1, its zero 16 later.
  assert.equal(f16BitsToF32(hd[(1 * 3 + 2) * 32 + 1]!), s[17 * 3 + 2]);
  assert.equal(f16BitsToF32(hd[(1 * 3 + 2) * 32 + 17]!), z[17 * 3 + 2]);
  assert.equal(hd[(1 * 3 + 2) * 32 + 15], 0, "padding row");
  const s2 = new Float32Array(n), z2 = new Float32Array(n);
  tmacUnpackHalf(hd, rows, gpr, s2, z2);
  assert.deepEqual(bits(s2), bits(s));
  assert.deepEqual(bits(z2), bits(z));
});

Deno.test("kernel fast, f16 scales and zeros: equal to the spec bit for bit (WebAssembly, pooled, plain SIMD, TypeScript)", async () => {
  for (const s of SPECS) {
    const q = halfTensor(s);
    const t = prepareLut(q);
    if (lutInt8Isa()) assert.equal(t.wasm?.layout.halfAffine, true, s.label);
    assert.equal(t.wasm?.layout.zeros ?? 0, 0, `${s.label}: no zeros region`);
    for (const seed of [3, 4]) {
      const x = randomX(s.cols, seed);
      const want = spec(q, x);
      const single = await lutMatmul(t, x, 1, { numerics: "fast", singleThread: true });
      assert.deepEqual(single, want, `${s.label}: WebAssembly vs spec`);
      assert.deepEqual(await lutMatmul(t, x, 1, { numerics: "fast" }), want, `${s.label}: pooled`);
    }
    if (s.rows > 100) continue;
    // A batch (prefill): each row as at batch 1.
    const xb = randomX(3 * s.cols, 11);
    const yb = await lutMatmul(t, xb, 3, { numerics: "fast" });
    for (let b = 0; b < 3; b++) {
      const want = spec(q, xb.subarray(b * s.cols, (b + 1) * s.cols));
      assert.deepEqual(
        yb.subarray(b * s.rows, (b + 1) * s.rows),
        want,
        `${s.label}: batch row ${b}`,
      );
    }
    const x = randomX(s.cols, 5);
    if (lutInt8Isa() === "relaxed") {
      setLutInt8Isa("simd");
      try {
        const plain = await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" });
        assert.deepEqual(plain, spec(q, x), `${s.label}: plain SIMD`);
      } finally {
        setLutInt8Isa(undefined);
      }
    }
    setLutWasm(false);
    try {
      assert.deepEqual(await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" }), spec(q, x));
    } finally {
      setLutWasm(true);
    }
  }
});

Deno.test("kernel fast, f16: zeros 0, −0, negative scales and subnormal scales", async () => {
  const q = halfTensor({ rows: 32, cols: 192, bits: 2, group: 64 });
  const sub = [2 ** -24, -(2 ** -24), 1023 * 2 ** -24, -(2 ** -14), 3.5, -0.75];
  q.scales = q.scales.map((_, i) => sub[i % sub.length]!);
  q.zeros = q.zeros!.map((_, i) => [0, -0, 0, 1.5][i % 4]!);
  const t = prepareLut(q);
  if (lutInt8Isa()) assert.equal(t.wasm?.layout.halfAffine, true);
  const x = randomX(192, 8);
  assert.deepEqual(await lutMatmul(t, x, 1, { numerics: "fast", singleThread: true }), spec(q, x));
});

Deno.test("kernel fast, f16: zeros freed while repacked, restored bit for bit for exact calls", async () => {
  const s = { rows: 32, cols: 128, bits: 2, group: 64 };
  const q = halfTensor(s);
  q.zeros![3] = -0; // the sign of a zero survives the round trip
  const lin = new LutLinear(q);
  const codes = lin.q.codes.slice(), scales = bits(lin.q.scales), zeros = bits(lin.q.zeros!);
  const x = randomX(s.cols, 21);
  const exact = await lutMatmul(prepareLut(q), x, 1, { path: "lut" });
  setLutNumerics("fast");
  try {
    const fast = await lin.forward(x, 1);
    assert.deepEqual(fast, spec(q, x));
    if (lutInt8Isa()) assert.equal(lin.q.zeros, undefined, "zeros freed while repacked");
    setLutNumerics("exact");
    assert.deepEqual(await lin.forward(x, 1), exact, "exact after fast");
    assert.deepEqual(lin.q.codes, codes);
    assert.deepEqual(bits(lin.q.scales), scales);
    assert.deepEqual(bits(lin.q.zeros!), zeros);
    setLutNumerics("fast");
    assert.deepEqual(await lin.forward(x, 1), fast, "fast again");
    const w = lin.weightF32(); // restores
    assert.deepEqual(bits(lin.q.zeros!), zeros, "weightF32 restores the zeros");
    assert.equal(w.length, s.rows * s.cols);
    assert.deepEqual(await lin.forward(x, 1), fast, "and fast once more");
  } finally {
    setLutNumerics("exact");
  }
});

Deno.test("kernel fast: f32 scales and zeros kept where a value is not f16 (or rows fill no tiles)", async () => {
  const q = halfTensor({ rows: 32, cols: 128, bits: 2, group: 64 });
  q.scales[5] = 0.1; // not an f16 value
  const lin = new LutLinear(q);
  const t = prepareLut(q);
  assert.equal(t.wasm?.layout.halfAffine ?? false, false);
  const x = randomX(128, 2);
  setLutNumerics("fast");
  try {
    assert.deepEqual(await lin.forward(x, 1), spec(q, x));
    assert.ok(lin.q.zeros, "the f32 zeros stay");
  } finally {
    setLutNumerics("exact");
  }
  const odd = halfTensor({ rows: 23, cols: 130, bits: 2, group: 64 });
  assert.equal(prepareLut(odd).wasm?.layout.halfAffine ?? false, false, "a repacked copy");
  const xo = randomX(130, 6);
  assert.deepEqual(await lutMatmul(prepareLut(odd), xo, 1, { numerics: "fast" }), spec(odd, xo));
});
