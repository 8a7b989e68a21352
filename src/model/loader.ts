/**
 * Hugging Face model folders on disk: `config.json`, the safetensors checkpoint (single or
 * sharded), `tokenizer.json` (+ `tokenizer_config.json`, `generation_config.json`). Loads a
 * {@linkcode LlamaModel} (with the `linearFactory` hook for quantized folders), a
 * {@linkcode TextTokenizer}, and writes folders (for tests and
 * for saving models). The file access itself is `src/io/model_folder.ts`.
 *
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import type { Backend } from "../gpu/backend.ts";
import { openCheckpoint } from "../io/sharded.ts";
import { availableMemoryBytes, halfTensorBytes } from "../io/memory.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { joinPath as join } from "../io/paths.ts";
import {
  readJsonFile,
  readOptionalJson,
  writeModelFolder,
  type WriteModelFolderOptions,
} from "../io/model_folder.ts";
import { buildLlamaModel, type HalfWeights, type LinearFactory } from "./build.ts";
import { closeQuantizedCheckpoints } from "./quantized.ts";
import { type LlamaConfig, parseHfConfig, toHfConfig } from "./config.ts";
import { GpuLlama } from "./gpu_llama.ts";
import type { LlamaModel } from "./llama.ts";
import { TextTokenizer } from "./tokenizer.ts";
import type { CausalLM } from "./types.ts";

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
  /**
   * Dense bf16 / f16 matrices: widened to f32 at load (`"widen"`, the default) or kept as stored
   * and widened a tile at a time per product (`"keep"`: memory about the checkpoint's bytes).
   */
  halfWeights?: HalfWeights;
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

/** The `--weights` choices of `ppl` and `generate`. */
export const WEIGHTS_CHOICES = ["auto", "f32", "16bit"] as const;

/** `auto`: 16-bit when widening would not fit in memory; `f32`: widen; `16bit`: keep. */
export type WeightsChoice = typeof WEIGHTS_CHOICES[number];

/** Share of the available memory the widened weights may take under `auto`. */
export const AUTO_WIDEN_SHARE = 0.8;

/**
 * Turns a `--weights` choice into {@linkcode LoadModelOptions.halfWeights} for the folder `dir`,
 * with the reason in words. `auto` keeps the checkpoint's bf16 / f16 matrices 16-bit when the
 * widened checkpoint (its bytes plus as many again for its 16-bit tensors) would take more than
 * {@linkcode AUTO_WIDEN_SHARE} of `available` (default: `MemAvailable` now), and widens
 * otherwise (the f32 path: no widening per product). A checkpoint without 16-bit tensors, or
 * unknown available memory, widens.
 *
 * @example
 * ```ts
 * import { resolveHalfWeights, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1), "BF16"));
 * const small = await resolveHalfWeights(dir, "auto", 1e3);
 * const big = await resolveHalfWeights(dir, "auto", 1e12);
 * await Deno.remove(dir, { recursive: true });
 * if (small.halfWeights !== "keep" || big.halfWeights !== "widen") throw new Error();
 * ```
 */
export async function resolveHalfWeights(
  dir: string,
  choice: WeightsChoice,
  available: number | null = availableMemoryBytes(),
): Promise<{ halfWeights: HalfWeights; why: string }> {
  if (choice === "f32") return { halfWeights: "widen", why: "--weights f32" };
  if (choice === "16bit") return { halfWeights: "keep", why: "--weights 16bit" };
  const ckpt = await openCheckpoint(dir);
  let bytes: { half: number; total: number };
  try {
    bytes = await halfTensorBytes(ckpt);
  } finally {
    ckpt.close();
  }
  if (bytes.half === 0) return { halfWeights: "widen", why: "no 16-bit tensors" };
  const widened = bytes.total + bytes.half;
  const gb = (b: number): string => `${(b / 1e9).toFixed(1)} GB`;
  if (available === null) {
    return { halfWeights: "widen", why: "available memory unknown; widened to f32" };
  }
  if (widened > AUTO_WIDEN_SHARE * available) {
    return {
      halfWeights: "keep",
      why: `16-bit weights kept as stored: their f32 copy (${gb(widened)}) would not fit in the ` +
        `${gb(available)} available`,
    };
  }
  return { halfWeights: "widen", why: `widened to f32 (${gb(widened)} of ${gb(available)})` };
}

/**
 * The tokenizer of a model folder (`tokenizer.json`, and `tokenizer_config.json` when present).
 *
 * @example
 * ```ts
 * import { loadTokenizer, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * import { byteLevelTokenizerJson } from "../data/tiny_tokenizer.ts";
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

/** Options of {@linkcode writeHfFolder}. */
export interface WriteHfFolderOptions extends WriteModelFolderOptions {
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
  const cfg = { ...toHfConfig(config), ...(opts.extraConfig ?? {}) };
  await writeModelFolder(dir, cfg, tensors, opts);
}

/**
 * Loads a model folder and places it on `backend` (chosen by the caller, e.g. the CLI's
 * `--backend`): the CPU model itself, or a {@linkcode GpuLlama} built from it.
 *
 * @example
 * ```ts
 * import { loadCausalLM, writeHfFolder } from "./loader.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const dir = await Deno.makeTempDir();
 * const c = llamaConfig();
 * await writeHfFolder(dir, c, llamaTensors(c, randomLlamaWeights(c, 1)));
 * const lm = await loadCausalLM(dir, { kind: "cpu" });
 * await Deno.remove(dir, { recursive: true });
 * if (lm.backend !== "cpu") throw new Error("unexpected");
 * ```
 */
export async function loadCausalLM(
  dir: string,
  backend: Backend = { kind: "cpu" },
  opts: LoadModelOptions = {},
): Promise<CausalLM> {
  const model = await loadModel(dir, opts);
  return backend.kind === "webgpu" ? await GpuLlama.create(model, backend.gpu) : model;
}
