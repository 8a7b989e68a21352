/**
 * Big models in little RAM (issue 17): writes random-weight bf16 checkpoints of real shapes and
 * evaluates windows of random tokens on them (the `ppl` forward: `LlamaModel.nll`, loaded with
 * `loadModel` as `quantlab ppl` loads it), each run in a fresh child process that reports its
 * peak resident memory (`VmHWM` of `/proc/self/status`) against the checkpoint's bytes.
 *
 * - `1b` (Llama-3.2-1B: d 2048, 16 layers, 32/8 heads, SwiGLU 8192, vocabulary 128256, tied;
 *   2.47 GB in bf16, fits as f32): the 16-bit path (`halfWeights: "keep"`) and the f32 path
 *   (`"widen"`) alternate `--reps` times; prints tokens/s of each and their ratio (goal: keep ≥
 *   0.9 × widen) and the peak RSS of each. Last measured (2026-12-07, under load: load average 7
 *   on the 2 cores, 2 reps, `--tile 4194304,16777216 --decode 8`): with the default 16 Mi tiles
 *   `ppl` 1.25 × the f32 path's tokens/s (1.00 × per CPU second), decode 1.34 × (0.86 × per CPU
 *   second; a decode-only run: 0.64 ×, 0.98 ×); 4 Mi tiles 0.76 × (0.97 ×) — docs/performance.md.
 * - `8b` (Llama-3-8B: d 4096, 32 layers, 32/8 heads, SwiGLU 14336, vocabulary 128256, untied;
 *   16.06 GB): the 16-bit path only (its f32 copy, 32 GB, does not fit a 24 GB machine); goal:
 *   peak RSS ≤ 1.25 × the checkpoint (last: 1.093 ×, 2026-12-07). Its speed is compared with the 1B f32 path in FLOP/s
 *   (`llamaForwardFlops`; tokens/s of two sizes are not comparable). Before it runs, the bench
 *   waits (60 s steps, up to `--wait-min` minutes) until `MemAvailable` holds the checkpoint plus
 *   25 % and 1 GiB; if that never comes, it writes the same shape with as many layers as fit and
 *   says so (the first layers of the same files, through a folder of links with its own
 *   config.json).
 *
 *     deno run -A bench/bf16_big.ts [--shape 1b,8b] [--ctx 128] [--windows 2] [--reps 2]
 *                                   [--decode 16] [--dir DIR] [--keep-files] [--tile N,N]
 *                                   [--wait-min 20] [--layers N] [--write-only] [--one-thread]
 *
 * Each run also decodes `--decode` tokens (batch 1, after a 16-token prompt; the f32 path's
 * `sgemv` against the 16-bit GEMV of `src/cpu/half_gemv.ts`) and reports their tokens/s.
 * `--one-thread` adds a 16-bit run without the worker pool (`QUANTLAB_THREADS=1`, label
 * `keep-1t`). `--tile` runs the 16-bit path once per tile size (f32 elements; default: the library's).
 * `--layers` cuts both shapes to N layers (a quick check). Checkpoints go to `--dir` (default: a temporary folder), and are deleted at the end unless
 * `--keep-files` (an existing one of the right shape is reused). Never run in CI: the 8B file is
 * 16 GB.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fillNormal } from "../src/core/prng.ts";
import { toBf16 } from "../src/core/dtype.ts";
import { Tensor } from "../src/core/tensor.ts";
import { SafetensorsWriter } from "../src/io/safetensors.ts";
import { type LlamaConfig, llamaConfig, toHfConfig } from "../src/model/config.ts";
import { modelFamily } from "../src/model/family.ts";
import { llamaForwardFlops } from "../src/model/llama.ts";
import { loadModel } from "../src/model/loader.ts";
import type { HalfWeights } from "../src/model/build.ts";
import { LINEAR_KINDS, projectionShape } from "../src/model/types.ts";
import { setHalfTileElements } from "../src/cpu/half_matmul.ts";
import { matmulBackend } from "../src/cpu/matmul.ts";
import { processCpuMs } from "./timing.ts";

const GIB = 2 ** 30;

/** The bench's shapes. */
export function benchShape(name: string, layers?: number): LlamaConfig {
  const common = { vocabSize: 128256, numHeads: 32, numKvHeads: 8, maxPositionEmbeddings: 8192 };
  if (name === "1b") {
    return llamaConfig({
      ...common,
      hiddenSize: 2048,
      numLayers: layers ?? 16,
      intermediateSize: 8192,
      tieWordEmbeddings: true,
      ropeTheta: 500000,
    });
  }
  if (name === "8b") {
    return llamaConfig({
      ...common,
      hiddenSize: 4096,
      numLayers: layers ?? 32,
      intermediateSize: 14336,
      tieWordEmbeddings: false,
      ropeTheta: 500000,
    });
  }
  throw new Error(`--shape ${name}: use 1b or 8b`);
}

/** Every tensor of the checkpoint, in file order: name and shape. */
function tensorList(c: LlamaConfig): { name: string; shape: number[] }[] {
  const names = modelFamily(c.architecture).tensors;
  const d = c.hiddenSize;
  const out = [{ name: names.embed, shape: [c.vocabSize, d] }];
  for (let l = 0; l < c.numLayers; l++) {
    out.push({ name: names.inputNorm(l), shape: [d] }, { name: names.postNorm(l), shape: [d] });
    for (const kind of LINEAR_KINDS) {
      out.push({ name: `${names.projection(l, kind)}.weight`, shape: projectionShape(c, kind) });
    }
  }
  out.push({ name: names.finalNorm, shape: [d] });
  if (!c.tieWordEmbeddings) out.push({ name: names.lmHead, shape: [c.vocabSize, d] });
  return out;
}

/** Bytes of the checkpoint's tensors in bf16. */
export function checkpointBytes(c: LlamaConfig): number {
  return tensorList(c).reduce((a, t) => a + 2 * t.shape.reduce((x, y) => x * y, 1), 0);
}

/**
 * Writes `c` as a sharded bf16 checkpoint (≤ 4 GiB shards, an index, config.json). Weights are
 * slices of one pool of 2^24 N(0, 0.02²) values at pseudo-random offsets (random enough for a
 * speed and memory check, and written at disk speed); norms are 1.
 */
async function writeCheckpoint(dir: string, c: LlamaConfig): Promise<void> {
  const pool = toBf16(fillNormal(new Float32Array(1 << 24), 17, 0, 0.02));
  const list = tensorList(c);
  const shards: (typeof list)[] = [[]];
  let bytes = 0;
  for (const t of list) {
    const b = 2 * t.shape.reduce((x, y) => x * y, 1);
    if (bytes > 0 && bytes + b > 4 * GIB) {
      shards.push([]);
      bytes = 0;
    }
    shards.at(-1)!.push(t);
    bytes += b;
  }
  const pad = (i: number): string => String(i).padStart(5, "0");
  const weightMap: Record<string, string> = {};
  let offset = 12345;
  for (let i = 0; i < shards.length; i++) {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    const w = await SafetensorsWriter.create(
      `${dir}/${file}`,
      shards[i]!.map((t) => ({ name: t.name, dtype: "BF16" as const, shape: t.shape })),
      { format: "pt" },
    );
    for (const t of shards[i]!) {
      const n = t.shape.reduce((x, y) => x * y, 1);
      const data = new Uint16Array(n);
      if (t.shape.length === 1) data.fill(0x3f80);
      else {
        for (let at = 0; at < n;) {
          offset = (offset * 1103515245 + 12345) % pool.length;
          const take = Math.min(n - at, pool.length - offset);
          data.set(pool.subarray(offset, offset + take), at);
          at += take;
        }
      }
      await w.write(t.name, new Tensor(t.shape, "BF16", data));
      weightMap[t.name] = file;
    }
    await w.close();
  }
  const total = checkpointBytes(c);
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }),
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...toHfConfig(c), torch_dtype: "bfloat16" }),
  );
}

/** A `/proc` status or meminfo field in bytes. */
function procKb(file: string, field: string): number {
  const m = Deno.readTextFileSync(file).match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** What one child run reports. */
interface RunResult {
  half: HalfWeights;
  loadS: number;
  evalS: number;
  /** CPU seconds (user + system, every thread) of the evaluation. */
  evalCpuS: number;
  /** Wall and CPU seconds of each window. */
  perWindow: { s: number; cpuS: number }[];
  tokens: number;
  tokensPerS: number;
  gflops: number;
  peakRss: number;
  meanNll: number;
  /** Decode steps (batch 1, after a 16-token prompt), their wall and CPU seconds. */
  decodeTokens: number;
  decodeS: number;
  decodeCpuS: number;
}

/** The child: loads `dir`, evaluates `windows` windows of `ctx` random tokens, reports JSON. */
async function child(
  dir: string,
  half: HalfWeights,
  ctx: number,
  windows: number,
  decode: number,
): Promise<void> {
  const t0 = performance.now();
  const model = await loadModel(dir, { halfWeights: half });
  const loadS = (performance.now() - t0) / 1000;
  const V = model.config.vocabSize;
  let seed = 99, nll = 0, n = 0;
  const t1 = performance.now(), c1 = processCpuMs();
  const perWindow: { s: number; cpuS: number }[] = [];
  for (let w = 0; w < windows; w++) {
    const ids = Array.from({ length: ctx }, () => (seed = (seed * 48271) % 2147483647) % V);
    const tw = performance.now(), cw = processCpuMs();
    const r = await model.nll(ids);
    perWindow.push({ s: (performance.now() - tw) / 1000, cpuS: (processCpuMs() - cw) / 1000 });
    for (const v of r) nll += v;
    n += r.length;
  }
  const evalS = (performance.now() - t1) / 1000;
  const evalCpuS = (processCpuMs() - c1) / 1000;
  const tokens = windows * ctx;
  // Decode: one step (batch 1) per token after a 16-token prompt, the first step untimed.
  const cache = model.newCache(16 + decode + 1);
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % V);
  let logits = await model.forward(prompt, { cache, lastOnly: true });
  const argmax = (l: Float32Array): number => l.reduce((b, v, i) => (v > l[b]! ? i : b), 0);
  logits = await model.forward([argmax(logits)], { cache, lastOnly: true });
  const t2 = performance.now(), c2 = processCpuMs();
  for (let i = 0; i < decode; i++) {
    logits = await model.forward([argmax(logits)], { cache, lastOnly: true });
  }
  const decodeS = (performance.now() - t2) / 1000, decodeCpuS = (processCpuMs() - c2) / 1000;
  const result: RunResult = {
    half,
    loadS,
    evalS,
    evalCpuS,
    perWindow,
    tokens,
    tokensPerS: tokens / evalS,
    gflops: (windows * llamaForwardFlops(model.config, ctx)) / evalS / 1e9,
    peakRss: procKb("/proc/self/status", "VmHWM"),
    meanNll: nll / n,
    decodeTokens: decode,
    decodeS,
    decodeCpuS,
  };
  console.log(JSON.stringify(result));
}

/** Runs one child and parses its report. */
async function runChild(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--role", "child", ...args],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`child ${args.join(" ")} failed: ${text}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

const gb = (b: number): string => (b / 1e9).toFixed(2) + " GB";

function describe(r: RunResult, bytes: number): string {
  return `${r.half.padEnd(5)} load ${r.loadS.toFixed(1)} s, ${r.tokensPerS.toFixed(2)} tok/s ` +
    `(${r.gflops.toFixed(1)} GFLOP/s; ${
      (r.tokens / r.evalCpuS).toFixed(2)
    } tok per CPU s), peak RSS ${gb(r.peakRss)} = ` +
    `${(r.peakRss / bytes).toFixed(3)} × checkpoint, mean NLL ${r.meanNll.toFixed(4)}; windows ` +
    r.perWindow.map((w) => `${w.s.toFixed(1)} s (${w.cpuS.toFixed(1)} CPU s)`).join(", ") +
    (r.decodeTokens > 0
      ? `; decode ${(r.decodeTokens / r.decodeS).toFixed(2)} tok/s (${
        (r.decodeTokens / r.decodeCpuS).toFixed(2)
      } per CPU s)`
      : "");
}

/** Waits until MemAvailable ≥ `need` bytes (60 s steps, `minutes` at most); the last reading. */
async function waitForMemory(need: number, minutes: number): Promise<number> {
  for (let i = 0;; i++) {
    const avail = procKb("/proc/meminfo", "MemAvailable");
    if (avail >= need || i >= minutes) return avail;
    console.log(`MemAvailable ${gb(avail)} < ${gb(need)}; waiting 60 s (${i + 1}/${minutes})`);
    await new Promise((r) => setTimeout(r, 60_000));
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string", default: "main" },
      shape: { type: "string", default: "1b,8b" },
      ctx: { type: "string", default: "128" },
      windows: { type: "string", default: "2" },
      decode: { type: "string", default: "16" },
      reps: { type: "string", default: "2" },
      dir: { type: "string" },
      half: { type: "string", default: "keep" },
      tile: { type: "string" },
      layers: { type: "string" },
      "keep-files": { type: "boolean", default: false },
      "write-only": { type: "boolean", default: false },
      "one-thread": { type: "boolean", default: false },
      "wait-min": { type: "string", default: "20" },
    },
  });
  const ctx = Number(values.ctx), windows = Number(values.windows);
  if (values.tile && values.role === "child") setHalfTileElements(Number(values.tile));
  if (values.role === "child") {
    await child(values.dir!, values.half as HalfWeights, ctx, windows, Number(values.decode));
    Deno.exit(0);
  }
  const root = values.dir ?? await Deno.makeTempDir({ prefix: "quantlab-bf16-big-" });
  const passOn = ["--ctx", values.ctx!, "--windows", values.windows!, "--decode", values.decode!];
  console.log(
    `GEMM ${matmulBackend()} (OPENBLAS_NUM_THREADS=${
      Deno.env.get("OPENBLAS_NUM_THREADS") ?? "unset"
    }), ${navigator.hardwareConcurrency} CPUs, MemTotal ` +
      `${gb(procKb("/proc/meminfo", "MemTotal"))}, load average ` +
      Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ") +
      `; ${windows} windows of ${ctx} random tokens per run`,
  );
  const rates: Record<string, number> = {};
  for (const name of values.shape!.split(",")) {
    const full = benchShape(name, values.layers ? Number(values.layers) : undefined);
    const fullDir = `${root}/${name}-${full.numLayers}l`;
    let fresh = false;
    try {
      await Deno.stat(`${fullDir}/model.safetensors.index.json`);
    } catch {
      await Deno.mkdir(fullDir, { recursive: true });
      const t = performance.now();
      await writeCheckpoint(fullDir, full);
      fresh = true;
      const s = ((performance.now() - t) / 1000).toFixed(0);
      console.log(`${name}: wrote ${gb(checkpointBytes(full))} in ${s} s`);
    }
    if (values["write-only"]) continue;
    let c = full, dir = fullDir;
    if (name === "8b") {
      const need = 1.25 * checkpointBytes(full) + GIB;
      const avail = await waitForMemory(need, Number(values["wait-min"]));
      if (avail < need) {
        // The first L layers of the same files: a folder of links with its own config.json
        // (loading reads only the tensors the config names).
        const perLayer = checkpointBytes(benchShape(name, 2)) -
          checkpointBytes(benchShape(name, 1));
        const fixed = checkpointBytes(benchShape(name, 1)) - perLayer;
        const layers = Math.floor(((avail - GIB) / 1.25 - fixed) / perLayer);
        console.log(
          `MemAvailable stayed at ${gb(avail)}: running the 8B shape with ${layers} of its ` +
            `${full.numLayers} layers instead`,
        );
        c = benchShape(name, layers);
        dir = `${fullDir}-first${layers}`;
        await Deno.mkdir(dir, { recursive: true });
        for await (const e of Deno.readDir(fullDir)) {
          if (e.name === "config.json") continue;
          await Deno.symlink(`${fullDir}/${e.name}`, `${dir}/${e.name}`).catch(() => {});
        }
        await Deno.writeTextFile(
          `${dir}/config.json`,
          JSON.stringify({ ...toHfConfig(c), torch_dtype: "bfloat16" }),
        );
      }
    }
    const bytes = checkpointBytes(c);
    console.log(`${name} (${c.numLayers} layers, ${gb(bytes)} of bf16 tensors):`);
    try {
      // Variants: the 16-bit path at each --tile (default tile when none), and the f32 path.
      const tiles = values.tile ? values.tile.split(",") : [""];
      const variants = tiles.map((t) => ({
        label: t ? `keep@${t}` : "keep",
        half: "keep",
        tile: t,
        env: {} as Record<string, string>,
      }));
      if (values["one-thread"]) {
        variants.push({ label: "keep-1t", half: "keep", tile: "", env: { QUANTLAB_THREADS: "1" } });
      }
      if (name !== "8b") variants.push({ label: "widen", half: "widen", tile: "", env: {} });
      const got: Record<string, RunResult[]> = {};
      for (let rep = 0; rep < (name === "8b" ? 1 : Number(values.reps)); rep++) {
        for (const v of variants) {
          const tile = v.tile ? ["--tile", v.tile] : [];
          const r = await runChild(["--dir", dir, "--half", v.half, ...tile, ...passOn], v.env);
          (got[v.label] ??= []).push(r);
          console.log(`  ${v.label.padEnd(14)} ` + describe(r, bytes));
        }
      }
      const median = (rs: RunResult[], f: (r: RunResult) => number): number => {
        const v = rs.map(f).sort((a, b) => a - b);
        return v[Math.floor((v.length - 1) / 2)]!;
      };
      for (const v of variants) {
        rates[`${name}-${v.label}`] = median(got[v.label]!, (r) => r.gflops);
      }
      const w = got.widen;
      for (const v of variants) {
        const k = median(got[v.label]!, (r) => r.tokensPerS);
        const rss = median(got[v.label]!, (r) => r.peakRss) / bytes;
        const perCpu = (r: RunResult): number => r.tokens / r.evalCpuS;
        const vs = w && v.half === "keep"
          ? `, ${(k / median(w, (r) => r.tokensPerS)).toFixed(3)} × the f32 path's tokens/s ` +
            `(per CPU second: ${(median(got[v.label]!, perCpu) / median(w, perCpu)).toFixed(3)} ×)`
          : "";
        const dec = (r: RunResult): number => r.decodeTokens / r.decodeS;
        const decCpu = (r: RunResult): number => r.decodeTokens / r.decodeCpuS;
        const dk = median(got[v.label]!, dec);
        const dvs = w && v.half === "keep" && dk > 0
          ? `, ${(dk / median(w, dec)).toFixed(3)} × the f32 path's (per CPU second: ${
            (median(got[v.label]!, decCpu) / median(w, decCpu)).toFixed(3)
          } ×)`
          : "";
        if (dk > 0) {
          console.log(`  ${name} ${v.label}: decode median ${dk.toFixed(2)} tokens/s${dvs}`);
        }
        console.log(
          `  ${name} ${v.label}: ppl median ${k.toFixed(2)} tokens/s${vs}; peak RSS ${
            rss.toFixed(3)
          } × ` +
            "checkpoint",
        );
      }
    } finally {
      if (dir !== fullDir) await Deno.remove(dir, { recursive: true });
      if (fresh && !values["keep-files"]) await Deno.remove(fullDir, { recursive: true });
    }
  }
  const big = Object.keys(rates).find((k) => k.startsWith("8b-"));
  if (big && rates["1b-widen"] !== undefined) {
    console.log(
      `8B ${big.slice(3)} vs 1B f32 (widen), GFLOP/s: ${
        (rates[big]! / rates["1b-widen"]).toFixed(3)
      }`,
    );
  }
  if (!values.dir && !values["keep-files"]) await Deno.remove(root, { recursive: true });
}
