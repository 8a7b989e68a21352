/**
 * Hugging Face model folders on disk: `config.json`, the safetensors checkpoint (single or
 * sharded), `tokenizer.json` (+ `tokenizer_config.json`, `generation_config.json`). Loads a
 * {@linkcode LlamaModel} (with the `linearFactory` hook for quantized folders), a
 * {@linkcode TextTokenizer}, a model hash for results files, and writes folders (for tests and
 * for saving models).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor.ts";
import { type BackendChoice, selectBackend } from "../gpu/backend.ts";
import { openCheckpoint, writeSharded } from "../io/sharded.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { buildLlamaModel, type LinearFactory } from "./build.ts";
import { closeQuantizedCheckpoints } from "./quantized.ts";
import { type LlamaConfig, parseHfConfig, toHfConfig } from "./config.ts";
import { GpuLlama } from "./gpu_llama.ts";
import type { LlamaModel } from "./llama.ts";
import { TextTokenizer } from "./tokenizer.ts";
import type { CausalLM } from "./types.ts";

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new QuantlabError("not-found", `${what} not found: ${path}`);
    }
    throw new QuantlabError("bad-file", `Cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new QuantlabError(
      "bad-file",
      `${what} ${path} is not valid JSON: ${(e as Error).message}`,
    );
  }
}

async function readOptionalJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new QuantlabError("bad-file", `Cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * The parsed `config.json` of a model folder, plus its raw object.
 *
 * @example
 * ```ts
 * import { loadHfConfig, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)));
 * const { config } = await loadHfConfig(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (config.hiddenSize !== 32) throw new Error("unexpected");
 * ```
 */
export async function loadHfConfig(
  path: string,
): Promise<{ config: LlamaConfig; raw: Record<string, unknown> }> {
  const dir = await resolveModelPath(path);
  const raw = await readJsonFile(join(dir, "config.json"), "Model config");
  const config = parseHfConfig(raw);
  // generation_config.json may list more EOS ids (Llama 3 instruct models do).
  const gen = await readOptionalJson(join(dir, "generation_config.json"));
  if (gen && typeof gen === "object") {
    const eos = (gen as Record<string, unknown>).eos_token_id;
    const ids = typeof eos === "number" ? [eos] : Array.isArray(eos) ? eos : [];
    for (const id of ids) {
      if (typeof id === "number" && !config.eosTokenIds.includes(id)) config.eosTokenIds.push(id);
    }
  }
  return { config, raw: raw as Record<string, unknown> };
}

/** Options of {@linkcode loadModel}. */
export interface LoadModelOptions {
  /** Supplies Linear objects for named weights (quantized folders); see `build.ts`. */
  linearFactory?: LinearFactory;
  /** Called after each layer is loaded. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Loads a Llama-family model (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM) from a
 * Hugging Face folder with f32, f16 or bf16 weights. Quantized folders (`quantization_config` in
 * config.json) load through `opts.linearFactory` or the factory registered for their
 * `quant_method`.
 *
 * @example
 * ```ts
 * import { loadModel, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig({ architecture: "MistralForCausalLM", slidingWindow: 4 });
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1), "BF16"));
 * const model = await loadModel(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (model.config.slidingWindow !== 4) throw new Error("unexpected");
 * ```
 */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<LlamaModel> {
  const { config } = await loadHfConfig(dir);
  const ckpt = await openCheckpoint(dir);
  try {
    return await buildLlamaModel(config, ckpt, opts);
  } finally {
    ckpt.close();
    await closeQuantizedCheckpoints(ckpt.path);
  }
}

/**
 * The tokenizer of a model folder (`tokenizer.json`, and `tokenizer_config.json` when present).
 *
 * @example
 * ```ts
 * import { loadTokenizer, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * import { byteLevelTokenizerJson } from "./tiny.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig({ vocabSize: 458 });
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)), {
 *   tokenizer: byteLevelTokenizerJson(),
 * });
 * const tok = await loadTokenizer(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (tok.decode(tok.encode("hi"), { skipSpecialTokens: true }) !== "hi") throw new Error();
 * ```
 */
export async function loadTokenizer(path: string): Promise<TextTokenizer> {
  const dir = await resolveModelPath(path);
  const json = await readJsonFile(join(dir, "tokenizer.json"), "Tokenizer file");
  const cfg = await readOptionalJson(join(dir, "tokenizer_config.json"));
  return TextTokenizer.fromJson(json, cfg ?? {});
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function fileSamples(path: string, bytes: number): Promise<Uint8Array[]> {
  const f = await Deno.open(path, { read: true });
  try {
    const size = (await f.stat()).size;
    const read = async (at: number, n: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(n);
      await f.seek(at, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await f.read(buf.subarray(got));
        if (r === null) break;
        got += r;
      }
      return buf.subarray(0, got);
    };
    const first = await read(0, Math.min(bytes, size));
    const last = size > bytes
      ? await read(size - Math.min(bytes, size - bytes), bytes)
      : new Uint8Array();
    return [new TextEncoder().encode(`${size}\n`), first, last];
  } finally {
    f.close();
  }
}

/**
 * A SHA-256 identifying a model folder for results files: `config.json`, the tensor index
 * (name, dtype, shape of every tensor) and content samples (size, first and last MiB of every
 * safetensors file), so different weights with the same shapes hash differently without reading
 * whole checkpoints.
 *
 * @example
 * ```ts
 * import { modelHash, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)));
 * const h = await modelHash(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (!/^[0-9a-f]{64}$/.test(h)) throw new Error("unexpected");
 * ```
 */
export async function modelHash(path: string): Promise<string> {
  const dir = await resolveModelPath(path);
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  parts.push(enc.encode(await readText(join(dir, "config.json"), "Model config")));
  const ckpt = await openCheckpoint(dir);
  try {
    const index: string[] = [];
    for (const name of [...ckpt.names()].sort()) {
      const info = await ckpt.info(name);
      index.push(`${name}\t${info.dtype}\t${info.shape.join("x")}`);
    }
    parts.push(enc.encode(index.join("\n")));
    for (const file of ckpt.files) parts.push(...await fileSamples(file, 1 << 20));
  } finally {
    ckpt.close();
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return await sha256Hex(all);
}

/** Options of {@linkcode writeHfFolder}. */
export interface WriteHfFolderOptions {
  /** A `tokenizer.json` object to write. */
  tokenizer?: Record<string, unknown>;
  /** A `tokenizer_config.json` object to write. */
  tokenizerConfig?: Record<string, unknown>;
  /** Split into shards of at most this many bytes (with an index); default one file. */
  shardBytes?: number;
  /** Extra keys merged into config.json (e.g. `quantization_config`). */
  extraConfig?: Record<string, unknown>;
}

/**
 * Writes a Hugging Face folder: `config.json`, `model.safetensors` (or shards + index) and
 * optionally the tokenizer files. Creates `dir` if needed.
 *
 * @example
 * ```ts
 * import { writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)), { shardBytes: 20000 });
 * const files = [...Deno.readDirSync(dir)].map((e) => e.name);
 * await Deno.remove(dir, { recursive: true });
 * if (!files.includes("model.safetensors.index.json")) throw new Error("unexpected");
 * ```
 */
export async function writeHfFolder(
  dir: string,
  config: LlamaConfig,
  tensors: Record<string, Tensor>,
  opts: WriteHfFolderOptions = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const cfg = { ...toHfConfig(config), ...(opts.extraConfig ?? {}) };
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  if (opts.shardBytes !== undefined) {
    await writeSharded(dir, Object.entries(tensors), opts.shardBytes);
  } else {
    await writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  }
  if (opts.tokenizer) {
    await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(opts.tokenizer));
  }
  if (opts.tokenizerConfig) {
    await Deno.writeTextFile(
      join(dir, "tokenizer_config.json"),
      JSON.stringify(opts.tokenizerConfig, null, 2),
    );
  }
}

/**
 * Loads a model folder and places it on a backend: the CPU model itself, or a
 * {@linkcode GpuLlama} built from it (`auto` picks WebGPU only for a real, non-fallback
 * adapter).
 *
 * @example
 * ```ts
 * import { loadCausalLM, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)));
 * const lm = await loadCausalLM(dir, "cpu");
 * await Deno.remove(dir, { recursive: true });
 * if (lm.backend !== "cpu") throw new Error("unexpected");
 * ```
 */
export async function loadCausalLM(
  dir: string,
  backend: BackendChoice = "auto",
  opts: LoadModelOptions = {},
): Promise<CausalLM> {
  const b = await selectBackend(backend);
  const model = await loadModel(dir, opts);
  return b.kind === "webgpu" ? await GpuLlama.create(model, b.gpu) : model;
}
