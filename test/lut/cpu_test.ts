import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { matmulBackend } from "../../src/cpu/matmul.ts";
import { lutMatmul, prepareLut } from "../../src/lut/cpu.ts";
import { lutMatmulReference } from "../../src/lut/reference.ts";
import {
  randomQuantized,
  type RandomSpec,
  randomX,
  referenceProduct,
  relError,
} from "./helpers.ts";

const TOL = 1e-6;

async function checkSpec(spec: RandomSpec, batches: number[], label: string): Promise<void> {
  const q = randomQuantized(spec);
  const t = prepareLut(q);
  for (const batch of batches) {
    const x = randomX(batch * spec.cols, batch + spec.bits);
    const ref = referenceProduct(q, x, batch);
    const paths = batch === 1 ? ["lut"] as const : ["lut", "blas"] as const;
    for (const path of paths) {
      const y = await lutMatmul(t, x, batch, { path });
      const err = relError(y, ref);
      assert.ok(err <= TOL, `${label} batch ${batch} path ${path}: relative error ${err}`);
    }
  }
}

Deno.test("lutMatmul() equals dequantize-then-matmul for every width 1–8, p 1 and 2, both axes, with and without zeros", async () => {
  const groupsFor = [8, 32, "channel", 16] as const;
  let k = 0;
  for (let bits = 1; bits <= 8; bits++) {
    for (const p of [1, 2]) {
      for (const axis of [1, 0] as const) {
        for (const zeros of [false, true]) {
          const group = groupsFor[k++ % groupsFor.length]!;
          const spec: RandomSpec = {
            rows: axis === 0 ? 32 : 13,
            cols: 37 + (k % 3) * 8,
            bits,
            p,
            group: axis === 0 && group === 32 ? 16 : group,
            axis,
            zeros,
            seed: k,
          };
          await checkSpec(
            spec,
            [1, 3],
            `bits ${bits} p ${p} axis ${axis} zeros ${zeros} g ${group}`,
          );
        }
      }
    }
  }
});

Deno.test("lutMatmul() handles batch 64, a single output row and wide codes (9–16 bits, (2,4096))", async () => {
  await checkSpec({ rows: 1, cols: 45, bits: 4, group: 16 }, [1, 3, 64], "N = 1");
  await checkSpec({ rows: 9, cols: 70, bits: 12, p: 2, group: 64 }, [1, 64], "(2,4096) 12-bit");
  await checkSpec(
    { rows: 5, cols: 33, bits: 16, p: 2, group: "channel", zeros: true },
    [1, 3],
    "16-bit p2",
  );
  for (const bits of [9, 10, 11, 13, 14, 15, 16]) {
    await checkSpec(
      { rows: 6, cols: 40, bits, group: 8, zeros: bits % 2 === 0 },
      [1, 3],
      `bits ${bits}`,
    );
  }
  await checkSpec(
    { rows: 24, cols: 100, bits: 3, group: 8, axis: 0, zeros: true },
    [64],
    "axis 0 batch 64",
  );
});

Deno.test("lutMatmul() applies the Hadamard rotation to the activations (plain and random signs)", async () => {
  await checkSpec(
    { rows: 11, cols: 50, bits: 8, p: 2, group: 64, hadamard: { size: 64, seed: null } },
    [1, 3],
    "HIGGS (2,256) h64 plain",
  );
  await checkSpec(
    { rows: 7, cols: 90, bits: 4, group: 16, hadamard: { size: 32, seed: 1234 } },
    [1, 3],
    "4-bit h32 signs",
  );
  await checkSpec(
    { rows: 5, cols: 20, bits: 3, p: 2, group: 8, zeros: true, hadamard: { size: 16, seed: 7 } },
    [1, 64],
    "zeros + rotation",
  );
});

Deno.test("lutMatmul() on the worker pool equals the single-threaded result", async () => {
  for (
    const spec of [
      { rows: 1100, cols: 512, bits: 4, group: 64 },
      { rows: 1030, cols: 512, bits: 8, p: 2, group: 128, axis: 1 as const, zeros: true },
      { rows: 1024, cols: 300, bits: 3, group: 16, axis: 0 as const, zeros: true },
    ] satisfies RandomSpec[]
  ) {
    const q = randomQuantized(spec);
    const x = randomX(spec.cols);
    const pooled = await lutMatmul(q, x, 1, { path: "lut" });
    const single = await lutMatmul(q, x, 1, { path: "lut", singleThread: true });
    assert.deepEqual(pooled, single);
    assert.ok(relError(pooled, lutMatmulReference(q, x, 1)) <= TOL);
  }
  // The BLAS path over several tiles (pooled decode).
  const q = randomQuantized({ rows: 700, cols: 6000, bits: 4, group: 64, zeros: true });
  const x = randomX(3 * 6000);
  const y = await lutMatmul(q, x, 3, { path: "blas" });
  assert.ok(relError(y, lutMatmulReference(q, x, 3)) <= TOL, `blas tiles (${matmulBackend()})`);
});

Deno.test("lutMatmul() writes into a given output and accepts a plain QuantizedTensor", async () => {
  const q = randomQuantized({ rows: 4, cols: 8, bits: 2 });
  const out = new Float32Array(8).fill(NaN);
  const y = await lutMatmul(q, randomX(16), 2, { out });
  assert.equal(y, out);
  assert.ok(out.every(Number.isFinite));
});

Deno.test("lutMatmul() rejects bad shapes, batch 0 and uncovered formats, naming the values", async () => {
  const q = randomQuantized({ rows: 4, cols: 8, bits: 2 });
  await assert.rejects(
    () => lutMatmul(q, new Float32Array(7), 1),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-shape" && /holds 7 values/.test(e.message) &&
      /8 input features/.test(e.message),
  );
  await assert.rejects(
    () => lutMatmul(q, new Float32Array(0), 0),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-argument" && /batch 0/.test(e.message),
  );
  await assert.rejects(
    () => lutMatmul(q, new Float32Array(8), 1, { out: new Float32Array(3) }),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-shape" && /output holds 3/.test(e.message),
  );
  const p4 = randomQuantized({ rows: 2, cols: 8, bits: 8, p: 4 });
  assert.throws(
    () => prepareLut(p4, "mlp.up"),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "unsupported" && /p = 4/.test(e.message) &&
      /mlp\.up/.test(e.message),
  );
  const broken = { ...q, scales: new Float32Array(3) };
  assert.throws(
    () => prepareLut(broken),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-file" && /scales hold 3/.test(e.message),
  );
});

Deno.test("the WebAssembly SIMD kernels (4-bit p 1, 8-bit p 2) equal the reference and the TypeScript loop", async () => {
  for (
    const spec of [
      { rows: 37, cols: 200, bits: 4, group: 64 },
      { rows: 20, cols: 256, bits: 4, group: 128, zeros: true },
      { rows: 9, cols: 128, bits: 4, group: "channel" as const, zeros: true },
      { rows: 1500, cols: 512, bits: 4, group: 64, zeros: true, hadamard: { size: 128, seed: 4 } },
      { rows: 21, cols: 300, bits: 8, p: 2, group: 64, hadamard: { size: 64, seed: null } },
      { rows: 13, cols: 256, bits: 8, p: 2, group: 128, zeros: true },
      { rows: 1100, cols: 512, bits: 8, p: 2, group: 512, hadamard: { size: 512, seed: 8 } },
    ] satisfies RandomSpec[]
  ) {
    const q = randomQuantized(spec);
    const t = prepareLut(q);
    const x = randomX(spec.cols, 21);
    const ref = referenceProduct(q, x, 1);
    const ts = await lutMatmul(t, x, 1, { wasm: false });
    assert.ok(relError(ts, ref) <= TOL);
    if (!t.wasm) {
      console.log("WebAssembly SIMD unavailable: only the TypeScript loop was checked");
      continue;
    }
    const [a, b] = await Promise.all([lutMatmul(t, x, 1), lutMatmul(t, randomX(spec.cols, 22), 1)]);
    assert.ok(relError(a, ref) <= TOL, `wasm ${JSON.stringify(spec)}: ${relError(a, ref)}`);
    const x3 = randomX(3 * spec.cols, 23);
    const y3 = await lutMatmul(t, x3, 3);
    assert.ok(relError(y3, referenceProduct(q, x3, 3)) <= TOL, "wasm batch 3");
    // Concurrent calls on one tensor are serialized (x and out live in the tensor's memory).
    assert.ok(relError(b, referenceProduct(q, randomX(spec.cols, 22), 1)) <= TOL);
  }
});
