import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { gpu, gpuTest } from "../gpu/helpers.ts";
import { lutMatmul } from "../../src/lut/cpu.ts";
import { copyKernel, denseMatmulGpu, uploadDense } from "../../src/lut/dense_gpu.ts";
import {
  encodeLutMatmul,
  type LutGpuCall,
  lutMatmulGpu,
  uploadQuantized,
} from "../../src/lut/gpu.ts";
import {
  randomQuantized,
  type RandomSpec,
  randomX,
  referenceProduct,
  relError,
} from "./helpers.ts";

// WebGPU on llvmpipe compiles each specialization in ~0.3 s: every case here uses one pipeline.
const TOL = 1e-6;

async function checkGpu(
  spec: RandomSpec,
  batch: number,
  label: string,
  fused = false,
): Promise<void> {
  const q = randomQuantized(spec);
  const t = await uploadQuantized(gpu!, q);
  try {
    const x = randomX(batch * spec.cols, spec.bits * 7 + batch);
    const ref = referenceProduct(q, x, batch);
    const y = await lutMatmulGpu(gpu!, t, x, batch, { rotation: fused ? "fused" : "separate" });
    const err = relError(y, ref);
    assert.ok(err <= TOL, `${label} batch ${batch}: relative error ${err}`);
    const cpu = await lutMatmul(q, x, batch, { path: "lut" });
    assert.ok(relError(y, cpu) <= TOL, `${label}: CPU and WebGPU differ by ${relError(y, cpu)}`);
  } finally {
    t.destroy();
  }
}

gpuTest(
  "lutMatmulGpu() equals dequantize-then-matmul and the CPU kernel for widths 1–8 and p 1, 2",
  async () => {
    let k = 0;
    for (let bits = 1; bits <= 8; bits++) {
      for (const p of [1, 2]) {
        k++;
        const axis = (k % 2) as 0 | 1;
        const group = [8, 16, "channel", 4][k % 4] as number | "channel";
        const spec: RandomSpec = {
          rows: axis === 0 ? 16 : 9 + (k % 5),
          cols: 29 + 4 * (k % 4),
          bits,
          p,
          axis,
          group,
          zeros: k % 3 !== 0,
          seed: k,
        };
        await checkGpu(spec, [1, 3, 64][k % 3]!, `bits ${bits} p ${p} axis ${axis} g ${group}`);
      }
    }
  },
);

gpuTest(
  "lutMatmulGpu() handles (2,4096) 12-bit codes, 16-bit codes and one output row",
  async () => {
    await checkGpu({ rows: 9, cols: 70, bits: 12, p: 2, group: 64 }, 1, "12-bit p2");
    await checkGpu({ rows: 5, cols: 33, bits: 16, group: "channel", zeros: true }, 3, "16-bit");
    await checkGpu({ rows: 1, cols: 45, bits: 4, group: 16 }, 1, "N = 1");
  },
);

gpuTest(
  "lutMatmulGpu() rotates the activations in a separate pass or fused in the kernel",
  async () => {
    const spec: RandomSpec = {
      rows: 11,
      cols: 50,
      bits: 8,
      p: 2,
      group: 64,
      hadamard: { size: 64, seed: 99 },
    };
    await checkGpu(spec, 3, "HIGGS (2,256) separate");
    await checkGpu(spec, 3, "HIGGS (2,256) fused", true);
    await checkGpu(
      { ...spec, hadamard: { size: 32, seed: null }, bits: 4, p: 1, group: 16 },
      1,
      "h32 plain",
    );
  },
);

gpuTest("uploadQuantized() splits tensors larger than one binding into row parts", async (gpu) => {
  for (const axis of [1, 0] as const) {
    const q = randomQuantized({ rows: 40, cols: 64, bits: 4, group: 8, axis, zeros: true });
    const bias = randomX(40, 5);
    const t = await uploadQuantized(gpu, q, { maxBindingBytes: 16 * 32, bias });
    assert.equal(t.parts, 3);
    const x = randomX(2 * 64);
    const y = await lutMatmulGpu(gpu, t, x, 2);
    const ref = referenceProduct(q, x, 2);
    for (let b = 0; b < 2; b++) for (let o = 0; o < 40; o++) ref[b * 40 + o]! += bias[o]!;
    assert.ok(relError(y, ref) <= TOL, `axis ${axis}: ${relError(y, ref)}`);
    t.destroy();
  }
});

gpuTest("encodeLutMatmul() honours input and output offsets and rejects bad calls", async (gpu) => {
  const q = randomQuantized({ rows: 6, cols: 20, bits: 3, group: 4 });
  const t = await uploadQuantized(gpu, q);
  const x = randomX(2 * 20);
  const xb = gpu.storage(new Float32Array([7, 7, 7, ...x]));
  const yb = gpu.storage(new Float32Array(5 + 12).fill(-1));
  const us: GPUBuffer[] = [];
  const ctx = {
    uniform: (d: Uint32Array | Float32Array | Int32Array) => (us.push(gpu.uniform(d)), us.at(-1)!),
  };
  await gpu.runMany(
    "lut",
    encodeLutMatmul(ctx, t, { x: xb, xOffset: 3, out: yb, outOffset: 5, batch: 2 }),
  );
  const y = new Float32Array(await gpu.read(yb));
  assert.deepEqual([...y.subarray(0, 5)], [-1, -1, -1, -1, -1]);
  assert.ok(relError(y.subarray(5), referenceProduct(q, x, 2)) <= TOL);
  assert.throws(
    () => encodeLutMatmul(ctx, t, { x: xb, xOffset: 3, out: yb, outOffset: 5, batch: 3 }),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-shape" && /batch 3/.test(e.message),
  );
  assert.throws(
    () => encodeLutMatmul(ctx, t, { x: xb, xOffset: 0, out: yb, outOffset: 0, batch: 0 }),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-argument" && /batch 0/.test(e.message),
  );
  await assert.rejects(
    () => lutMatmulGpu(gpu, t, new Float32Array(19), 1),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-shape" && /holds 19/.test(e.message),
  );
  const p3 = randomQuantized({ rows: 2, cols: 9, bits: 6, p: 3 });
  await assert.rejects(
    () => uploadQuantized(gpu, p3, { name: "o_proj" }),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "unsupported" && /p = 3/.test(e.message),
  );
  for (const b of [xb, yb, ...us]) b.destroy();
  t.destroy();
});

gpuTest(
  "the dense f32 and f16 baselines and the copy kernel compute what they should",
  async (gpu) => {
    const rows = 13, cols = 30, batch = 3;
    const w = randomX(rows * cols, 3);
    const x = randomX(batch * cols, 4);
    const ref = new Float64Array(batch * rows);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < rows; o++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += w[o * cols + c]! * x[b * cols + c]!;
        ref[b * rows + o] = s;
      }
    }
    const t32 = await uploadDense(gpu, w, rows, cols, "f32");
    assert.ok(relError(await denseMatmulGpu(gpu, t32, x, batch), ref) <= TOL);
    t32.destroy();
    if (gpu.hasF16) {
      const t16 = await uploadDense(gpu, w, rows, cols, "f16");
      // f16 weights: relative rounding 2^-11 per weight.
      assert.ok(relError(await denseMatmulGpu(gpu, t16, x, batch), ref) <= 2e-3);
      t16.destroy();
    } else {
      await assert.rejects(
        () => uploadDense(gpu, w, rows, cols, "f16"),
        (e: unknown) => e instanceof QuantlabError && e.code === "unsupported",
      );
    }
    const src = gpu.storage(new Uint32Array(64).map((_, i) => i * 3));
    const dst = gpu.storage(256);
    const us: GPUBuffer[] = [];
    await gpu.runMany("copy", [
      await copyKernel(gpu, src, dst, 256, (d) => (us.push(gpu.uniform(d)), us.at(-1)!)),
    ]);
    assert.deepEqual(
      new Uint32Array(await gpu.read(dst)),
      new Uint32Array(64).map((_, i) => i * 3),
    );
    for (const b of [src, dst, ...us]) b.destroy();
  },
);

gpuTest(
  "the batch-1 GEMV kernel covers 2/4/8-bit codes, p 1 and 2, odd K, N = 1, ragged row tiles and zeros",
  async (gpu) => {
    const cases: [string, RandomSpec][] = [
      ["4-bit N = 1, odd K, g16", { rows: 1, cols: 45, bits: 4, group: 16, zeros: true }],
      ["4-bit 13 rows, odd K, per channel", { rows: 13, cols: 123, bits: 4, group: "channel" }],
      ["4-bit 25 groups a row", { rows: 6, cols: 200, bits: 4, group: 8, zeros: true, seed: 3 }],
      ["4-bit K past 256 words", { rows: 10, cols: 2100, bits: 4, group: 64, seed: 4 }],
      ["8-bit p1 g4, odd K", { rows: 7, cols: 61, bits: 8, group: 4, zeros: true, seed: 5 }],
      ["8-bit p1 K past 256 words", { rows: 5, cols: 1100, bits: 8, group: 4, seed: 6 }],
      ["8-bit p2 g8", { rows: 10, cols: 70, bits: 8, p: 2, group: 8, zeros: true, seed: 7 }],
      ["2-bit p1 g16", { rows: 5, cols: 50, bits: 2, group: 16, seed: 8 }],
      ["2-bit p2 g32", { rows: 3, cols: 90, bits: 2, p: 2, group: 32, zeros: true, seed: 9 }],
      ["4-bit p2 per channel", { rows: 9, cols: 38, bits: 4, p: 2, group: "channel", seed: 10 }],
      ["HIGGS (2,256) h64", {
        rows: 11,
        cols: 50,
        bits: 8,
        p: 2,
        group: 64,
        hadamard: { size: 64, seed: 99 },
      }],
    ];
    for (const [label, spec] of cases) {
      const q = randomQuantized(spec);
      const t = await uploadQuantized(gpu, q);
      try {
        const x = randomX(spec.cols, spec.bits + 11);
        const xb = gpu.storage(x);
        assert.equal(
          t.kernelFor({ x: xb, xOffset: 0, batch: 1 }, { kernel: "gemv" }),
          "gemv",
          label,
        );
        // "auto" takes the GEMV kernel for p = 1 only (p = 2 measured faster on the general one).
        assert.equal(
          t.kernelFor({ x: xb, xOffset: 0, batch: 1 }),
          (spec.p ?? 1) === 1 ? "gemv" : "general",
          label,
        );
        xb.destroy();
        const ref = referenceProduct(q, x, 1);
        const y = await lutMatmulGpu(gpu, t, x, 1, { kernel: "gemv" });
        assert.ok(relError(y, ref) <= TOL, `${label}: relative error ${relError(y, ref)}`);
        const general = await lutMatmulGpu(gpu, t, x, 1, { kernel: "general" });
        assert.ok(relError(general, ref) <= TOL, `${label} (general): ${relError(general, ref)}`);
      } finally {
        t.destroy();
      }
    }
  },
);

gpuTest(
  "the GEMV kernel handles row parts, bias and offsets; other calls take the general kernel",
  async (gpu) => {
    const q = randomQuantized({ rows: 42, cols: 64, bits: 4, group: 8, zeros: true });
    const bias = randomX(42, 5);
    const t = await uploadQuantized(gpu, q, { maxBindingBytes: 16 * 32, bias });
    assert.equal(t.parts, 3);
    const x = randomX(64);
    const ref = referenceProduct(q, x, 1).map((v, o) => v + bias[o]!);
    assert.ok(relError(await lutMatmulGpu(gpu, t, x, 1), ref) <= TOL);
    const us: GPUBuffer[] = [];
    const ctx = {
      uniform: (
        d: Uint32Array | Float32Array | Int32Array,
      ) => (us.push(gpu.uniform(d)), us.at(-1)!),
    };
    for (const xOffset of [4, 3]) {
      const xb: GPUBuffer = gpu.storage(new Float32Array([...new Array(xOffset).fill(7), ...x]));
      const yb: GPUBuffer = gpu.storage(new Float32Array(5 + 42).fill(-1));
      const call: LutGpuCall = { x: xb, xOffset, out: yb, outOffset: 5, batch: 1 };
      assert.equal(t.kernelFor(call), xOffset === 4 ? "gemv" : "general");
      await gpu.runMany("lut", encodeLutMatmul(ctx, t, call));
      const y: Float32Array = new Float32Array(await gpu.read(yb));
      assert.deepEqual([...y.subarray(0, 5)], [-1, -1, -1, -1, -1]);
      assert.ok(relError(y.subarray(5), ref) <= TOL, `x offset ${xOffset}`);
      xb.destroy();
      yb.destroy();
      assert.equal(t.kernelFor({ x: xb, xOffset, batch: 2 }), "general");
      assert.equal(t.kernelFor({ ...call, batch: 1 }, { kernel: "general" }), "general");
    }
    for (const b of us) b.destroy();
    t.destroy();
    const xg: GPUBuffer = gpu.storage(64 * 4);
    const call = { x: xg, xOffset: 0, batch: 1 };
    const general: [string, RandomSpec, "fused" | undefined][] = [
      ["3-bit", { rows: 2, cols: 64, bits: 3, group: 32 }, undefined],
      ["4-bit g4 splits a word", { rows: 2, cols: 64, bits: 4, group: 4 }, undefined],
      [
        "groups along the output axis",
        { rows: 8, cols: 64, bits: 4, group: 8, axis: 0 },
        undefined,
      ],
      [
        "fused rotation",
        { rows: 2, cols: 64, bits: 4, group: 16, hadamard: { size: 64, seed: 1 } },
        "fused",
      ],
    ];
    for (const [label, spec, rotation] of general) {
      const g = await uploadQuantized(gpu, randomQuantized(spec));
      assert.equal(g.kernelFor(call, { rotation }), "general", label);
      g.destroy();
    }
    xg.destroy();
  },
);
