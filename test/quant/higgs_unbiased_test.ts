import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { fillStudentT } from "../../src/core/distributions.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { relativeMse } from "../../src/quant/error_metrics.ts";
import { higgsQuantizer } from "../../src/quant/higgs.ts";
import { resolveHiggsParams } from "../../src/quant/higgs_params.ts";
import { unbiasedMse, unbiasRows, unbiasScales } from "../../src/quant/higgs_unbiased.ts";
import { loadGrid } from "../../src/grids/load.ts";
import { gpuTest } from "../gpu/helpers.ts";
import { rtnQuantizer } from "../../src/quant/rtn.ts";

/** Per Hadamard block of each row: ⟨w, ŵ − w⟩ / (‖w‖·‖ŵ − w‖), the error's cosine with W. */
function blockCosines(w: Float32Array, what: Float32Array, cols: number, h: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < w.length / cols; r++) {
    for (let b = 0; b < cols; b += h) {
      let we = 0, ww = 0, ee = 0;
      for (let c = b; c < Math.min(b + h, cols); c++) {
        const i = r * cols + c, e = what[i]! - w[i]!;
        we += w[i]! * e;
        ww += w[i]! * w[i]!;
        ee += e * e;
      }
      out.push(we / Math.sqrt(ww * ee));
    }
  }
  return out;
}

const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;

Deno.test("unbiased HIGGS scales make the error orthogonal to W per block; RMS scales shrink W by t²", async () => {
  const rows = 64, cols = 1024 + 256, h = 256; // 1280 columns: the last block is half padding
  for (const [p, n] of [[2, 16], [2, 64], [1, 8]] as const) {
    for (const seed of [null, 7]) {
      const w = fillStudentT(new Float32Array(rows * cols), 4, 11);
      const opts = { p, gridSize: n, hadamard: h, seed };
      const rms = await higgsQuantizer.quantize(w, rows, cols, opts);
      const unb = await higgsQuantizer.quantize(w, rows, cols, {
        ...opts,
        extra: { scaleRule: "unbiased" },
      });
      const mse = (await loadGrid(p, n)).mse;
      const tag = `(${p},${n}) seed ${seed}`;
      // RMS: the error points against W with cosine ≈ −t (Lloyd: ⟨x, e⟩ = ‖e‖²).
      const cr = blockCosines(w, dequantize(rms), cols, h);
      assert.ok(Math.abs(mean(cr) + Math.sqrt(mse)) < 0.15 * Math.sqrt(mse), `${tag}: ${mean(cr)}`);
      // Unbiased: no component along W beyond the f16 rounding of the scale.
      const cu = blockCosines(w, dequantize(unb), cols, h);
      assert.ok(
        cu.every((c) => Math.abs(c) < 0.01),
        `${tag}: max |cos| ${Math.max(...cu.map(Math.abs))}`,
      );
      // Same codes, scales larger by ≈ 1/(1 − t²), and t² grows to ≈ t²/(1 − t²).
      assert.deepEqual(unb.codes, rms.codes);
      const ratio = mean([...unb.scales].map((s, i) => s / rms.scales[i]!));
      assert.ok(Math.abs(ratio * (1 - mse) - 1) < 0.03, `${tag}: scales × ${ratio}`);
      const t2 = relativeMse(w, dequantize(unb));
      assert.ok(
        Math.abs(t2 / unbiasedMse(mse) - 1) < 0.05,
        `${tag}: t² ${t2} vs ${unbiasedMse(mse)}`,
      );
      assert.equal(unb.params.scaleRule, "unbiased");
      assert.equal(rms.params.scaleRule, undefined);
    }
  }
});

Deno.test("unbiasScales() keeps zero rows zero and names what it cannot take", async () => {
  const rows = 3, cols = 256;
  const w = fillNormal(new Float32Array(rows * cols), 3);
  w.fill(0, cols, 2 * cols); // row 1 all zero
  const q = await higgsQuantizer.quantize(w, rows, cols, {
    p: 2,
    gridSize: 64,
    hadamard: 256,
    extra: { scaleRule: "unbiased" },
  });
  const d = dequantize(q);
  assert.ok(d.every(Number.isFinite));
  assert.ok(d.subarray(cols, 2 * cols).every((v) => v === 0));
  const rtn = await rtnQuantizer.quantize(w, rows, cols, { bits: 4, groupSize: 64 });
  await assert.rejects(
    unbiasScales(w, rtn),
    (e: unknown) => e instanceof QuantlabError && /apply to HIGGS tensors.*got rtn/.test(e.message),
  );
  await assert.rejects(
    unbiasScales(w.subarray(1), q),
    (e: unknown) =>
      e instanceof QuantlabError && /767 values; the tensor is 3 × 256/.test(e.message),
  );
  assert.throws(
    () => resolveHiggsParams({ extra: { scaleRule: "median" } }),
    (e: unknown) =>
      e instanceof QuantlabError &&
      /scale rule median is not valid; use rms or unbiased/.test(e.message),
  );
  assert.equal(resolveHiggsParams({ extra: { scaleRule: "unbiased" } }).scaleRule, "unbiased");
});

Deno.test("unbiasScales() on the worker pool equals one pass of unbiasRows() over all rows", async () => {
  const rows = 512, cols = 1000; // padded to 1024: the pool splits the rows
  const w = fillStudentT(new Float32Array(rows * cols), 5, 21);
  const q = await higgsQuantizer.quantize(w, rows, cols, {
    p: 2,
    gridSize: 64,
    hadamard: 256,
    seed: 3,
  });
  const pooled = await unbiasScales(w, q);
  const one = q.scales.slice();
  const seed = q.rotation.kind === "hadamard" ? q.rotation.seed! : -1;
  const overflow = unbiasRows(
    w,
    cols,
    q.paddedCols,
    256,
    seed,
    q.groupSize,
    q.p,
    q.codeBits,
    q.codes,
    q.table,
    true,
    one,
    0,
    rows,
  );
  assert.equal(overflow, null);
  assert.deepEqual(pooled.scales, one);
  assert.notDeepEqual(one, q.scales);
});

gpuTest(
  "unbiased scales on WebGPU-encoded HIGGS equal the CPU's (same codes, same post-pass)",
  async (gpu) => {
    const rows = 16, cols = 300;
    const w = fillNormal(new Float32Array(rows * cols), 31);
    const opts = { p: 2, gridSize: 64, hadamard: 128, seed: 5, extra: { scaleRule: "unbiased" } };
    const cpu = await higgsQuantizer.quantize(w, rows, cols, opts, { kind: "cpu" }, "w");
    const gq = await higgsQuantizer.quantize(w, rows, cols, opts, { kind: "webgpu", gpu }, "w");
    assert.deepEqual(gq.codes, cpu.codes);
    assert.deepEqual(gq.scales, cpu.scales);
    assert.equal(gq.params.scaleRule, "unbiased");
  },
);
