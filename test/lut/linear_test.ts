import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { gpuTest } from "../gpu/helpers.ts";
import { LutLinear } from "../../src/lut/linear.ts";
import { UniformPool } from "../../src/model/gpu_ops.ts";
import { randomQuantized, randomX, referenceProduct, relError } from "./helpers.ts";

const TOL = 1e-6;

Deno.test("LutLinear.forward() computes x·Ŵᵀ + b from the packed codes", async () => {
  const q = randomQuantized({
    rows: 12,
    cols: 40,
    bits: 4,
    p: 2,
    group: 16,
    hadamard: { size: 16, seed: 5 },
  });
  const bias = randomX(12, 2);
  const lin = new LutLinear(q, bias);
  assert.equal(lin.inFeatures, 40);
  assert.equal(lin.outFeatures, 12);
  const x = randomX(3 * 40);
  const ref = referenceProduct(q, x, 3);
  for (let b = 0; b < 3; b++) for (let o = 0; o < 12; o++) ref[b * 12 + o]! += bias[o]!;
  const out = new Float32Array(36);
  const y = await lin.forward(x, 3, out);
  assert.equal(y, out);
  assert.ok(relError(y, ref) <= TOL);
});

Deno.test("LutLinear.weightF32() is the dequantized weight (inverse rotation, no padding)", () => {
  const q = randomQuantized({
    rows: 5,
    cols: 21,
    bits: 3,
    group: 8,
    hadamard: { size: 8, seed: 3 },
  });
  const w = new LutLinear(q).weightF32();
  assert.equal(w.length, 5 * 21);
  // Ŵ·e_j must equal the LUT product with the unit vector e_j.
  for (const j of [0, 7, 20]) {
    const e = new Float32Array(21);
    e[j] = 1;
    const col = referenceProduct(q, e, 1);
    for (let r = 0; r < 5; r++) assert.ok(Math.abs(w[r * 21 + j]! - col[r]!) <= 1e-6);
  }
});

Deno.test("LutLinear rejects a bias of the wrong length and formats it cannot run", () => {
  const q = randomQuantized({ rows: 4, cols: 8, bits: 2 });
  assert.throws(
    () => new LutLinear(q, new Float32Array(3), "k_proj"),
    (e: unknown) =>
      e instanceof QuantlabError && /k_proj/.test(e.message) && /3 values/.test(e.message),
  );
  assert.throws(
    () => new LutLinear(randomQuantized({ rows: 2, cols: 8, bits: 6, p: 4 })),
    (e: unknown) => e instanceof QuantlabError && e.code === "unsupported",
  );
});

gpuTest("LutLinear.toGpu() encodes the same product for the runtime", async (gpu) => {
  const q = randomQuantized({ rows: 10, cols: 33, bits: 4, group: 16, zeros: true });
  const bias = randomX(10, 8);
  const lin = new LutLinear(q, bias);
  const g = await lin.toGpu(gpu);
  const x = randomX(2 * 33);
  const xb = gpu.storage(x);
  const yb = gpu.storage(20 * 4);
  const pool = new UniformPool(gpu);
  await gpu.runMany("lut", g.encode(pool, { x: xb, xOffset: 0, out: yb, outOffset: 0, batch: 2 }));
  const y = new Float32Array(await gpu.read(yb));
  const cpu = await lin.forward(x, 2);
  assert.ok(relError(y, cpu) <= TOL);
  g.destroy();
  xb.destroy();
  yb.destroy();
  pool.destroy();
});
