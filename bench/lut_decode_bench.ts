/**
 * Decode tokens/s on the CPU of a random-weight Llama-3.2-1B-shaped model (d 2048, 16 layers,
 * 32 heads / 8 KV heads, SwiGLU 8192, vocabulary 32000, tied embeddings), dense f32 against every
 * projection as a {@linkcode LutLinear} on random packed codes (decode speed does not depend on
 * the code values): NF4 g64, RTN 4-bit and 2-bit g64 (uniform table, zeros), HIGGS (2,256) and
 * (2,16) with Hadamard 256, each with the `exact` and the `fast` kernels (and `fast` with a pool
 * of one thread: on a loaded machine the pool's wake-ups dominate). One run, ratios to the
 * dense decode of the same run; the model is rebuilt in place (one set of dense weights).
 *
 *     ./quantlab deno run -A bench/lut_decode_bench.ts [--tokens 16] [--rounds 3] [--layers 16]
 *         [--methods "RTN 2-bit g64,RTN 2-bit g64 F32"] [--fast-only]
 *
 * Scales and zeros are f16 values (F16 storage) except in "RTN 2-bit g64 F32" (F32 storage,
 * values not f16), which keeps the bit-plane kernel's f32 layout: the two time the layouts.
 *
 * Decode: a short prefill (8 tokens), then `--tokens` single-token steps; the figure is the
 * median over `--rounds` rounds of the median step. Resident weight bytes: the kernels' shared
 * memory as prepared (codes, f32 scales and zeros, activation regions; RTN/HQQ 2-bit's zeros live
 * outside it, freed at decode: `bench/lut_resident.ts` counts them) over the checkpoint's packed
 * bytes (codes, f16 scales and zeros).
 *
 * Context only, not measured in this run (issue 21, same machine, 2 threads): llama.cpp F32
 * decode 12.7–15.3 tok/s, Q4_0 40–54 tok/s.
 *
 * @module
 */
import { poolSize, setPoolSize, shutdownPool } from "../src/cpu/pool.ts";
import { type LutNumerics, setLutNumerics } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import { LutLinear } from "../src/lut/linear.ts";
import type { Linear } from "../src/model/linear.ts";
import { LlamaModel } from "../src/model/llama.ts";
import { randomLlamaWeights } from "../src/model/random.ts";
import { LINEAR_KINDS, type LinearKind } from "../src/model/types.ts";
import { bitsPerWeight, type QuantizedTensor } from "../src/quant/format.ts";
import { llama1bConfig } from "./shapes.ts";
import { type LutBenchFormat, randomLutTensor } from "./lut_tensors.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : dflt;
}

const TOKENS = Number(arg("tokens", "16"));
const ROUNDS = Number(arg("rounds", "3"));
const config = llama1bConfig(Number(arg("layers", "16")));
const ONLY = arg("methods", "");
const FAST_ONLY = Deno.args.includes("--fast-only");

type Method = LutBenchFormat;

const METHODS: Method[] = [
  { name: "NF4 g64", bits: 4, p: 1, g: 64 },
  { name: "RTN 4-bit g64", bits: 4, p: 1, g: 64, zeros: true },
  { name: "RTN 2-bit g64", bits: 2, p: 1, g: 64, zeros: true },
  { name: "RTN 2-bit g64 F32", bits: 2, p: 1, g: 64, zeros: true, f32: true },
  { name: "HIGGS (2,256) h256", bits: 8, p: 2, g: 256, h: 256 },
  { name: "HIGGS (2,16) h256", bits: 4, p: 2, g: 256, h: 256 },
];

const packedBytes = (q: QuantizedTensor): number =>
  bitsPerWeight(q, { includeTable: false }) * q.shape[0] * q.shape[1] / 8;

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ms per decode step (median over rounds of the median step). */
async function decodeMs(model: LlamaModel): Promise<number> {
  const prompt = [1, 2, 3, 4, 5, 6, 7, 8];
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const cache = model.newCache(prompt.length + TOKENS + 1);
    await model.forward(prompt, { cache, lastOnly: true });
    const steps: number[] = [];
    for (let t = 0; t < TOKENS; t++) {
      const t0 = performance.now();
      await model.forward([(t * 7919 + 13) % config.vocabSize], { cache, lastOnly: true });
      steps.push(performance.now() - t0);
    }
    rounds.push(median(steps));
  }
  return median(rounds);
}

console.log(
  `decode, random Llama-3.2-1B shape (${config.numLayers} layers, vocab ${config.vocabSize}, ` +
    `tied), ${poolSize()} workers, fast kernels: ${lutInt8Isa() ?? "TypeScript"}; ` +
    `load average ${Deno.loadavg().map((v) => v.toFixed(1)).join(" ")}`,
);
const t0 = performance.now();
const model = LlamaModel.fromWeights(config, randomLlamaWeights(config, 1));
console.log(`  built the dense model in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const dense = new Map<string, Linear>();
for (let l = 0; l < config.numLayers; l++) {
  for (const k of LINEAR_KINDS) dense.set(`${l}.${k}`, model.getLinear(l, k));
}
const denseMs = await decodeMs(model);
const rows: string[] = [
  "| weights | kernel | ms/token | tok/s | × dense f32 | resident / packed bytes |",
  "|---|---|---|---|---|---|",
  `| dense f32 | – | ${denseMs.toFixed(1)} | ${(1000 / denseMs).toFixed(2)} | 1.00× | – |`,
];
// `--methods` in its order (a name twice alternates the layouts in one run).
const chosen = !ONLY ? METHODS : ONLY.split(",").map((n) => {
  const m = METHODS.find((k) => k.name === n);
  if (!m) throw new Error(`--methods: "${n}" is not one of ${METHODS.map((k) => k.name)}`);
  return m;
});
for (const m of chosen) {
  let resident = 0, packed = 0;
  // One random tensor per shape (every layer gets its own prepared copy of it).
  const byShape = new Map<string, QuantizedTensor>();
  for (let l = 0; l < config.numLayers; l++) {
    for (const k of LINEAR_KINDS as readonly LinearKind[]) {
      const d = dense.get(`${l}.${k}`)!;
      const key = `${d.outFeatures}x${d.inFeatures}`;
      if (!byShape.has(key)) {
        byShape.set(key, randomLutTensor(d.outFeatures, d.inFeatures, m, byShape.size));
      }
      const q = byShape.get(key)!;
      const lin = new LutLinear(q, undefined, `${l}.${k}`);
      packed += packedBytes(q);
      const buf = lin.q.codes.buffer;
      resident += buf.byteLength;
      model.setLinear(l, k, lin);
    }
  }
  const variants: [LutNumerics, number | undefined][] = [
    ...(FAST_ONLY ? [] : [["exact", undefined] as [LutNumerics, undefined]]),
    ["fast", undefined],
    ["fast", 1],
  ];
  for (const [kernel, threads] of variants) {
    setLutNumerics(kernel);
    setPoolSize(threads);
    const ms = await decodeMs(model);
    const label = threads === 1 ? `${kernel}, pool of 1` : kernel;
    rows.push(
      `| ${m.name} | ${label} | ${ms.toFixed(1)} | ${(1000 / ms).toFixed(2)} | ` +
        `${(denseMs / ms).toFixed(2)}× | ${(resident / packed).toFixed(3)} |`,
    );
    console.log(rows.at(-1));
  }
  setLutNumerics("exact");
  setPoolSize(undefined);
}
console.log(rows.join("\n"));
console.log(
  "context, not measured in this run (issue 21, this machine, 2 threads): llama.cpp F32 decode " +
    "12.7–15.3 tok/s, Q4_0 40–54 tok/s",
);
shutdownPool();
