/**
 * LUT matmul on packed codes vs the dense baselines, with rooflines measured in the same run.
 *
 * CPU (4096×4096, batch 1 and 16, worker pool): GB/s of weight bytes read (codes + scales + zeros),
 * the ratio to copy bandwidth (`Float32Array.prototype.set`, bytes read per second), and the speedup
 * over dense f32 through OpenBLAS at the same shape.
 * WebGPU: kernel time (timestamp queries) of the 4-bit LUT GEMV vs our f16 and f32 dense GEMV and a
 * copy kernel over the same weight bytes — 4096² and 8192² on a real GPU, a small shape on a
 * software adapter, where the numbers are printed but mean nothing.
 *
 *     deno bench -A bench/lut_bench.ts
 *
 * @module
 */
import { fillNormal } from "../src/core/prng.ts";
import { matmul, matmulBackend } from "../src/cpu/matmul.ts";
import { lutMatmul, prepareLut } from "../src/lut/cpu.ts";
import { encodeLutMatmul, uploadQuantized } from "../src/lut/gpu.ts";
import { copyKernel, uploadDense } from "../src/lut/dense_gpu.ts";
import { getGpu, type Gpu } from "../src/gpu/device.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";
import { higgsQuantizer } from "../src/quant/higgs.ts";
import { rtnQuantizer } from "../src/quant/rtn.ts";

const N = 4096, K = 4096;
const w = fillNormal(new Float32Array(N * K), 1, 0, 0.02);

function weightBytes(q: QuantizedTensor): number {
  return q.codes.byteLength + q.scales.length * 2 + (q.zeros ? q.zeros.length * 2 : 0);
}

async function best(fn: () => unknown, reps = 7): Promise<number> {
  await fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t / 1000;
}

const formats: [string, QuantizedTensor][] = [
  ["int4 g64 (RTN, p=1)", await rtnQuantizer.quantize(w, N, K, { bits: 4, groupSize: 64 })],
  [
    "HIGGS (2,256) h1024 (8-bit codes, p=2)",
    await higgsQuantizer.quantize(w, N, K, { p: 2, bits: 4 }),
  ],
];

// Roofline: bytes read per second by a copy of the dense f32 weight.
const copyDst = new Float32Array(N * K);
const copyS = await best(() => copyDst.set(w), 20);
const copyGBs = (N * K * 4) / copyS / 1e9;
const lines = [
  `LUT matmul CPU ${N}×${K} (dense f32 via ${matmulBackend()}); copy roofline ${
    copyGBs.toFixed(2)
  } GB/s read`,
];
for (const batch of [1, 16]) {
  const x = fillNormal(new Float32Array(batch * K), 2);
  const denseS = await best(() => matmul(x, w, batch, K, N));
  lines.push(
    `  batch ${batch}: dense f32 ${(denseS * 1e3).toFixed(2)} ms (${
      ((N * K * 4) / denseS / 1e9).toFixed(2)
    } GB/s, ${((2 * N * K * batch) / denseS / 1e9).toFixed(1)} GFLOP/s)`,
  );
  for (const [label, q] of formats) {
    const t = prepareLut(q);
    const s = await best(() => lutMatmul(t, x, batch, { path: "lut" }));
    const gbs = weightBytes(q) / s / 1e9;
    lines.push(
      `  batch ${batch}: ${label.padEnd(40)} ${(s * 1e3).toFixed(2)} ms, ${
        gbs.toFixed(2)
      } GB/s of ` +
        `weights = ${(gbs / copyGBs).toFixed(3)}× copy, ${(denseS / s).toFixed(2)}× vs dense f32`,
    );
  }
}
console.log(lines.join("\n"));

async function gpuReport(gpu: Gpu): Promise<void> {
  const sizes = gpu.isFallback ? [256] : [4096, 8192];
  const out: string[] = [];
  for (const n of sizes) {
    const wg = fillNormal(new Float32Array(n * n), 3, 0, 0.02);
    const q = await rtnQuantizer.quantize(wg, n, n, { bits: 4, groupSize: 128 });
    const us: GPUBuffer[] = [];
    const uniform = (d: Uint32Array | Float32Array | Int32Array): GPUBuffer => {
      const b = gpu.uniform(d);
      us.push(b);
      return b;
    };
    const lut = await uploadQuantized(gpu, q);
    const x = gpu.storage(fillNormal(new Float32Array(n), 4));
    const y = gpu.storage(n * 4);
    const call = { x, xOffset: 0, out: y, outOffset: 0, batch: 1 };
    const tLut = await gpu.time("lut", encodeLutMatmul({ uniform }, lut, call));
    const times: Record<string, number> = {};
    for (const dtype of gpu.hasF16 ? ["f16", "f32"] as const : ["f32"] as const) {
      const d = await uploadDense(gpu, wg, n, n, dtype);
      times[dtype] = await gpu.time(`dense ${dtype}`, d.encode({ uniform }, call));
      d.destroy();
    }
    const bytes = Math.ceil(weightBytes(q) / 16) * 16;
    const src = gpu.storage(bytes), dst = gpu.storage(bytes);
    const tCopy = await gpu.time("copy", [await copyKernel(gpu, src, dst, bytes, uniform)]);
    const gbs = weightBytes(q) / (tLut / 1e3) / 1e9;
    const copyGB = bytes / (tCopy / 1e3) / 1e9;
    out.push(
      `LUT GEMV int4 g128 ${n}×${n} on ${gpu.description}${
        gpu.isFallback ? " (SOFTWARE ADAPTER: not meaningful)" : ""
      }: ` +
        `${tLut.toFixed(3)} ms, ${gbs.toFixed(1)} GB/s = ${
          (gbs / copyGB).toFixed(2)
        }× copy kernel; ` +
        Object.entries(times).map(([k, v]) => `${(v / tLut).toFixed(2)}× faster than dense ${k}`)
          .join(", "),
    );
    for (const b of [x, y, src, dst, ...us]) b.destroy();
    lut.destroy();
  }
  console.log(out.join("\n"));
}

const gpu = await getGpu();
if (gpu) await gpuReport(gpu);
else console.log("no WebGPU adapter: GPU part skipped");

const x1 = fillNormal(new Float32Array(K), 2);
const t4 = prepareLut(formats[0]![1]);
const th = prepareLut(formats[1]![1]);
Deno.bench("dense f32 GEMV 4096² (BLAS)", { baseline: true }, () => {
  matmul(x1, w, 1, K, N);
});
Deno.bench("LUT GEMV int4 g64 4096²", async () => {
  await lutMatmul(t4, x1, 1, { path: "lut" });
});
Deno.bench("LUT GEMV HIGGS (2,256) 4096²", async () => {
  await lutMatmul(th, x1, 1, { path: "lut" });
});
