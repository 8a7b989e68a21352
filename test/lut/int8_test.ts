import assert from "node:assert/strict";
import { lutMatmul, prepareLut, setLutNumerics } from "../../src/lut/cpu.ts";
import { LutLinear } from "../../src/lut/linear.ts";
import { getQuantizer } from "../../src/quant/registry.ts";
import type { QuantOptions } from "../../src/quant/quantizer.ts";
import { lutInt8Isa, lutInt8Rows, setLutInt8Isa } from "../../src/lut/cpu_int8.ts";
import { setLutWasm } from "../../src/lut/cpu_wasm.ts";
import { int8ErrorBound } from "../../src/lut/int8_fallback.ts";
import { int8Format, int8Table, quantizeActivations } from "../../src/lut/int8_format.ts";
import { rotateActivations } from "../../src/lut/rotate.ts";
import { tmacCovers, tmacErrorBound, tmacTables } from "../../src/lut/tmac_format.ts";
import { buildLutInt8Source } from "../../tools/gen_lut_int8.ts";
import {
  randomQuantized,
  type RandomSpec,
  randomX,
  referenceProduct,
  relError,
} from "./helpers.ts";

/** Layouts the fast kernels cover, odd row counts and column counts that pad. */
const SPECS: (RandomSpec & { label: string })[] = [
  { label: "4-bit g64 (NF4-like)", rows: 37, cols: 200, bits: 4, group: 64 },
  { label: "4-bit g128 zeros (HQQ/RTN)", rows: 19, cols: 256, bits: 4, group: 128, zeros: true },
  { label: "2-bit g64 zeros", rows: 23, cols: 130, bits: 2, group: 64, zeros: true },
  { label: "2-bit channel", rows: 9, cols: 192, bits: 2 },
  {
    label: "(2,16) g256 Hadamard 64",
    rows: 21,
    cols: 300,
    bits: 4,
    p: 2,
    group: 256,
    hadamard: { size: 64, seed: 5 },
  },
  { label: "3-bit g64 zeros (RTN/HQQ)", rows: 29, cols: 190, bits: 3, group: 64, zeros: true },
  { label: "3-bit channel (HIGGS (1,8)-like)", rows: 7, cols: 320, bits: 3 },
  {
    label: "(2,256) g256 Hadamard 128",
    rows: 17,
    cols: 250,
    bits: 8,
    p: 2,
    group: 256,
    hadamard: { size: 128, seed: 3 },
  },
  { label: "(2,256) g64 no rotation", rows: 5, cols: 64, bits: 8, p: 2, group: 64 },
  {
    label: "4-bit g64 Hadamard plain",
    rows: 33,
    cols: 128,
    bits: 4,
    group: 64,
    hadamard: { size: 128, seed: null },
  },
];

/** The stated bound of `int8_format.ts`, per output, for every row of x. */
function bounds(spec: RandomSpec, x: Float32Array, batch: number): Float64Array {
  const q = randomQuantized(spec);
  const t = int8Table(q.table, q.p);
  const pc = q.paddedCols;
  const xp = rotateActivations(x, batch, q.shape[1], pc, q.rotation);
  const out = new Float64Array(batch * q.shape[0]);
  for (let b = 0; b < batch; b++) {
    const a = quantizeActivations(xp, b * pc, pc, q.groupSize);
    out.set(int8ErrorBound(q, t, a, xp, b * pc), b * q.shape[0]);
  }
  return out;
}

Deno.test("the fast kernels cover 2/3/4-bit p 1 and 4/8-bit p 2 with groups of 64·k along the input", () => {
  for (const spec of SPECS) {
    const q = randomQuantized(spec);
    assert.ok(int8Format(q.p, q.codeBits, q.groupAxis, q.groupSize), spec.label);
  }
});

Deno.test("kernel fast stays within its stated bound of the f64 reference (batch 1, 3, 64)", async () => {
  for (const spec of SPECS) {
    const q = randomQuantized(spec);
    const t = prepareLut(q);
    for (const batch of [1, 3, 64]) {
      const x = randomX(batch * spec.cols, 3 + batch);
      const ref = referenceProduct(q, x, batch);
      const bound = bounds(spec, x, batch);
      const y = await lutMatmul(t, x, batch, { numerics: "fast" });
      // Every batch row is the batch-1 result (prefill and decode agree).
      const n = q.shape[0];
      for (const b of [0, batch - 1]) {
        const one = await lutMatmul(t, x.subarray(b * spec.cols, (b + 1) * spec.cols), 1, {
          numerics: "fast",
        });
        assert.deepEqual(
          y.subarray(b * n, (b + 1) * n),
          one,
          `${spec.label} batch ${batch} row ${b}`,
        );
      }
      for (let i = 0; i < ref.length; i++) {
        assert.ok(
          Math.abs(y[i]! - ref[i]!) <= bound[i]!,
          `${spec.label} batch ${batch} output ${i}: |${y[i]} − ${ref[i]}| > ${bound[i]}`,
        );
      }
    }
  }
});

Deno.test("kernel fast: pooled ≡ single thread, WebAssembly ≈ TypeScript, relaxed ≈ plain SIMD", async () => {
  // Enough rows (2·2¹⁸ weights) for the pool's work stealing, odd so the last row runs alone.
  const big = { label: "4-bit g64, 2101 rows (pooled)", rows: 2101, cols: 256, bits: 4, group: 64 };
  for (const spec of [...SPECS, big]) {
    const q = randomQuantized(spec);
    const x = randomX(spec.cols, 11);
    const t = prepareLut(q);
    const pooled = await lutMatmul(t, x, 1, { numerics: "fast" });
    const single = await lutMatmul(t, x, 1, { numerics: "fast", singleThread: true });
    assert.deepEqual(pooled, single, spec.label);
    setLutWasm(false);
    const ts = await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" });
    setLutWasm(true);
    assert.ok(relError(pooled, ts) <= 1e-6, `${spec.label}: WebAssembly vs TypeScript`);
    if (lutInt8Isa() === "relaxed") {
      setLutInt8Isa("simd");
      const plain = await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" });
      setLutInt8Isa(undefined);
      // Same integers per block, summed into f32 lanes in another order: equal up to rounding.
      assert.ok(relError(plain, pooled) <= 1e-6, `${spec.label}: relaxed vs plain SIMD`);
    }
  }
});

Deno.test("gen/lut_int8.ts holds the modules that tools/gen_lut_int8.ts assembles", async () => {
  const committed = await Deno.readTextFile(
    new URL("../../src/lut/gen/lut_int8.ts", import.meta.url),
  );
  assert.equal(
    await buildLutInt8Source(),
    committed,
    "run `./quantlab deno run -A tools/gen_lut_int8.ts` to rebuild",
  );
});

Deno.test("LutLinear keeps one copy of the codes (the kernels') and follows the default numerics", async () => {
  const spec = SPECS[0]!;
  const q = randomQuantized(spec);
  const lin = new LutLinear(q);
  assert.notEqual(lin.q.codes, q.codes);
  assert.deepEqual(lin.q.codes, q.codes);
  assert.ok(lin.q.codes.buffer instanceof SharedArrayBuffer);
  const x = randomX(spec.cols, 4);
  setLutNumerics("fast");
  try {
    const y = await lin.forward(x, 1);
    assert.deepEqual(y, await lutMatmul(prepareLut(q), x, 1, { numerics: "fast" }));
  } finally {
    setLutNumerics("exact");
  }
  assert.deepEqual(await lin.forward(x, 1), await lutMatmul(prepareLut(q), x, 1));
});

/** Every method's own quantizer on a random matrix, in layouts the fast kernels cover. */
const METHODS: [string, QuantOptions][] = [
  ["rtn", { bits: 4, groupSize: 64 }],
  ["rtn", { bits: 2, groupSize: 64 }],
  ["rtn", { bits: 3, groupSize: 64 }],
  ["hqq", { bits: 3, groupSize: 128 }],
  ["hqq", { bits: 4, groupSize: 64 }],
  ["hqq", { bits: 2, groupSize: 128 }],
  ["nf4", { groupSize: 64 }],
  ["af4", { groupSize: 64 }],
  ["fp4", { groupSize: 64 }],
  ["higgs", { p: 1, gridSize: 16, hadamard: 128, groupSize: 128 }],
  ["higgs", { p: 2, gridSize: 16, hadamard: 128, groupSize: 256 }],
  ["higgs", { p: 1, gridSize: 8, hadamard: 128, groupSize: 128 }],
  ["higgs", { p: 2, gridSize: 256, hadamard: 128, groupSize: 256 }],
];

Deno.test("kernel fast on every method's quantizer output: within the bound; exact ≤ 1e-6", async () => {
  const rows = 21, cols = 256;
  const w = randomX(rows * cols, 77);
  for (const [method, opts] of METHODS) {
    const q = await getQuantizer(method).quantize(w, rows, cols, opts);
    const label = `${method} ${JSON.stringify(opts)}`;
    assert.ok(int8Format(q.p, q.codeBits, q.groupAxis, q.groupSize), label);
    const t = prepareLut(q);
    const x = randomX(3 * cols, 5);
    const ref = referenceProduct(q, x, 3);
    assert.ok(relError(await lutMatmul(t, x, 3, { path: "lut" }), ref) <= 1e-6, label);
    const xp = rotateActivations(x, 3, cols, q.paddedCols, q.rotation);
    const y = await lutMatmul(t, x, 3, { numerics: "fast" });
    const t8 = int8Table(q.table, q.p);
    if (method === "rtn" || method === "hqq") assert.ok(t8.exact, `${label}: uniform table`);
    for (let b = 0; b < 3; b++) {
      const a = quantizeActivations(xp, b * q.paddedCols, q.paddedCols, q.groupSize);
      // 2-bit uniform codes run the bit-plane kernel, with its own numerics and bound.
      const bound = tmacCovers(q)
        ? tmacErrorBound(
          q,
          tmacTables(xp, b * q.paddedCols, q.paddedCols, q.groupSize, t8.delta),
          xp,
          b * q.paddedCols,
        )
        : int8ErrorBound(q, t8, a, xp, b * q.paddedCols);
      for (let r = 0; r < rows; r++) {
        const i = b * rows + r;
        assert.ok(Math.abs(y[i]! - ref[i]!) <= bound[r]!, `${label} output ${i}`);
      }
    }
  }
});

Deno.test("kernel fast on an equally spaced 4-bit table skips the lookup (u4) with the n4 kernel's results", async () => {
  const isas = lutInt8Isa() === "relaxed" ? ["relaxed", "simd"] as const : [undefined];
  for (const isa of isas) {
    setLutInt8Isa(isa);
    try {
      for (const spec of [SPECS[1]!, { ...SPECS[0]!, rows: 2101, cols: 256 }]) {
        const table = new Float32Array(16).map((_, i) => 0.25 * i - 2);
        const q = { ...randomQuantized(spec), table };
        const t = prepareLut(q);
        const L = t.wasm?.layout.int8;
        if (!L) continue; // no WebAssembly SIMD here
        assert.equal(L.format, "u4", spec.label);
        const x = randomX(spec.cols, 13);
        const y = await lutMatmul(t, x, 1, { numerics: "fast", singleThread: true });
        // The regions hold this row's activations: rerun the rows with the lookup (t7 = 0…15).
        const w = t.wasm!, base = { ...w.layout, out: w.layout.out };
        // (A one-row call leaves the row pairs interleaved: pair_layout.ts.)
        lutInt8Rows(w.memory, base, { ...L, format: "n4" }, 0, spec.rows, true);
        assert.deepEqual(w.out.slice(0, spec.rows), y, `${spec.label} (${isa})`);
        const pooled = await lutMatmul(t, x, 1, { numerics: "fast" });
        assert.deepEqual(pooled, y, `${spec.label} (${isa}): pooled`);
      }
    } finally {
      setLutInt8Isa(undefined);
    }
  }
});

Deno.test("kernel fast, one row: row pairs interleaved in place, restored for exact and long batch calls", async () => {
  const spec = { label: "4-bit g64, 37 rows", rows: 37, cols: 256, bits: 4, group: 64 };
  const q = randomQuantized(spec);
  const lin = new LutLinear(q);
  const codes = lin.q.codes.slice();
  const x = randomX(9 * spec.cols, 8);
  const one = x.subarray(0, spec.cols), three = x.subarray(0, 3 * spec.cols);
  const exact = await lutMatmul(prepareLut(q), one, 1);
  const batch = await lutMatmul(prepareLut(q), x, 9, { numerics: "fast" });
  setLutNumerics("fast");
  try {
    const y = await lin.forward(one, 1);
    if (lutInt8Isa()) assert.notDeepEqual(lin.q.codes, codes, "interleaved");
    assert.deepEqual(y, batch.subarray(0, spec.rows), "one row ≡ batch row 0");
    // A short batch runs row by row on the interleaved codes; a long one puts the order back.
    assert.deepEqual(await lin.forward(three, 3), batch.subarray(0, 3 * spec.rows), "batch 3");
    if (lutInt8Isa()) assert.notDeepEqual(lin.q.codes, codes, "still interleaved");
    assert.deepEqual(await lin.forward(x, 9), batch, "batch 9 after one row");
    assert.deepEqual(lin.q.codes, codes, "the batch kernel reads the checkpoint's order");
    assert.deepEqual(await lin.forward(one, 1), y, "one row again");
  } finally {
    setLutNumerics("exact");
  }
  assert.deepEqual(await lin.forward(one, 1), exact, "exact after fast");
  assert.deepEqual(lin.q.codes, codes);
});
