import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import {
  checkLinearity,
  type LinearityCheckOptions,
  type LinearityRow,
} from "../../src/jobs/linearity_check.ts";
import {
  DENSE,
  type GridAssignment,
  higgsGridOptions,
  linearityConfigs,
} from "../../src/jobs/linearity_configs.ts";
import { compareRows, summarizeLinearity } from "../../src/jobs/linearity_summary.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { LINEAR_KINDS } from "../../src/model/types.ts";
import { estimateSensitivities } from "../../src/jobs/linearity.ts";
import { unbiasedMse } from "../../src/quant/higgs_unbiased.ts";

const options = await higgsGridOptions([[2, 16], [2, 64], [2, 256], [2, 4096]], 64);
const projections = Array.from({ length: 20 }, (_, i) => ({
  layer: i >> 3,
  kind: LINEAR_KINDS[i % 7]!,
  alpha: 0.1 + (i % 5),
  size: 65536 * (1 + (i % 3)),
}));

Deno.test("higgsGridOptions() costs codes plus one f16 scale per block; unbiased errors are t²/(1 − t²)", async () => {
  assert.deepEqual(options.map((o) => o.bits), [2.25, 3.25, 4.25, 6.25]);
  assert.ok(Math.abs(options[1]!.error / 0.029606 - 1) < 0.005);
  const u = await higgsGridOptions([[2, 64]], 64, "unbiased");
  assert.equal(u[0]!.error, unbiasedMse(options[1]!.error));
  assert.equal(u[0]!.name, "higgs (2,64) unbiased");
});

Deno.test("linearityConfigs(): an optimal plan pays each projection's lookup tables", () => {
  // One 256 × 256 projection: (2,4096) costs 4 + 16/64 bits plus its 4096 × 2 f16 table, 2 bits
  // per weight more (8.25 in all); (2,256) costs 4.25 + 8192 / 65536 = 4.375. A 6.5-bit budget fits
  // only (2,256) (before the tables were counted, it chose (2,4096) at "6.25").
  const one = [{ layer: 0, kind: "q_proj" as const, alpha: 1, size: 65536 }];
  const [plan] = linearityConfigs(one, options, { mixes: 0, budgets: [6.5] }).slice(4);
  assert.deepEqual(plan!.choice, [2]);
  assert.equal(options[3]!.tableBits, 4096 * 2 * 16);
});

Deno.test("linearityConfigs(): each grid everywhere, seeded mixes of ≥ 2 adjacent grids, optimal plans within budget", () => {
  const c = linearityConfigs(projections, options, { mixes: 12, budgets: [2.5, 3.5], seed: 4 });
  assert.equal(c.length, 4 + 12 + 2);
  c.slice(0, 4).forEach((u, j) => {
    assert.equal(u.family, "uniform");
    assert.ok(u.choice.every((x) => x === j));
  });
  const spans = new Set<string>();
  for (const m of c.slice(4, 16)) {
    assert.equal(m.family, "random");
    const used = [...new Set(m.choice)].sort();
    assert.ok(used.length >= 2, `${m.label} uses ${used}`);
    assert.equal(used.at(-1)! - used[0]! + 1, used.length, `${m.label}: adjacent grids ${used}`);
    spans.add(`${used[0]}-${used.at(-1)}`);
  }
  assert.ok(spans.size >= 3, `mixes spread over the bits range: ${[...spans]}`);
  assert.deepEqual(linearityConfigs(projections, options, { mixes: 12, seed: 4 }), c.slice(0, 16));
  assert.notDeepEqual(
    linearityConfigs(projections, options, { mixes: 12, seed: 5 }),
    c.slice(0, 16),
  );
  const size = projections.reduce((s, p) => s + p.size, 0);
  for (const o of c.slice(16)) {
    // What the quantized tensors store: codes, scales and each projection's own table.
    const stored = (j: number, i: number) =>
      options[j]!.bits + options[j]!.tableBits! / projections[i]!.size;
    const bits = o.choice.reduce((s, j, i) => s + stored(j, i) * projections[i]!.size, 0) / size;
    assert.ok(bits <= o.budget! + 1e-9, `${o.label}: ${bits} bits`);
    assert.ok(bits > o.budget! - 0.3, `${o.label} uses its budget: ${bits}`);
  }
  const single = linearityConfigs(projections, options, { mixes: 0, single: 1 }).slice(4);
  assert.equal(single.length, projections.length);
  single.forEach((c, i) => {
    assert.equal(c.family, "single");
    assert.deepEqual(
      c.choice.map((j, k) => (k === i ? j === 1 : j === DENSE)),
      c.choice.map(() => true),
    );
  });
  assert.throws(
    () => linearityConfigs(projections, options, { single: 4 }),
    /Single-projection grid index 4 is not one of the 4 grids/,
  );
  assert.throws(
    () => linearityConfigs(projections, options, { budgets: [2] }),
    (e: unknown) => e instanceof QuantlabError && /below the cheapest option/.test(e.message),
  );
});

Deno.test("checkLinearity() on a random Llama: KL rises as grids coarsen, follows Σ α·t², restores the model", async () => {
  const c = llamaConfig({ hiddenSize: 64, numLayers: 2, vocabSize: 96, intermediateSize: 128 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 3));
  const windows = [0, 1].map((w) =>
    Array.from({ length: 24 }, (_, i) => (7 * i + 31 * w + 5) % 96)
  );
  const before = await model.forward(windows[0]!);
  const sens = await estimateSensitivities(model, { metric: "kl", windows });
  const projs = sens.map((s) => {
    const lin = model.getLinear(s.layer, s.kind);
    return { layer: s.layer, kind: s.kind, alpha: s.alpha, size: lin.inFeatures * lin.outFeatures };
  });
  const configs = linearityConfigs(projs, options, { mixes: 3, budgets: [3] });
  const unbiased = await higgsGridOptions([[2, 16], [2, 64], [2, 256], [2, 4096]], 64, "unbiased");
  const check = (configs: GridAssignment[], more: Partial<LinearityCheckOptions> = {}) =>
    checkLinearity(model, {
      metric: "kl",
      windows,
      projections: projs,
      options: unbiased,
      hadamard: 64,
      scaleRule: "unbiased",
      configs,
      ...more,
    });
  const r = await check(configs);
  assert.equal(r.base, 0);
  assert.equal(r.rows.length, configs.length);
  const uni = r.rows.slice(0, 4);
  for (let j = 1; j < 4; j++) assert.ok(uni[j]!.measured < uni[j - 1]!.measured);
  for (const row of r.rows) {
    assert.ok(row.measured > 0 && row.measuredSe! >= 0);
    // Realized t² ≈ the grid's unbiased MSE (a 64-wide matrix: a few % of sampling noise).
    row.t2.forEach((t2, i) => {
      const o = unbiased.find((x) => x.name === row.grids[i])!;
      assert.ok(Math.abs(t2 / o.error - 1) < 0.25, `${row.label} ${i}: ${t2} vs ${o.error}`);
    });
    const ratio = row.measured / row.predicted;
    assert.ok(ratio > 0.6 && ratio < 1.6, `${row.label}: measured/predicted ${ratio}`);
  }
  const s = summarizeLinearity(r.rows);
  assert.ok(s.r2 > 0.9, `R² ${s.r2}`);
  // One projection alone: the others stay dense (t² 0), bits count the quantized one only.
  const one = await check(linearityConfigs(projs, unbiased, { mixes: 0, single: 0 }).slice(4, 6));
  for (const [i, row] of one.rows.entries()) {
    assert.ok(row.t2.every((t, k) => (k === i ? t > 0.05 : t === 0)), row.label);
    assert.equal(row.grids.filter((g) => g !== "dense").length, 1);
    assert.ok(Math.abs(row.bitsPerWeight - 2.25) < 0.3, `${row.bitsPerWeight}`);
    assert.ok(row.measured > 0 && row.measured < uni[0]!.measured);
  }
  await assert.rejects(
    check([{ label: "none", family: "single", budget: null, choice: projs.map(() => DENSE) }]),
    /at least one quantized/,
  );
  assert.deepEqual(await model.forward(windows[0]!), before, "dense projections restored");

  // Resume: a logged row is taken as is; only the others are measured.
  const fake: LinearityRow = { ...r.rows[0]!, measured: -1 };
  const seen: string[] = [];
  const again = await check(configs.slice(0, 2), {
    done: [fake],
    onRow: (row) => void seen.push(row.label),
  });
  assert.equal(again.rows[0]!.measured, -1);
  assert.deepEqual(seen, [configs[1]!.label]);
  assert.deepEqual(again.rows[1]!.measured, r.rows[1]!.measured);
});

Deno.test("checkLinearity() measures ΔPPL with its paired standard error, and names bad options", async () => {
  const c = llamaConfig({ hiddenSize: 64, numLayers: 1, vocabSize: 64, intermediateSize: 128 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 8));
  const windows = [0, 1, 2].map((w) => Array.from({ length: 16 }, (_, i) => (5 * i + 3 * w) % 64));
  const projs = LINEAR_KINDS.map((kind) => ({ layer: 0, kind, alpha: 1, size: 64 * 64 }));
  const cfg = (label: string, j: number): GridAssignment => ({
    label,
    family: "uniform",
    budget: null,
    choice: projs.map(() => j),
  });
  const r = await checkLinearity(model, {
    metric: "ppl",
    windows,
    projections: projs,
    options,
    hadamard: 64,
    configs: [cfg("2 bits", 0), cfg("3 bits", 1)],
  });
  const nll = async () => {
    let s = 0;
    for (const w of windows) s += (await model.nll(w)).reduce((a, v) => a + v, 0);
    return s / (windows.length * 15);
  };
  assert.ok(Math.abs(r.base - Math.exp(await nll())) < 1e-9 * r.base);
  assert.ok(r.rows[0]!.measuredSe! > 0);
  // Paired: the windows' shared difficulty cancels, so the difference is tighter than either row.
  const [two, three] = r.rows as [LinearityRow, LinearityRow];
  assert.equal(two.perWindow.length, 3);
  const cmp = compareRows(two, three, r.base);
  assert.equal(cmp.diff, three.measured - two.measured);
  assert.ok(cmp.se! < Math.hypot(two.measuredSe!, three.measuredSe!), `${cmp.se}`);
  assert.deepEqual(compareRows(two, two, r.base), { diff: 0, se: 0 });
  assert.throws(
    () => compareRows(two, { ...three, perWindow: [1] }, r.base),
    /measured on 3 and 1 windows; a paired comparison needs the same windows/,
  );
  const bad = (configs: GridAssignment[], re: RegExp) =>
    assert.rejects(
      checkLinearity(model, {
        metric: "ppl",
        windows,
        projections: projs,
        options,
        hadamard: 64,
        configs,
      }),
      (e: unknown) => e instanceof QuantlabError && re.test(e.message),
    );
  await bad([cfg("a", 0), cfg("a", 1)], /Assignment label "a" appears twice/);
  await bad([cfg("x", 9)], /must choose one of 4 grids \(or -1: dense\) for each of 7 projections/);
  await assert.rejects(
    checkLinearity(model, {
      metric: "ppl",
      windows: [[1]],
      projections: projs,
      options,
      hadamard: 64,
      configs: [],
    }),
    /at least one token window, each of at least 2 tokens/,
  );
});
