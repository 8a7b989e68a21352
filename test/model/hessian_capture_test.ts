import assert from "node:assert/strict";
import { captureLayerHessians, HESSIAN_GROUPS } from "../../src/model/hessian_capture.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { rmsNorm } from "../../src/model/ops.ts";
import type { Linear } from "../../src/model/linear.ts";
import { LINEAR_KINDS } from "../../src/model/types.ts";

/** 2·XᵀX in f64 from the rows of x [rows, n]. */
function explicit(xs: Float32Array[], n: number): Float64Array {
  const h = new Float64Array(n * n);
  for (const x of xs) {
    for (let r = 0; r < x.length / n; r++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          h[i * n + j] = h[i * n + j]! + 2 * x[r * n + i]! * x[r * n + j]!;
        }
      }
    }
  }
  return h;
}

function assertClose(a: Float32Array, b: Float64Array, what: string) {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  assert.ok(scale > 0 && err <= 1e-5 * scale, `${what}: max error ${err} of ${scale}`);
}

Deno.test("captureLayerHessians() equals an explicit XᵀX for every projection group", async () => {
  const c = llamaConfig({
    numLayers: 3,
    hiddenSize: 64,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 96,
  });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 5));
  const windows = [[1, 5, 9, 2, 7, 3], [4, 4, 8, 1], [11, 12, 13, 14, 15]];
  const layer = 1;
  const hidden = await Promise.all(
    windows.map(async (w) => (await model.captureHidden(w))[layer]!),
  );
  // Independent recording of the raw inputs of every projection, by a plain wrapper.
  const seen: Record<string, Float32Array[]> = {};
  const originals = LINEAR_KINDS.map((k) => model.getLinear(layer, k));
  const spies: Linear[] = [];
  LINEAR_KINDS.forEach((k, i) => {
    const inner = originals[i]!;
    const spy: Linear = {
      inFeatures: inner.inFeatures,
      outFeatures: inner.outFeatures,
      forward(x, batch, out) {
        (seen[k] ??= []).push(x.slice(0, batch * inner.inFeatures));
        return inner.forward(x, batch, out);
      },
    };
    spies.push(spy);
    model.setLinear(layer, k, spy);
  });
  const cap = await captureLayerHessians(model, layer, hidden);
  for (const [group, kinds] of Object.entries(HESSIAN_GROUPS)) {
    const acc = cap.hessians[group as keyof typeof HESSIAN_GROUPS];
    const n = model.getLinear(layer, kinds[0]!).inFeatures;
    assert.equal(acc.n, n);
    assert.equal(acc.rows, 15, group);
    // Projections of one group read the same input.
    for (const k of kinds) assert.deepEqual(seen[k], seen[kinds[0]!], `${group}: ${k}`);
    assertClose(acc.h, explicit(seen[kinds[0]!]!, n), group);
  }
  // The qkv input is the input-normed hidden state, computed here from captureHidden.
  const { inputNorm } = model.norms(layer);
  const normed = hidden.map((h) =>
    rmsNorm(h, inputNorm, h.length / c.hiddenSize, c.hiddenSize, c.rmsNormEps)
  );
  assertClose(cap.hessians.qkv.h, explicit(normed, c.hiddenSize), "qkv from the norm");
  // Outputs are the next layer's inputs; the model is restored (the spies are back).
  for (let i = 0; i < windows.length; i++) {
    const next = (await model.captureHidden(windows[i]!))[layer + 1]!;
    for (let j = 0; j < next.length; j++) {
      assert.ok(Math.abs(next[j]! - cap.outputs[i]![j]!) < 1e-5);
    }
  }
  LINEAR_KINDS.forEach((k, i) => assert.equal(model.getLinear(layer, k), spies[i], k));
  LINEAR_KINDS.forEach((k, i) => model.setLinear(layer, k, originals[i]!));
});

Deno.test("captureLayerHessians(): bad layer or no windows → one clear error", async () => {
  const c = llamaConfig({
    numLayers: 1,
    hiddenSize: 32,
    numHeads: 2,
    numKvHeads: 1,
    intermediateSize: 48,
  });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
  await assert.rejects(
    () => captureLayerHessians(model, 1, [model.embed([1])]),
    /Layer 1 does not exist; use 0 to 0/,
  );
  await assert.rejects(() => captureLayerHessians(model, 0, []), /at least one window/);
  await assert.rejects(
    () => model.forwardLayers(0, 0, model.embed([1])),
    /Layer range \[0, 0\) is not valid/,
  );
});
