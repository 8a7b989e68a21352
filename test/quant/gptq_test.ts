import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { type GptqOptions, gptqProblem, gptqQuantize } from "../../src/quant/gptq.ts";
import { gptqSweep } from "../../src/quant/gptq_sweep.ts";
import { gptqSweepReference, hinvFactorReference } from "../../src/quant/gptq_reference.ts";
import { prepareHessian, upperCholeskyOfInverse } from "../../src/quant/gptq_linalg.ts";
import { type GridSpec, parseGridSpec } from "../../src/quant/grid_spec.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { validateQuantized } from "../../src/quant/format.ts";
import {
  parseDescriptor,
  quantizedFromTensors,
  quantizedToTensors,
} from "../../src/io/quantized_checkpoint.ts";

/** H = 2XᵀX for T samples whose columns are strongly correlated (a few shared factors + noise). */
function correlatedHessian(cols: number, seed: number, samples = 256): Float32Array {
  const k = 4;
  const z = fillNormal(new Float64Array(samples * k), seed);
  const a = fillNormal(new Float64Array(k * cols), seed + 1);
  const noise = fillNormal(new Float64Array(samples * cols), seed + 2);
  const x = new Float64Array(samples * cols);
  for (let t = 0; t < samples; t++) {
    for (let i = 0; i < cols; i++) {
      let s = 0.1 * noise[t * cols + i]!;
      for (let f = 0; f < k; f++) s += z[t * k + f]! * a[f * cols + i]!;
      // Input scales vary by column, as activations' do.
      x[t * cols + i] = s * (1 + (i % 7) / 3);
    }
  }
  const h = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let t = 0; t < samples; t++) s += x[t * cols + i]! * x[t * cols + j]!;
      h[i * cols + j] = 2 * s;
    }
  }
  return h;
}

function identity(n: number, v = 1): Float32Array {
  const h = new Float32Array(n * n);
  for (let i = 0; i < n; i++) h[i * n + i] = v;
  return h;
}

/** tr((W − Ŵ) H (W − Ŵ)ᵀ) in f64. */
function objective(w: Float32Array, d: Float32Array, h: Float32Array, rows: number, cols: number) {
  let s = 0;
  const e = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) e[c] = w[r * cols + c]! - d[r * cols + c]!;
    for (let i = 0; i < cols; i++) {
      let t = 0;
      for (let j = 0; j < cols; j++) t += h[i * cols + j]! * e[j]!;
      s += e[i]! * t;
    }
  }
  return s;
}

const FORMATS: Record<string, string> = {
  rtn: "rtn:bits=3,group=32",
  rtnSym: "rtn:bits=4,group=64,symmetric=true",
  rtnChannel: "rtn:bits=4,group=channel",
  rtnClip: "rtn:bits=3,group=32,clipSearch=true",
  hqq: "hqq:bits=3,group=32",
  nf4: "nf4:group=32",
  af4: "af4:group=64",
  fp4: "fp4:group=32",
  higgs1: "higgs:p=1,bits=3,h=64",
  higgs2: "higgs:p=2,bits=3,h=64",
  higgs2seed: "higgs:p=2,bits=2,h=64,seed=7,group=32",
};

Deno.test("upperCholeskyOfInverse() equals the paper's three-step factor (f64) across blocks", () => {
  const n = 200;
  const h = correlatedHessian(n, 3, 300);
  const prep = prepareHessian(h, n, 0.01);
  const u = upperCholeskyOfInverse(prep.h, n);
  const ref = hinvFactorReference(prep.h, n);
  let maxAbs = 0;
  let maxErr = 0;
  for (let i = 0; i < n * n; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
    maxErr = Math.max(maxErr, Math.abs(u[i]! - ref[i]!));
  }
  assert.ok(maxErr / maxAbs < 1e-4, `relative error ${maxErr / maxAbs}`);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.equal(u[i * n + j], 0);
});

async function blockedVsReference(spec: string, rows: number, cols: number, opts: GptqOptions) {
  const w = fillNormal(new Float32Array(rows * cols), 11);
  const h = correlatedHessian(cols, 5);
  const grid = parseGridSpec(spec);
  const a = await gptqProblem(w, rows, cols, h, grid, opts);
  const b = await gptqProblem(w, rows, cols, h, grid, opts);
  const fast = await gptqSweep(a, opts.blockSize ?? 128);
  const ref = gptqSweepReference(b);
  let diff = 0;
  for (let i = 0; i < fast.codes.length; i++) if (fast.codes[i] !== ref.codes[i]) diff++;
  assert.equal(diff, 0, `${spec}: ${diff} of ${fast.codes.length} codes differ`);
  assert.deepEqual(a.grid.scales, b.grid.scales, `${spec}: scales differ`);
  assert.ok(
    Math.abs(fast.loss - ref.loss) <= 1e-4 * ref.loss,
    `${spec}: ${fast.loss} vs ${ref.loss}`,
  );
}

Deno.test("the blocked, lazy sweep gives the plain reference's codes for every format", async () => {
  for (const spec of Object.values(FORMATS)) {
    // Block 32 over 128 columns: four blocks; groups of 32, 64 and whole rows against it.
    await blockedVsReference(spec, 12, 128, { blockSize: 32 });
  }
  await blockedVsReference("rtn:bits=4,group=16", 8, 96, { blockSize: 40 });
  await blockedVsReference("nf4:group=64", 8, 128, { blockSize: 48 });
});

Deno.test("the sweep split over pool workers (rows ≥ 128) gives the reference's codes", async () => {
  for (const spec of [FORMATS.rtn!, FORMATS.higgs2!]) {
    await blockedVsReference(spec, 160, 64, { blockSize: 32 });
  }
});

Deno.test("the blocked sweep equals the reference with act-order (static groups)", async () => {
  for (const spec of [FORMATS.rtn!, FORMATS.nf4!, FORMATS.higgs2!, FORMATS.hqq!]) {
    await blockedVsReference(spec, 8, 128, { blockSize: 32, actOrder: true });
  }
});

Deno.test("p = 2 pairs handle an odd column count (padded HIGGS rows)", async () => {
  await blockedVsReference("higgs:p=2,bits=3,h=64", 8, 63, { blockSize: 16 });
  await blockedVsReference("higgs:p=2,bits=2,h=64", 8, 127, { actOrder: true });
  const w = fillNormal(new Float32Array(6 * 63), 2);
  const r = await gptqQuantize(
    w,
    6,
    63,
    correlatedHessian(63, 9),
    parseGridSpec("higgs:p=2,bits=3,h=64"),
  );
  validateQuantized(r.tensor);
  assert.equal(r.tensor.paddedCols, 64);
  assert.equal(dequantize(r.tensor).length, 6 * 63);
});

Deno.test("with H = I GPTQ reduces to the plain quantizer: bit-identical codes, scales, zeros", async () => {
  const rows = 8;
  const cols = 256;
  const w = fillNormal(new Float32Array(rows * cols), 4);
  for (const [key, spec] of Object.entries({ ...FORMATS, higgs256: "higgs:p=2,bits=4,h=256" })) {
    for (const actOrder of [false, true]) {
      const r = await gptqQuantize(w, rows, cols, identity(cols, 2), parseGridSpec(spec), {
        actOrder,
      });
      assert.deepEqual(r.tensor.codes, r.dataFree.codes, `${key} actOrder=${actOrder}: codes`);
      assert.deepEqual(r.tensor.scales, r.dataFree.scales, `${key}: scales`);
      assert.deepEqual(r.tensor.zeros, r.dataFree.zeros, `${key}: zeros`);
      assert.equal(r.tensor.params.gptq, true);
    }
  }
});

Deno.test("act-order round-trips the permutation: a diagonal H gives the unpermuted codes", async () => {
  const rows = 6;
  const cols = 128;
  const w = fillNormal(new Float32Array(rows * cols), 8);
  // Distinct diagonal, no correlation: no error feedback, so only the order differs.
  const h = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) h[i * cols + i] = 1 + ((i * 37) % cols);
  // HIGGS without the rotation: a rotated diagonal H is no longer diagonal.
  const higgsPairs = "higgs:p=2,bits=3,h=0,group=64";
  for (const spec of [FORMATS.rtn!, FORMATS.fp4!, higgsPairs]) {
    const grid = parseGridSpec(spec);
    const pr = await gptqProblem(w, rows, cols, h, grid, { actOrder: true });
    assert.ok(pr.perm !== null);
    const p = pr.grid.p;
    const d = (t: number) => {
      let s = 0;
      for (let e = 0; e < p; e++) s += h[(t * p + e) * (cols + 1)]!;
      return s;
    };
    for (let j = 1; j < pr.perm.length; j++) assert.ok(d(pr.perm[j - 1]!) >= d(pr.perm[j]!));
    assert.notDeepEqual([...pr.perm], [...pr.perm].sort((a, b) => a - b));
    const a = await gptqQuantize(w, rows, cols, h, grid, { actOrder: true });
    const b = await gptqQuantize(w, rows, cols, h, grid, { actOrder: false, staticGroups: true });
    assert.deepEqual(a.tensor.codes, b.tensor.codes, spec);
    assert.deepEqual(a.tensor.codes, a.dataFree.codes, spec);
  }
});

Deno.test("GPTQ's loss is the damped objective tr((W − Ŵ)H_λ(W − Ŵ)ᵀ)", async () => {
  const rows = 8;
  const cols = 128;
  const w = fillNormal(new Float32Array(rows * cols), 12);
  const h = correlatedHessian(cols, 13);
  for (const spec of [FORMATS.rtn!, FORMATS.higgs2!]) {
    const r = await gptqQuantize(w, rows, cols, h, parseGridSpec(spec));
    const damped = h.slice();
    for (let i = 0; i < cols; i++) damped[i * (cols + 1)] = damped[i * (cols + 1)]! + r.damp;
    const obj = objective(w, dequantize(r.tensor), damped, rows, cols);
    assert.ok(Math.abs(obj - r.loss) < 1e-3 * obj, `${spec}: ${obj} vs ${r.loss}`);
  }
});

Deno.test("GPTQ beats the data-free quantizer on the layer objective for every format", async () => {
  const rows = 32;
  const cols = 128;
  const w = fillNormal(new Float32Array(rows * cols), 21);
  const h = correlatedHessian(cols, 22, 512);
  for (const [key, spec] of Object.entries(FORMATS)) {
    for (const actOrder of [false, true]) {
      const r = await gptqQuantize(w, rows, cols, h, parseGridSpec(spec), { actOrder });
      const g = objective(w, dequantize(r.tensor), h, rows, cols);
      const f = objective(w, dequantize(r.dataFree), h, rows, cols);
      // Correlated inputs: GPTQ's feedback removes most of the output error.
      assert.ok(g < 0.5 * f, `${key} actOrder=${actOrder}: GPTQ ${g} vs data-free ${f}`);
    }
  }
});

Deno.test("dead inputs (diag H = 0) are zeroed and the rest still quantizes", async () => {
  const rows = 4;
  const cols = 64;
  const w = fillNormal(new Float32Array(rows * cols), 31);
  const h = correlatedHessian(cols, 32);
  for (let j = 0; j < cols; j++) {
    h[5 * cols + j] = 0;
    h[j * cols + 5] = 0;
  }
  const r = await gptqQuantize(w, rows, cols, h, parseGridSpec("rtn:bits=4,group=32"));
  assert.equal(r.dead, 1);
  const d = dequantize(r.tensor);
  for (let row = 0; row < rows; row++) assert.ok(Math.abs(d[row * cols + 5]!) < 0.3);
});

Deno.test("bad input: one clear error naming the value", async () => {
  const w = new Float32Array(4 * 8).fill(0.5);
  const grid: GridSpec = { method: "rtn", opts: { bits: 4, groupSize: 8 } };
  const rejects = async (h: Float32Array, re: RegExp, code: string) => {
    await assert.rejects(() => gptqQuantize(w, 4, 8, h, grid, { name: "q_proj" }), (e: unknown) => {
      assert.ok(e instanceof QuantlabError && e.code === code, String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  };
  await rejects(new Float32Array(8 * 7), /holds 56 values.*8 × 8.*not square/, "bad-shape");
  await rejects(identity(16), /holds 256 values.*8 × 8.*16 × 16/, "bad-shape");
  const nan = identity(8);
  nan[3 * 8 + 2] = NaN;
  await rejects(nan, /Hessian of "q_proj" holds NaN at row 3, column 2/, "bad-value");
  const neg = identity(8);
  neg[0] = -5;
  await rejects(neg, /not positive definite: pivot 0 is -4\.99/, "bad-value");
  await assert.rejects(
    () => gptqQuantize(w, 4, 8, identity(8), grid, { percdamp: -1 }),
    /Dampening -1 is not valid/,
  );
  assert.throws(() => parseGridSpec(""), /names no format/);
  assert.throws(() => parseGridSpec("bits=3"), /"bits=3" is not a format/);
});

Deno.test("a GPTQ tensor goes through the checkpoint format unchanged", async () => {
  const rows = 8;
  const cols = 128;
  const w = fillNormal(new Float32Array(rows * cols), 41);
  const h = correlatedHessian(cols, 42);
  for (const spec of [FORMATS.higgs2!, FORMATS.rtn!, FORMATS.nf4!]) {
    const r = await gptqQuantize(w, rows, cols, h, parseGridSpec(spec), { actOrder: true });
    const { tensors, descriptor } = quantizedToTensors("w", r.tensor);
    const m = new Map(tensors);
    const d = parseDescriptor("w", JSON.parse(JSON.stringify(descriptor)));
    const back = quantizedFromTensors("w", d, (n) => m.get(n));
    assert.deepEqual(dequantize(back), dequantize(r.tensor), spec);
    assert.equal(back.params.gptqActOrder, true);
  }
});
