import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { randU32 } from "../../src/core/prng.ts";
import {
  estimateSensitivities,
  fitThroughOrigin,
  type LayerSensitivity,
  noiseSeed,
  perturbWeights,
  predictIncrease,
  type SensitivityPoint,
} from "../../src/jobs/linearity.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";

const config = llamaConfig({
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 128,
  intermediateSize: 128,
});
const newModel = () => LlamaModel.fromWeights(config, randomLlamaWeights(config, 1));
const windows = [0, 1].map((w) => Array.from({ length: 24 }, (_, i) => randU32(77 + w, i) % 128));
const LEVELS = [4 ** -7, 4 ** -6, 4 ** -5, 4 ** -4, 4 ** -3];

/** Mean KL (nats per position) of the model's next-token distribution from `base` logits. */
async function klFrom(model: LlamaModel, base: Float32Array[]): Promise<number> {
  const V = config.vocabSize;
  let kl = 0, n = 0;
  for (let i = 0; i < windows.length; i++) {
    const q = await model.forward(windows[i]!);
    const T = windows[i]!.length;
    for (let t = 0; t < T; t++) {
      const lse = (a: Float32Array) => {
        let m = -Infinity, s = 0;
        for (let v = 0; v < V; v++) m = Math.max(m, a[t * V + v]!);
        for (let v = 0; v < V; v++) s += Math.exp(a[t * V + v]! - m);
        return m + Math.log(s);
      };
      const lp = lse(base[i]!), lq = lse(q);
      for (let v = 0; v < V; v++) {
        const a = base[i]![t * V + v]! - lp;
        kl += Math.exp(a) * (a - (q[t * V + v]! - lq));
      }
      n++;
    }
  }
  return kl / n;
}

Deno.test("perturbWeights() adds N(0, t²‖W‖²/numel) noise: realized t² ≈ t², seeded", () => {
  const w = new Float32Array(65536).map((_, i) => Math.sin(i) * (1 + (i % 7)));
  for (const t2 of [1e-4, 0.01, 0.25]) {
    const a = perturbWeights(w, t2, 5);
    assert.ok(Math.abs(a.realizedT2 / t2 - 1) < 0.02, `t² ${t2}: realized ${a.realizedT2}`);
    assert.deepEqual(perturbWeights(w, t2, 5).weights, a.weights);
    assert.notDeepEqual(perturbWeights(w, t2, 6).weights, a.weights);
  }
  assert.deepEqual(perturbWeights(w, 0, 1).weights, w);
  assert.throws(() => perturbWeights(w, -1, 1), /t² = -1 is not a finite number ≥ 0/);
});

Deno.test("perturbWeights() with blocks gives each run of columns noise ∝ its RMS, the same t² overall", () => {
  const rows = 64, cols = 768, size = 256;
  // Row r, block b has scale (1 + r % 5)·(1 + 3b): energies differ up to 35×.
  const w = new Float32Array(rows * cols).map((_, i) => {
    const r = Math.floor(i / cols), b = Math.floor((i % cols) / size);
    return Math.sin(i * 0.7) * (1 + (r % 5)) * (1 + 3 * b);
  });
  const t2 = 0.04;
  const { weights, realizedT2 } = perturbWeights(w, t2, 9, 1, { cols, size });
  assert.ok(Math.abs(realizedT2 / t2 - 1) < 0.03, `realized ${realizedT2}`);
  for (const [r, b] of [[0, 0], [4, 2], [63, 1]]) {
    let ww = 0, ee = 0;
    for (let c = b! * size; c < (b! + 1) * size; c++) {
      const i = r! * cols + c;
      ww += w[i]! ** 2;
      ee += (weights[i]! - w[i]!) ** 2;
    }
    assert.ok(Math.abs(ee / ww / t2 - 1) < 0.3, `row ${r} block ${b}: ${ee / ww}`);
  }
  // Antithetic halves are mirror images.
  const minus = perturbWeights(w, t2, 9, -1, { cols, size }).weights;
  assert.ok(minus.every((v, i) => Math.abs(v - w[i]! + (weights[i]! - w[i]!)) < 1e-4));
  assert.throws(
    () => perturbWeights(w, t2, 9, 1, { cols: 1000, size }),
    /blocks of 256 columns over rows of 1000 do not fit 49152 weights/,
  );
});

Deno.test("fitThroughOrigin() is the least-squares slope through 0 with uncentered R²", () => {
  assert.deepEqual(fitThroughOrigin([1, 2], [3, 6]), { slope: 3, r2: 1 });
  // y = [1, 3] on x = [1, 2]: slope (1 + 6)/5 = 1.4, residuals −0.4, 0.2 → R² = 1 − 0.2/10.
  const f = fitThroughOrigin([1, 2], [1, 3]);
  assert.ok(Math.abs(f.slope - 1.4) < 1e-15 && Math.abs(f.r2 - 0.98) < 1e-15);
});

Deno.test("KL sensitivities are linear in t², positive, and add up across projections", async () => {
  const model = newModel();
  const s = await estimateSensitivities(model, { metric: "kl", windows, levels: LEVELS });
  assert.equal(s.length, 14);
  for (const l of s) {
    assert.ok(l.alpha > 0, `${l.layer} ${l.kind}: α = ${l.alpha}`);
    // KL is second order in ΔW for any model (its gradient vanishes at ΔW = 0), so it is linear
    // in t² at small t whatever the weights: the property the linearity model rests on.
    assert.ok(l.r2 > 0.99, `${l.layer} ${l.kind}: R² = ${l.r2}`);
  }
  // Perturb every projection at once (independent noise): the KL is close to Σ α·t².
  const base = await Promise.all(windows.map((w) => model.forward(w)));
  const t2s: number[] = [];
  for (const l of s) {
    const lin = model.getLinear(l.layer, l.kind);
    const p = perturbWeights(lin.weightF32!(), 4 ** -5, 1000 + t2s.length);
    model.setLinear(l.layer, l.kind, new DenseLinear(p.weights, lin.outFeatures, lin.inFeatures));
    t2s.push(p.realizedT2);
  }
  const measured = await klFrom(model, base);
  const predicted = predictIncrease(s, t2s);
  assert.ok(
    Math.abs(measured / predicted - 1) < 0.25,
    `all projections at t² = 4^-5: KL ${measured}, predicted ${predicted}`,
  );
});

Deno.test("estimateSensitivities() restores the weights, reuses logged points, reports progress", async () => {
  const model = newModel();
  const before = await model.forward(windows[0]!);
  const projections = [{ layer: 1, kind: "v_proj" as const }, {
    layer: 0,
    kind: "up_proj" as const,
  }];
  const seen: SensitivityPoint[] = [];
  const a = await estimateSensitivities(model, {
    metric: "ppl",
    windows,
    levels: [4 ** -4, 4 ** -3],
    seed: 9,
    projections,
    onPoint: (p, i, total) => {
      assert.equal(total, 4);
      assert.equal(i, seen.length);
      seen.push(p);
    },
  });
  assert.deepEqual(await model.forward(windows[0]!), before, "weights restored");
  assert.equal(seen.length, 4);
  assert.ok(a.every((l) => Number.isFinite(l.alpha) && l.points.every((p) => p.delta !== 0)));
  assert.equal(a[0]!.points[1]!.seed, noiseSeed(9, projections[0]!, 1));
  // Resuming from the log measures nothing and gives the same answer.
  let calls = 0;
  const b = await estimateSensitivities(model, {
    metric: "ppl",
    windows,
    levels: [4 ** -4, 4 ** -3],
    seed: 9,
    projections,
    done: seen,
    onPoint: () => void calls++,
  });
  assert.equal(calls, 0);
  assert.deepEqual(b, a);
  assert.equal(predictIncrease(a as LayerSensitivity[], [0, 0]), 0);
});

Deno.test("estimateSensitivities() refuses bad options with errors naming the value", async () => {
  const model = newModel();
  const bad = async (opts: object, re: RegExp) =>
    await assert.rejects(
      () => estimateSensitivities(model, { metric: "kl", windows, ...opts }),
      (e: unknown) => e instanceof QuantlabError && re.test(e.message),
    );
  await bad({ metric: "mse" }, /Metric "mse" is not valid/);
  await bad({ windows: [[1]] }, /at least 2 tokens/);
  await bad({ levels: [0] }, /t² = 0 is not in \(0, 1\]/);
  await bad({ projections: [{ layer: 2, kind: "q_proj" }] }, /Layer 2 does not exist; .* 0…1/);
  await bad({ projections: [{ layer: 0, kind: "x_proj" }] }, /"x_proj" is not one of/);
  assert.throws(() => predictIncrease([], [1]), /1 error levels given for 0 projections/);
});
