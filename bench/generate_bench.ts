/**
 * Generation and perplexity throughput, dense vs 4-bit, on the CPU and (when there is one) on
 * WebGPU: the random Llama of `llama_bench.ts` (d_model 256, 4 layers, 4 heads, intermediate 768,
 * vocab 4096) with every projection dense f32, NF4 g64 (4.25 bits) or HIGGS (2,256) h 256
 * (≈ 4.06 bits) as LUT layers. Decode: one token at position 512 from a cache holding a 512-token
 * prefill. Perplexity: the NLL of one 512-token window (what `quantlab ppl` runs per window).
 * GPU figures on a software adapter (llvmpipe) are flagged meaningless.
 *
 *     deno run -A bench/generate_bench.ts
 *
 * @module
 */
import { getGpu } from "../src/gpu/device.ts";
import { LutLinear } from "../src/lut/linear.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../src/model/config.ts";
import { GpuLlama } from "../src/model/gpu_llama.ts";
import { LlamaModel } from "../src/model/llama.ts";
import { randomLlamaWeights } from "../src/model/random.ts";
import { type CausalLM, type KVCacheLike, LINEAR_KINDS } from "../src/model/types.ts";
import { getQuantizer } from "../src/quant/registry.ts";
import type { QuantOptions } from "../src/quant/quantizer.ts";
import { shutdownPool } from "../src/cpu/pool.ts";
import { medianMs } from "./timing.ts";

const CTX = 512;
const config = llamaConfig(TINY_LLAMA_SHAPE);
const weights = randomLlamaWeights(config, 1);
const ids = Array.from({ length: CTX }, (_, i) => (i * 7919 + 13) % config.vocabSize);

/** A copy of the model with every projection quantized by `method` and run as a LUT layer. */
async function quantizedModel(method: string, opts: QuantOptions): Promise<LlamaModel> {
  const m = LlamaModel.fromWeights(config, weights);
  const q = getQuantizer(method);
  for (let l = 0; l < config.numLayers; l++) {
    for (const kind of LINEAR_KINDS) {
      const lin = m.getLinear(l, kind);
      const w = lin.weightF32!();
      const t = await q.quantize(w, lin.outFeatures, lin.inFeatures, opts, undefined, kind);
      m.setLinear(l, kind, new LutLinear(t, undefined, `${l}.${kind}`));
    }
  }
  return m;
}

interface Row {
  name: string;
  decodeMs: number;
  pplTokS: number;
  /** Greedy decode chained on the device, 16 tokens per readback (models with `greedy`). */
  chainedMs?: number;
}

/** A KV cache that can be cut back to a length (both backends' caches can). */
type Cutable = KVCacheLike & { truncate(n: number): void };

async function measure(
  name: string,
  model: CausalLM & { newCache(n: number): Cutable },
  ctx = CTX,
  reps = 15,
): Promise<Row> {
  const cache = model.newCache(ctx + 8) as Cutable;
  const window = ids.slice(0, ctx);
  await model.forward(window, { cache });
  const decodeMs = await medianMs(async () => {
    cache.truncate(ctx);
    await model.forward([ids[0]!], { cache, lastOnly: true });
  }, reps);
  const nllMs = await medianMs(() => model.nll(window, 1), Math.ceil(reps / 3));
  let chainedMs: number | undefined;
  if (model.greedy) {
    const chain = 16;
    const big = model.newCache(ctx + chain + 8) as Cutable;
    await model.forward(window, { cache: big });
    chainedMs = (await medianMs(async () => {
      big.truncate(ctx);
      await model.greedy!(ids[0]!, big, chain);
    }, Math.ceil(reps / 3))) / chain;
  }
  return { name, decodeMs, pplTokS: ((ctx - 1) / nllMs) * 1000, chainedMs };
}

const models: [string, LlamaModel][] = [
  ["dense f32", LlamaModel.fromWeights(config, weights)],
  ["NF4 g64", await quantizedModel("nf4", { bits: 4, groupSize: 64 })],
  ["HIGGS (2,256) h256", await quantizedModel("higgs", { p: 2, gridSize: 256, hadamard: 256 })],
];
const rows: Row[] = [];
for (const [name, m] of models) rows.push(await measure(`cpu ${name}`, m));
const gpu = await getGpu();
if (gpu) {
  // A software adapter only shows that the path runs: 32 positions, 3 repetitions.
  const soft = gpu.isFallback;
  const tag = soft ? " (SOFTWARE ADAPTER, ctx 32: meaningless)" : "";
  for (const [name, m] of models) {
    const g = await GpuLlama.create(m, gpu);
    rows.push(await measure(`webgpu ${name}${tag}`, g, soft ? 32 : CTX, soft ? 3 : 15));
  }
}
console.log(
  `generation and perplexity, d 256 × 4 layers, vocab 4096, decode at position ${CTX}, ` +
    `NLL of one ${CTX}-token window${gpu ? `; GPU: ${gpu.description}` : "; no GPU"}`,
);
for (const r of rows) {
  console.log(
    `  ${r.name.padEnd(30)} decode ${r.decodeMs.toFixed(2).padStart(7)} ms/token ` +
      `(${(1000 / r.decodeMs).toFixed(0).padStart(5)} tok/s), perplexity ` +
      `${r.pplTokS.toFixed(0).padStart(6)} tok/s` +
      (r.chainedMs === undefined
        ? ""
        : `; greedy chained 16/readback ${r.chainedMs.toFixed(2)} ms/token`),
  );
}
shutdownPool();
