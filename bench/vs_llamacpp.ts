/**
 * quantlab against llama.cpp on the CPU, in one run with the same threads (issue 21): a
 * random-weight Llama checkpoint of a given shape is written as a Hugging Face folder, converted to
 * GGUF F32 by quantlab's writer (`peers/llamacpp/convert.ts`) and quantized to Q4_0 / Q2_K by
 * llama.cpp's own `llama_model_quantize`; then the same weights run in
 *
 * - llama.cpp (prebuilt v0.4.0, `peers/llamacpp/speed.ts` in a child process per model),
 * - quantlab dense f32 and with every projection quantized (NF4 g64, RTN 4-bit g64, HIGGS (2,256)
 *   and 2-bit RTN / HIGGS (2,16)) as LUT layers on the `fast` kernels (`--kernel fast`).
 *
 *     ./quantlab deno run -A bench/vs_llamacpp.ts [--shape tiny|1b] [--threads 2] [--ctx 256]
 *         [--decode 64] [--rounds 3] [--layers N] [--methods nf4,rtn4,...] [--peers F32,Q4_0,Q2_K]
 *         [--clock wall|cpu] [--head dense|quantized]
 *
 * Prefill: one `--ctx`-token window from an empty cache with logits at every position (quantlab:
 * `nll`, the perplexity path); decode: 8 prompt tokens, then `--decode` single-token steps. Each
 * figure is from `--rounds` timed repetitions after one warm-up: the median wall time, or with
 * `--clock cpu` (1 thread only) the process's CPU time over all of them, which a loaded machine
 * inflates far less. The table gives
 * tokens/s and the ratio to the llama.cpp model of the same class (dense → F32, 4-bit → Q4_0,
 * 2-bit → Q2_K) and to quantlab's own dense. The mean NLL of the window is printed for each
 * model: dense quantlab and llama.cpp F32 must agree (the GGUF is the same model).
 *
 * The LM head (the tied embedding) stays f32 in quantlab's quantized models unless `--head
 * quantized` gives it the projections' method too. llama.cpp's `llama_model_quantize` quantizes
 * it in every file (Q6_K in Q4_0 files: 55 MB of the 191 MB Q4_0 file of the 4-layer 1B shape), so
 * at the 1B shape, where the f32 head is a third to two thirds of the bytes a decode step reads,
 * the dense head alone caps quantlab's ratio.
 *
 * Needs `peers/llamacpp/install.sh` (npm) first. The 1B shape writes ~10 GB of temporary files
 * and holds ~12 GB of memory at its peak.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { hfFolderToGguf } from "../peers/llamacpp/convert.ts";
import { llamaCppLibDir } from "../peers/llamacpp/ffi.ts";
import { rate, type SpeedRequest, type SpeedResult } from "../peers/llamacpp/speed.ts";
import { setBlasThreads } from "../src/cpu/blas.ts";
import { describeMatmulBackend } from "../src/cpu/matmul.ts";
import { setPoolSize, shutdownPool } from "../src/cpu/pool.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../src/data/tiny_tokenizer.ts";
import { setLutNumerics } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import { int8Format } from "../src/lut/int8_format.ts";
import { LutLinear } from "../src/lut/linear.ts";
import { writeHfFolder } from "../src/model/loader.ts";
import { LlamaModel } from "../src/model/llama.ts";
import type { Linear } from "../src/model/linear.ts";
import { llamaTensors, randomLlamaWeights } from "../src/model/random.ts";
import { LINEAR_KINDS } from "../src/model/types.ts";
import type { QuantOptions } from "../src/quant/quantizer.ts";
import { getQuantizer } from "../src/quant/registry.ts";
import { llama1bConfig, tinyConfig } from "./shapes.ts";

const ROOT = new URL("../", import.meta.url);

/** A quantlab method of the comparison and the llama.cpp type it is compared with. */
interface Method {
  key: string;
  label: string;
  method: string;
  options: QuantOptions;
  peer: "Q4_0" | "Q2_K";
}

const METHODS: Method[] = [
  { key: "nf4", label: "NF4 g64", method: "nf4", options: { groupSize: 64 }, peer: "Q4_0" },
  {
    key: "rtn4",
    label: "RTN 4-bit g64",
    method: "rtn",
    options: { bits: 4, groupSize: 64 },
    peer: "Q4_0",
  },
  {
    key: "higgs2x256",
    label: "HIGGS (2,256)",
    method: "higgs",
    options: { p: 2, bits: 4 },
    peer: "Q4_0",
  },
  {
    key: "rtn2",
    label: "RTN 2-bit g64",
    method: "rtn",
    options: { bits: 2, groupSize: 64 },
    peer: "Q2_K",
  },
  {
    key: "higgs2x16",
    label: "HIGGS (2,16)",
    method: "higgs",
    options: { p: 2, bits: 2 },
    peer: "Q2_K",
  },
];

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    shape: { type: "string", default: "tiny" },
    threads: { type: "string", default: "2" },
    ctx: { type: "string", default: "256" },
    decode: { type: "string", default: "64" },
    rounds: { type: "string", default: "3" },
    layers: { type: "string" },
    methods: { type: "string", default: METHODS.map((m) => m.key).join(",") },
    peers: { type: "string", default: "F32,Q4_0,Q2_K" },
    clock: { type: "string", default: "wall" },
    head: { type: "string", default: "dense" },
  },
});

function fail(msg: string): never {
  console.error(msg);
  Deno.exit(2);
}

function posInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} ${v} is not valid; use an integer ≥ 1`);
  return n;
}

const threads = posInt("threads", args.threads);
const ctx = posInt("ctx", args.ctx);
const decode = posInt("decode", args.decode);
const rounds = posInt("rounds", args.rounds);
if (args.clock !== "wall" && args.clock !== "cpu") {
  fail(`--clock ${args.clock} is not valid; use wall or cpu`);
}
if (args.clock === "cpu" && threads !== 1) {
  fail(`--clock cpu needs --threads 1 (llama.cpp's spinning threads would count), not ${threads}`);
}
const clock = args.clock;
if (args.head !== "dense" && args.head !== "quantized") {
  fail(`--head ${args.head} is not valid; use dense or quantized`);
}
if (args.shape !== "tiny" && args.shape !== "1b") {
  fail(`--shape ${args.shape} is not valid; use tiny or 1b`);
}
const config = args.shape === "1b"
  ? llama1bConfig(args.layers ? posInt("layers", args.layers) : 16)
  : tinyConfig();
if (args.layers && args.shape === "tiny") config.numLayers = posInt("layers", args.layers);
const methods = args.methods.split(",").filter((k) => k !== "").map((k) =>
  METHODS.find((m) => m.key === k) ??
    fail(`--methods: "${k}" is not valid; use ${METHODS.map((m) => m.key).join(", ")}`)
);
const peers = args.peers.split(",").filter((k) => k !== "").map((k) =>
  ["F32", "Q4_0", "Q2_K"].includes(k)
    ? k
    : fail(`--peers: "${k}" is not valid; use F32, Q4_0, Q2_K`)
);

const libDir = llamaCppLibDir(ROOT);
if (!(await Deno.stat(`${libDir}/libllama.v0.4.0.so`).then(() => true, () => false))) {
  console.error(`llama.cpp is not installed in ${libDir}; run peers/llamacpp/install.sh`);
  Deno.exit(1);
}

// Token ids the byte-level tokenizer names (458), spread out; the first 8 are the decode prompt.
const ids = Array.from(
  { length: Math.max(ctx, 8 + decode) },
  (_, i) => (i * 7919 + 13) % Math.min(456, config.vocabSize),
);
const window = ids.slice(0, ctx);

async function child(argv: string[]): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-config", "peers/llamacpp/speed.ts", ...argv],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`llama.cpp failed (exit ${r.code}):\n${new TextDecoder().decode(r.stderr)}`);
  }
  return new TextDecoder().decode(r.stdout);
}

/** quantlab's figures for `model` (see the module doc). */
async function measure(model: LlamaModel): Promise<SpeedResult> {
  let nll = 0;
  const prefillTokS = await rate(clock, rounds, ctx, () => {}, async () => {
    const v = await model.nll(window, 1);
    nll = v.reduce((a, b) => a + b, 0) / v.length;
  });
  let cache = model.newCache(8 + decode);
  const decodeTokS = await rate(clock, rounds, decode, async () => {
    cache = model.newCache(8 + decode);
    await model.forward(ids.slice(0, 8), { cache, lastOnly: true });
  }, async () => {
    for (let t = 0; t < decode; t++) {
      await model.forward([ids[(8 + t) % ids.length]!], { cache, lastOnly: true });
    }
  });
  return { prefillTokS, decodeTokS, nll };
}

const load = () => Deno.loadavg().map((v) => v.toFixed(1)).join(" ");
console.log(
  `quantlab vs llama.cpp, random Llama (${args.shape}: d ${config.hiddenSize}, ` +
    `${config.numLayers} layers, vocab ${config.vocabSize}), ${threads} threads, ctx ${ctx}, ` +
    `${decode} decode steps, ${rounds} rounds, ${
      clock === "cpu" ? "CPU time" : "median wall time"
    }; ` +
    `${describeMatmulBackend()}; fast LUT kernels: ` +
    `${lutInt8Isa() ?? "TypeScript"}; lm head ${args.head}; load average ${load()}`,
);

const weights = randomLlamaWeights(config, 1);
const dir = await Deno.makeTempDir({ prefix: "quantlab-vs-llamacpp-" });
const peerResults = new Map<string, SpeedResult>();
try {
  await writeHfFolder(`${dir}/hf`, config, llamaTensors(config, weights), {
    tokenizer: byteLevelTokenizerJson(),
    tokenizerConfig: tinyTokenizerConfig(),
  });
  await hfFolderToGguf(`${dir}/hf`, `${dir}/F32.gguf`);
  await Deno.remove(`${dir}/hf`, { recursive: true });
  for (const p of peers) {
    if (p !== "F32") {
      await child(["QUANTIZE", `${dir}/F32.gguf`, `${dir}/${p}.gguf`, p, `${threads}`]);
    }
  }
  const req: SpeedRequest = { ctx, decode, threads, rounds, ids, clock };
  for (const p of peers) {
    const r = JSON.parse(await child([`${dir}/${p}.gguf`, JSON.stringify(req)])) as SpeedResult;
    peerResults.set(p, r);
    console.log(`  llama.cpp ${p}: ${JSON.stringify(r)}`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

setPoolSize(threads);
setBlasThreads(threads);
const model = LlamaModel.fromWeights(config, weights);
const dense = new Map<string, Linear>();
for (let l = 0; l < config.numLayers; l++) {
  for (const k of LINEAR_KINDS) dense.set(`${l}.${k}`, model.getLinear(l, k));
}
const denseHead = model.lmHead;
const ours: { label: string; peer: string; r: SpeedResult }[] = [];
ours.push({ label: "dense f32", peer: "F32", r: await measure(model) });
console.log(`  quantlab dense f32: ${JSON.stringify(ours[0]!.r)}`);
for (const m of methods) {
  const q = getQuantizer(m.method);
  let covered = true;
  for (let l = 0; l < config.numLayers; l++) {
    for (const k of LINEAR_KINDS) {
      const d = dense.get(`${l}.${k}`)!;
      const t = await q.quantize(d.weightF32!(), d.outFeatures, d.inFeatures, m.options);
      covered &&= int8Format(t.p, t.codeBits, t.groupAxis, t.groupSize) !== null;
      model.setLinear(l, k, new LutLinear(t, undefined, `${l}.${k}`));
    }
  }
  if (args.head === "quantized") {
    const h = denseHead;
    const t = await q.quantize(h.weightF32!(), h.outFeatures, h.inFeatures, m.options);
    model.setLmHead(new LutLinear(t, undefined, "lm_head"));
  }
  setLutNumerics("fast");
  const label = `${m.label} ${covered ? "fast" : "(exact: no fast kernel)"}`;
  ours.push({ label, peer: m.peer, r: await measure(model) });
  console.log(`  quantlab ${label}: ${JSON.stringify(ours.at(-1)!.r)}`);
  setLutNumerics("exact");
  for (let l = 0; l < config.numLayers; l++) {
    for (const k of LINEAR_KINDS) model.setLinear(l, k, dense.get(`${l}.${k}`)!);
  }
  model.setLmHead(denseHead);
}
shutdownPool();

const f = (v: number) => v >= 100 ? v.toFixed(0) : v.toFixed(1);
const ratio = (a: number, b: number | undefined) => b ? `${(a / b).toFixed(2)}×` : "–";
const lines = [
  "| runtime | weights | prefill tok/s | decode tok/s | prefill × peer | decode × peer | " +
  "decode × own dense | mean NLL |",
  "|---|---|---|---|---|---|---|---|",
];
for (const [p, r] of peerResults) {
  lines.push(
    `| llama.cpp | ${p} | ${f(r.prefillTokS)} | ${f(r.decodeTokS)} | | | ` +
      `${ratio(r.decodeTokS, peerResults.get("F32")?.decodeTokS)} | ${r.nll.toFixed(5)} |`,
  );
}
for (const { label, peer, r } of ours) {
  const pr = peerResults.get(peer);
  lines.push(
    `| quantlab | ${label} | ${f(r.prefillTokS)} | ${f(r.decodeTokS)} | ` +
      `${ratio(r.prefillTokS, pr?.prefillTokS)} (${peer}) | ` +
      `${ratio(r.decodeTokS, pr?.decodeTokS)} (${peer}) | ` +
      `${ratio(r.decodeTokS, ours[0]!.r.decodeTokS)} | ${r.nll.toFixed(5)} |`,
  );
}
console.log(lines.join("\n"));
console.log(`load average at the end ${load()}`);
const f32 = peerResults.get("F32");
if (f32 && Math.abs(f32.nll / ours[0]!.r.nll - 1) > 1e-4) {
  console.error(
    `dense NLL ${ours[0]!.r.nll} differs from llama.cpp F32's ${f32.nll}: not the same model?`,
  );
  Deno.exit(1);
}
