// Lookup-table matmul on packed codes against the dense baselines and the copy roofline, all in
// the same run. Prints a summary first (GB/s of weight bytes read, ratio to copy bandwidth,
// speedup over dense f32 — BLAS sgemv/sgemm on the CPU, our WGSL on the GPU — and over our f16
// WGSL kernel), then the Deno.bench table.
//   CPU: 4096×4096 (LUT_BENCH_N to change), batch 1, pooled: 4-bit p=1 g64 and HIGGS (2,256)
//        8-bit-code p=2 with h = 1024 (rotation included); a batch sweep for the BLAS threshold.
//   GPU: 4096×4096 on a real GPU (LUT_BENCH_GPU_N to change, e.g. 8192); on a software adapter
//        (llvmpipe) a small shape whose numbers are meaningless (printed only to show the kernels
//        run). Each LUT row names its kernel (gemv = shaders/lut_gemv.wgsl, general =
//        shaders/lut_matmul.wgsl); the 4-bit shape also runs forced through the general kernel.
// Run: deno bench -A bench/lut_bench.ts
import { randU32, randUniform } from "../src/core/prng.ts";
import { loadBlas } from "../src/cpu/blas.ts";
import { matmul } from "../src/cpu/matmul.ts";
import { poolSize } from "../src/cpu/pool.ts";
import { getGpu } from "../src/gpu/device.ts";
import { lutMatmul, prepareLut } from "../src/lut/cpu.ts";
import { copyKernel, uploadDense } from "../src/lut/dense_gpu.ts";
import { uploadQuantized } from "../src/lut/gpu.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";
import { packCodes } from "../src/quant/packing.ts";

const N = Number(Deno.env.get("LUT_BENCH_N") ?? 4096);

function randomTensor(
  rows: number,
  cols: number,
  bits: number,
  p: number,
  g: number,
  opts: { zeros?: boolean; h?: number } = {},
): QuantizedTensor {
  const cpr = cols / p;
  const codes = new Uint16Array(rows * cpr);
  for (let i = 0; i < codes.length; i++) codes[i] = randU32(1, i) >>> (32 - bits);
  const groups = (rows * cols) / g;
  const q: QuantizedTensor = {
    method: opts.h ? "higgs" : opts.zeros ? "hqq" : "nf4",
    shape: [rows, cols],
    paddedCols: cols,
    p,
    codeBits: bits,
    codes: packCodes(codes, rows, cpr, bits),
    table: Float32Array.from({ length: 2 ** bits * p }, (_, i) => randUniform(2, i) * 4 - 2),
    tableDtype: "F16",
    groupSize: g,
    groupAxis: 1,
    scales: Float32Array.from({ length: groups }, (_, i) => randUniform(3, i)),
    scaleStorage: { kind: "float", dtype: "F16" },
    rotation: opts.h ? { kind: "hadamard", size: opts.h, seed: null } : { kind: "none" },
    params: {},
  };
  if (opts.zeros) {
    q.zeros = Float32Array.from({ length: groups }, (_, i) => randUniform(4, i) * 15);
    q.zeroStorage = { kind: "float", dtype: "F16" };
  }
  return q;
}

/** Best milliseconds per call over `reps` calls and at least `minMs`, after a warm-up. */
async function best(fn: () => unknown, reps = 5, minMs = 300): Promise<number> {
  await fn();
  let b = Infinity;
  const t0 = performance.now();
  for (let r = 0; r < reps || performance.now() - t0 < minMs; r++) {
    const t = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

const f = (v: number, d = 2): string => v.toFixed(d);
const gbs = (bytes: number, ms: number): number => bytes / ms / 1e6;
const lines: string[] = [];

// ---- CPU ----
const q4 = randomTensor(N, N, 4, 1, 64);
const qh = randomTensor(N, N, 8, 2, 1024, { h: 1024 });
const t4 = prepareLut(q4);
const th = prepareLut(qh);
const weightBytes = (q: QuantizedTensor): number =>
  q.codes.byteLength + q.scales.byteLength + (q.zeros?.byteLength ?? 0);
const x = Float32Array.from({ length: 64 * N }, (_, i) => randUniform(5, i) * 2 - 1);
const x1 = x.subarray(0, N);
const W = Float32Array.from({ length: N * N }, (_, i) => randUniform(6, i) - 0.5);
const blas = loadBlas();
const denseMs = await best(() => matmul(x1, W, 1, N, N));
const denseBytes = W.byteLength;
const copySrc = new Float32Array(denseBytes / 4);
const copyDst = new Float32Array(denseBytes / 4);
copySrc.set(W);
const copyOf = (bytes: number) => (): void =>
  copyDst.subarray(0, bytes / 4).set(copySrc.subarray(0, bytes / 4));

lines.push(
  `CPU ${N}×${N}, batch 1, ${poolSize()} workers, dense f32 by ${
    blas ? "OpenBLAS" : "TypeScript"
  }; ` +
    `dense f16 has no CPU kernel (GPU only).`,
);
const copyDenseMs = await best(copyOf(denseBytes));
lines.push(
  `  dense f32 sgemv: ${f(denseMs)} ms, ${f(gbs(denseBytes, denseMs))} GB/s of weights; ` +
    `copy of the same ${denseBytes >> 20} MiB (Float32Array.set) ${
      f(gbs(denseBytes, copyDenseMs))
    } ` +
    `GB/s read → sgemv/copy ${f(copyDenseMs / denseMs, 3)}`,
);
const cpuRows: [string, typeof t4, QuantizedTensor, boolean][] = [
  ["4-bit p=1 g64, WebAssembly SIMD", t4, q4, true],
  ["4-bit p=1 g64, TypeScript loop", t4, q4, false],
  ["HIGGS (2,256) p=2 h1024, WebAssembly SIMD", th, qh, true],
  ["HIGGS (2,256) p=2 h1024, TypeScript loop", th, qh, false],
];
for (const [name, t, q, wasm] of cpuRows) {
  if (wasm && !t.wasm) {
    lines.push(`  LUT ${name}: skipped (no WebAssembly SIMD + shared memory here)`);
    continue;
  }
  const bytes = weightBytes(q);
  const ms = await best(() => lutMatmul(t, x1, 1, { path: "lut", wasm }));
  const single = await best(() => lutMatmul(t, x1, 1, { path: "lut", wasm, singleThread: true }));
  const copyMs = await best(copyOf(bytes));
  const rate = gbs(bytes, ms);
  lines.push(
    `  LUT ${name}: ${f(ms)} ms pooled (${f(single)} ms one thread), ${f(rate)} GB/s ` +
      `of ${f(bytes / 2 ** 20, 1)} MiB weights; copy of those bytes ${
        f(gbs(bytes, copyMs))
      } GB/s ` +
      `→ LUT/copy ${f(copyMs / ms, 3)}; speedup over dense f32 ${f(denseMs / ms, 3)}×`,
  );
}
// Batch sweep: the LUT kernels (WebAssembly per activation row up to batch 4) against the
// tile-decode + BLAS path, and dense sgemm.
for (const batch of [2, 4, 16, 64]) {
  const xb = x.subarray(0, batch * N);
  const lut = batch <= 4 ? await best(() => lutMatmul(t4, xb, batch, { path: "lut" }), 2, 0) : NaN;
  const tile = await best(() => lutMatmul(t4, xb, batch, { path: "blas" }), 2, 0);
  const dense = await best(() => matmul(xb, W, batch, N, N), 2, 0);
  lines.push(
    `  4-bit batch ${batch}: LUT loop ${Number.isNaN(lut) ? "–" : f(lut)} ms, tile decode + ` +
      `sgemm ${f(tile)} ms, dense f32 ${f(dense)} ms (speedup ${f(dense / tile, 3)}×)`,
  );
}

// ---- GPU ----
const gpu = await getGpu();
if (gpu) {
  const real = !gpu.isFallback;
  const G = real ? Number(Deno.env.get("LUT_BENCH_GPU_N") ?? 4096) : 512;
  lines.push(
    `GPU ${gpu.description}, ${G}×${G}, batch 1` +
      (real
        ? ""
        : " — software adapter: these timings are meaningless, shown only to prove the kernels run"),
  );
  const gq4 = await uploadQuantized(gpu, randomTensor(G, G, 4, 1, 64));
  const gqh = await uploadQuantized(
    gpu,
    randomTensor(G, G, 8, 2, Math.min(1024, G), { h: Math.min(1024, G) }),
  );
  const wd = G * G <= W.length
    ? W.subarray(0, G * G)
    : Float32Array.from({ length: G * G }, (_, i) => randUniform(6, i) - 0.5);
  const d32 = await uploadDense(gpu, wd, G, G, "f32");
  const d16 = gpu.hasF16 ? await uploadDense(gpu, wd, G, G, "f16") : null;
  const xb = gpu.storage(
    G <= x.length
      ? x.subarray(0, G)
      : Float32Array.from({ length: G }, (_, i) => randUniform(5, i) * 2 - 1),
  );
  const yb = gpu.storage(G * 4);
  const us: GPUBuffer[] = [];
  const ctx = {
    uniform: (d: Uint32Array | Float32Array | Int32Array) => (us.push(gpu.uniform(d)), us.at(-1)!),
  };
  const call = { x: xb, xOffset: 0, out: yb, outOffset: 0, batch: 1 };
  const reps = real ? 20 : 3;
  const copyBytes = G * G * 4;
  const src = gpu.storage(copyBytes);
  const dst = gpu.storage(copyBytes);
  const copyMs = await gpu.time(
    "copy",
    [await copyKernel(gpu, src, dst, copyBytes, ctx.uniform)],
    reps,
  );
  const copyGBs = gbs(copyBytes, copyMs); // bytes read (as many written)
  const t32 = await gpu.time("dense_f32", d32.encode(ctx, call), reps);
  const t16 = d16 ? await gpu.time("dense_f16", d16.encode(ctx, call), reps) : NaN;
  lines.push(
    `  copy ${f(copyGBs, 1)} GB/s read (+ as much written); dense f32 ${f(t32, 3)} ms ` +
      `(${f(gbs(d32.weightBytes, t32), 1)} GB/s); dense f16 ` +
      (d16
        ? `${f(t16, 3)} ms (${f(gbs(d16.weightBytes, t16), 1)} GB/s)`
        : "skipped: no shader-f16"),
  );
  for (
    const [name, t, rot, kernel] of [
      ["LUT 4-bit p=1 g64", gq4, "auto", "auto"],
      ["LUT 4-bit p=1 g64", gq4, "auto", "general"],
      ["LUT HIGGS (2,256) separate rotation", gqh, "separate", "auto"],
      ["LUT HIGGS (2,256) separate rotation", gqh, "separate", "gemv"],
      ["LUT HIGGS (2,256) fused rotation", gqh, "fused", "auto"],
    ] as const
  ) {
    const opts = { rotation: rot, kernel } as const;
    const ms = await gpu.time(name, t.encode(ctx, call, opts), reps);
    const bw = gbs(t.weightBytes, ms);
    lines.push(
      `  ${name} [${t.kernelFor(call, opts)} kernel]: ${f(ms, 3)} ms, ${
        f(bw, 1)
      } GB/s of weights = ${f((100 * bw) / copyGBs, 1)} % of ` +
        `copy; speedup over dense f32 ${f(t32 / ms, 2)}×` +
        (d16
          ? `, over dense f16 ${f(t16 / ms, 2)}× (goal for 4-bit: ≥ 3× and ≥ 60 % of copy)`
          : ""),
    );
  }
  for (const b of [xb, yb, src, dst, ...us]) b.destroy();
  gq4.destroy();
  gqh.destroy();
  d32.destroy();
  d16?.destroy();
} else {
  lines.push("GPU: no WebGPU adapter; GPU rows skipped");
}
console.log(lines.join("\n"));

Deno.bench("CPU LUT 4-bit p=1 g64, batch 1, WebAssembly SIMD", {
  group: "cpu-gemv",
  baseline: true,
}, async () => {
  await lutMatmul(t4, x1, 1, { path: "lut" });
});
Deno.bench("CPU LUT 4-bit p=1 g64, batch 1, TypeScript", { group: "cpu-gemv" }, async () => {
  await lutMatmul(t4, x1, 1, { path: "lut", wasm: false });
});
Deno.bench(
  "CPU LUT HIGGS (2,256) h1024, batch 1, WebAssembly SIMD",
  { group: "cpu-gemv" },
  async () => {
    await lutMatmul(th, x1, 1, { path: "lut" });
  },
);
Deno.bench("CPU dense f32 sgemv (BLAS)", { group: "cpu-gemv" }, () => {
  matmul(x1, W, 1, N, N);
});
Deno.bench("CPU copy of the 4-bit weight bytes (Float32Array.set)", { group: "cpu-gemv" }, () => {
  copyOf(weightBytes(q4))();
});
