/**
 * HIGGS encoder throughput on the CPU: one 4096×4096 f32 matrix at (p, n) = (2, 256), h = 1024,
 * g = 1024, on the worker pool. Goal: under 1.5 s per matrix on 2 cores. Also (2, 256) with unbiased
 * scales (an extra pooled pass: rotate W again, decode, one dot product per group), (1, 16) and the
 * dequantizer, with a roofline measured in the same run: the copy bandwidth of
 * `Float32Array.prototype.set` (each quantize pass reads W once and writes ≈ 1/4 of it back).
 *
 *     deno bench -A bench/higgs_bench.ts
 *
 * @module
 */
import { fillNormal } from "../src/core/prng.ts";
import { poolSize, toShared } from "../src/cpu/pool.ts";
import { higgsQuantizer } from "../src/quant/higgs.ts";
import { dequantize, dequantizeParallel } from "../src/quant/dequantize.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";

const ROWS = 4096;
const COLS = 4096;
const N = ROWS * COLS;
const w = toShared(fillNormal(new Float32Array(N), 1));

// Roofline: copy bandwidth (GB/s) over the same 64 MiB.
const copy = new Float32Array(N);
let best = Infinity;
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  copy.set(w);
  best = Math.min(best, performance.now() - t);
}
const copyGBs = (2 * N * 4) / (best / 1000) / 1e9;

// One timed pass per configuration, printed once (Deno.bench reports the distribution).
const q22: QuantizedTensor = await higgsQuantizer.quantize(w, ROWS, COLS, { p: 2, bits: 4 });
const report: string[] = [];
for (
  const [label, opts] of [
    ["(2,256)", { p: 2, bits: 4 }],
    ["(2,256) unbiased scales", { p: 2, bits: 4, extra: { scaleRule: "unbiased" } }],
    ["(1,16)", { p: 1, bits: 4 }],
  ] as const
) {
  await higgsQuantizer.quantize(w, ROWS, COLS, opts); // warm-up (workers, grid plan)
  const t = performance.now();
  await higgsQuantizer.quantize(w, ROWS, COLS, opts);
  const s = (performance.now() - t) / 1000;
  const copyS = (N * 4 * 1.25) / (copyGBs * 1e9);
  report.push(
    `HIGGS ${label} h=1024 ${ROWS}x${COLS} on ${poolSize()} threads: ${s.toFixed(3)} s/matrix, ` +
      `${(N / s / 1e6).toFixed(1)} M weights/s (goal < 1.5 s for (2,256)); ` +
      `copy roofline ${copyGBs.toFixed(1)} GB/s → ${(copyS * 1000).toFixed(1)} ms, ratio ${
        (s / copyS).toFixed(0)
      }×`,
  );
}
console.log(report.join("\n"));

Deno.bench("higgs quantize 4096x4096 (2,256) h=1024, CPU pool", { n: 3, warmup: 1 }, async () => {
  await higgsQuantizer.quantize(w, ROWS, COLS, { p: 2, bits: 4 });
});

Deno.bench(
  "higgs quantize 4096x4096 (2,256) h=1024, unbiased scales",
  { n: 3, warmup: 1 },
  async () => {
    await higgsQuantizer.quantize(w, ROWS, COLS, {
      p: 2,
      bits: 4,
      extra: { scaleRule: "unbiased" },
    });
  },
);

Deno.bench("higgs quantize 4096x4096 (1,16) h=1024, CPU pool", { n: 3, warmup: 1 }, async () => {
  await higgsQuantizer.quantize(w, ROWS, COLS, { p: 1, bits: 4 });
});

Deno.bench("dequantize 4096x4096 (2,256), one thread", { n: 3, warmup: 1 }, () => {
  dequantize(q22);
});

Deno.bench("dequantize 4096x4096 (2,256), pooled rotation", { n: 3, warmup: 1 }, async () => {
  await dequantizeParallel(q22);
});

Deno.bench("copy roofline: Float32Array.set of 64 MiB", { n: 5 }, () => {
  copy.set(w);
});
