/**
 * Llama-family forward: CPU prefill at ctx 512 and decode on a random Llama of d_model 256,
 * 4 layers, 4 heads, intermediate 768, vocab 4096, with the whole forward's GFLOP/s and its ratio
 * to BLAS sgemm measured in the same run on the model's own GEMM shapes (the roofline: the same
 * projections and LM head with nothing else). WebGPU numbers are printed too, flagged
 * meaningless on a software adapter (llvmpipe), where only a short prefill is run.
 *
 * Run: `deno bench -A bench/llama_bench.ts`
 *
 * @module
 */
import { matmulBackend, sgemm } from "../src/cpu/matmul.ts";
import { loadBlas, setBlasThreads } from "../src/cpu/blas.ts";
import { getGpu } from "../src/gpu/device.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../src/model/config.ts";
import { GpuLlama } from "../src/model/gpu_llama.ts";
import { llamaForwardFlops, LlamaModel } from "../src/model/llama.ts";
import { randomLlamaWeights } from "../src/model/random.ts";
import { LINEAR_KINDS, projectionShape } from "../src/model/types.ts";
import { opsWasmAvailable } from "../src/model/ops_wasm.ts";
import { medianMs } from "./timing.ts";

const CTX = 512;
const config = llamaConfig(TINY_LLAMA_SHAPE);
const model = LlamaModel.fromWeights(config, randomLlamaWeights(config, 1));
const ids = Array.from({ length: CTX }, (_, i) => (i * 7919 + 13) % config.vocabSize);

// The roofline: BLAS sgemm on exactly the forward's GEMMs (every projection at M = CTX, and the
// LM head), with random data of the same shapes.
const shapes = LINEAR_KINDS.map((k) => projectionShape(config, k));
const maxIn = Math.max(...shapes.map(([, i]) => i));
const xs = new Float32Array(CTX * maxIn).map((_, i) => Math.sin(i));
const ws = shapes.map(([o, i]) => new Float32Array(o * i).map((_, j) => Math.cos(j) * 0.05));
const lm = new Float32Array(config.vocabSize * config.hiddenSize).fill(0.01);
const ys = new Float32Array(CTX * config.vocabSize);
function gemmsOnly(): void {
  for (let l = 0; l < config.numLayers; l++) {
    shapes.forEach(([o, i], k) =>
      sgemm({
        transB: true,
        M: CTX,
        N: o,
        K: i,
        A: xs.subarray(0, CTX * i),
        B: ws[k]!,
        C: ys.subarray(0, CTX * o),
      })
    );
  }
  sgemm({
    transB: true,
    M: CTX,
    N: config.vocabSize,
    K: config.hiddenSize,
    A: xs.subarray(0, CTX * config.hiddenSize),
    B: lm,
    C: ys,
  });
}
const gemmFlops = 2 * CTX * config.numLayers * shapes.reduce((s, [o, i]) => s + o * i, 0) +
  2 * CTX * config.hiddenSize * config.vocabSize;
const fwdFlops = llamaForwardFlops(config, CTX);

// Decode: one token at position CTX, from a cache holding the prefill (truncated back each time).
const cache = model.newCache(CTX + 8);
await model.forward(ids, { cache });
async function decodeOne(): Promise<void> {
  cache.truncate(CTX);
  await model.forward([ids[0]!], { cache, lastOnly: true });
}

// Decode is memory-bound: compare the bytes it reads (weights, LM head, K/V) to copy bandwidth.
const copySrc = new Float32Array(1 << 22).fill(1), copyDst = new Float32Array(1 << 22);
const copyMs = await medianMs(() => copyDst.set(copySrc), 9);
const copyGBs = (2 * copySrc.byteLength) / copyMs / 1e6; // read + write
const decodeBytes = 4 * (ws.reduce((s, w) => s + w.length, 0) * config.numLayers + lm.length +
  2 * CTX * config.numKvHeads * config.headDim * config.numLayers);

/** The 1-minute load average (other processes share the cores), or "?" without --allow-sys. */
function load(): string {
  try {
    return Deno.loadavg()[0]!.toFixed(2);
  } catch {
    return "?";
  }
}
const loadBefore = load();

/** Forward and roofline timed interleaved (both see the same load): [roofline, forward] ms, sorted. */
async function interleaved(): Promise<[number[], number[]]> {
  const gemmTs: number[] = [], fwdTs: number[] = [];
  for (let i = 0; i < 2; i++) {
    gemmsOnly();
    await model.forward(ids);
  }
  for (let i = 0; i < 11; i++) {
    let t0 = performance.now();
    gemmsOnly();
    gemmTs.push(performance.now() - t0);
    t0 = performance.now();
    await model.forward(ids);
    fwdTs.push(performance.now() - t0);
  }
  return [gemmTs.sort((a, b) => a - b), fwdTs.sort((a, b) => a - b)];
}
const rate = (flops: number, ms: number): number => flops / ms / 1e6;

// The ratio with BLAS on one thread (the per-core ratio: everything outside BLAS runs on one
// thread) and with BLAS's default thread count, where the single-threaded rest weighs more.
const defaultThreads = loadBlas()?.getThreads() ?? null;
const lines: string[] = [];
for (const threads of defaultThreads && defaultThreads > 1 ? [1, defaultThreads] : [null]) {
  if (threads !== null) setBlasThreads(threads);
  const [gemmTs, fwdTs] = await interleaved();
  const best = rate(fwdFlops, fwdTs[0]!) / rate(gemmFlops, gemmTs[0]!);
  const med = rate(fwdFlops, fwdTs[5]!) / rate(gemmFlops, gemmTs[5]!);
  const tag = threads === null ? "" : ` (BLAS ${threads} thread${threads > 1 ? "s" : ""})`;
  lines.push(
    `  RATIO${tag} prefill / sgemm GFLOP/s: ${(100 * best).toFixed(1)} % best, ${
      (100 * med).toFixed(1)
    } % median (goal ≥ 60 %)\n` +
      `    roofline: sgemm on the forward's GEMM shapes ${
        rate(gemmFlops, gemmTs[0]!).toFixed(1)
      } GFLOP/s best, ${rate(gemmFlops, gemmTs[5]!).toFixed(1)} median (${
        gemmTs[0]!.toFixed(1)
      } ms)\n` +
      `    prefill: ${(fwdFlops / 1e9).toFixed(2)} GFLOP in ${fwdTs[0]!.toFixed(1)} ms best ` +
      `(${fwdTs[5]!.toFixed(1)} median) = ${rate(fwdFlops, fwdTs[0]!).toFixed(1)} GFLOP/s, ` +
      `${(CTX / fwdTs[0]! * 1000).toFixed(0)} tok/s`,
  );
}
if (defaultThreads !== null) setBlasThreads(defaultThreads);
const decodeMs = await medianMs(decodeOne, 21);
console.log(
  `llama cpu (${matmulBackend()}; softmax/SwiGLU ${
    opsWasmAvailable() ? "wasm simd" : "typescript"
  }): d 256, 4 layers, 4 heads, I 768, vocab 4096, ctx ${CTX}; load average ${loadBefore} → ` +
    `${load()}\n` + lines.join("\n") + "\n" +
    `  decode at position ${CTX} (BLAS default threads): ${decodeMs.toFixed(2)} ms/token, ` +
    `${(1000 / decodeMs).toFixed(0)} tok/s; reads ${(decodeBytes / 1e6).toFixed(1)} MB/token = ` +
    `${(decodeBytes / decodeMs / 1e6).toFixed(1)} GB/s vs copy ${copyGBs.toFixed(1)} GB/s ` +
    `(${(100 * decodeBytes / decodeMs / 1e6 / copyGBs).toFixed(0)} %)`,
);

const gpu = await getGpu();
let gpuModel: GpuLlama | null = null;
if (gpu) {
  gpuModel = await GpuLlama.create(model, gpu);
  // On a software adapter a 512-token prefill takes minutes: measure a short one, flagged.
  const n = gpu.isFallback ? 32 : CTX;
  const gIds = ids.slice(0, n);
  const gCache = gpuModel.newCache(n + 8);
  await gpuModel.forward(gIds, { cache: gCache });
  const reps = gpu.isFallback ? 2 : 9;
  const preMs = await medianMs(() => gpuModel!.forward(gIds, { lastOnly: true }), reps, 1);
  const decMs = await medianMs(
    async () => {
      gCache.truncate(n);
      await gpuModel!.forward([gIds[0]!], { cache: gCache, lastOnly: true });
    },
    reps * 2,
    1,
  );
  const flops = llamaForwardFlops(config, n, 0, true);
  console.log(
    `llama webgpu on ${gpu.description}${
      gpu.isFallback ? " — SOFTWARE ADAPTER: numbers meaningless" : ""
    }\n` +
      `  prefill ctx ${n}: ${preMs.toFixed(1)} ms, ${(flops / preMs / 1e6).toFixed(2)} GFLOP/s, ` +
      `${(n / preMs * 1000).toFixed(0)} tok/s\n` +
      `  decode at position ${n}: ${decMs.toFixed(2)} ms/token, ${(1000 / decMs).toFixed(1)} tok/s`,
  );
}

Deno.bench(
  "llama cpu prefill ctx 512 (all logits)",
  { group: "prefill", baseline: true },
  async () => {
    await model.forward(ids);
  },
);
Deno.bench("blas sgemm on the same GEMM shapes (roofline)", { group: "prefill" }, () => {
  gemmsOnly();
});
Deno.bench("llama cpu decode 1 token at position 512", { group: "decode" }, async () => {
  await decodeOne();
});
if (gpuModel && !gpu!.isFallback) {
  const g = gpuModel;
  Deno.bench("llama webgpu prefill ctx 512 (last logits)", { group: "prefill" }, async () => {
    await g.forward(ids, { lastOnly: true });
  });
}
