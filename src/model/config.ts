// This module is browser compatible.
/**
 * Llama-family model configuration: parses a Hugging Face `config.json` for LlamaForCausalLM,
 * Qwen2ForCausalLM and MistralForCausalLM into one normalised {@linkcode LlamaConfig} (GQA, RoPE
 * θ and `rope_scaling` of type `linear` or `llama3`, `rms_norm_eps`, tied embeddings, Qwen2's
 * q/k/v bias, Llama's `attention_bias`/`mlp_bias`, sliding-window attention, `head_dim`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import {
  type Architecture,
  architectureOf,
  type ConfigReader,
  modelFamily,
  SUPPORTED_ARCHITECTURES,
} from "./family.ts";

export { type Architecture, SUPPORTED_ARCHITECTURES } from "./family.ts";

/** RoPE frequency scaling. */
export type RopeScaling =
  | { type: "none" }
  | { type: "linear"; factor: number }
  | {
    type: "llama3";
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };

/** A normalised Llama-family configuration. */
export interface LlamaConfig {
  /** The HF architecture name. */
  architecture: Architecture;
  /** Vocabulary size (rows of the embedding and of the LM head). */
  vocabSize: number;
  /** Model width d. */
  hiddenSize: number;
  /** MLP width. */
  intermediateSize: number;
  /** Number of decoder layers. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (GQA when fewer than `numHeads`). */
  numKvHeads: number;
  /** Width of one head (`head_dim`, else hidden / heads). */
  headDim: number;
  /** RoPE base θ. */
  ropeTheta: number;
  /** RoPE frequency scaling. */
  ropeScaling: RopeScaling;
  /** RMSNorm ε. */
  rmsNormEps: number;
  /** True when the LM head reuses the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** True when q/k/v projections have a bias (Qwen2; Llama with `attention_bias`). */
  qkvBias: boolean;
  /** True when the output projection has a bias (Llama with `attention_bias`). */
  oBias: boolean;
  /** True when the MLP projections have a bias (Llama with `mlp_bias`). */
  mlpBias: boolean;
  /** Sliding attention window in keys (a query sees itself and the W − 1 keys before it), or null. */
  slidingWindow: number | null;
  /** First layer that uses the sliding window (0 for Mistral; Qwen2's `max_window_layers`). */
  slidingWindowFromLayer: number;
  /** `max_position_embeddings`. */
  maxPositionEmbeddings: number;
  /** BOS id from the config, if any. */
  bosTokenId: number | null;
  /** EOS ids from the config (may be several). */
  eosTokenIds: number[];
  /** The raw `quantization_config`, when the checkpoint is quantized. */
  quantization: Record<string, unknown> | null;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function missing(key: string, arch: string): never {
  throw new QuantlabError(
    "not-found",
    `config.json of ${arch} lacks "${key}"; a Llama-family config needs it`,
  );
}

function posInt(j: Json, key: string, arch: string, fallback?: number): number {
  const v = j[key] ?? fallback;
  if (v === undefined || v === null) missing(key, arch);
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new QuantlabError(
      "bad-file",
      `config.json key "${key}" is ${JSON.stringify(v)}; it must be an integer ≥ 1`,
    );
  }
  return v;
}

function posNum(j: Json, key: string, arch: string, fallback?: number): number {
  const v = j[key] ?? fallback;
  if (v === undefined || v === null) missing(key, arch);
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    throw new QuantlabError(
      "bad-file",
      `config.json key "${key}" is ${JSON.stringify(v)}; it must be a positive number`,
    );
  }
  return v;
}

function bool(j: Json, key: string, fallback: boolean): boolean {
  const v = j[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") {
    throw new QuantlabError(
      "bad-file",
      `config.json key "${key}" is ${JSON.stringify(v)}; use true or false`,
    );
  }
  return v;
}

function ids(v: unknown): number[] {
  if (typeof v === "number" && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === "number");
  return [];
}

function parseRopeScaling(raw: unknown, arch: string): RopeScaling {
  if (raw === undefined || raw === null) return { type: "none" };
  if (!isObject(raw)) {
    throw new QuantlabError(
      "bad-file",
      `config.json "rope_scaling" is ${JSON.stringify(raw)}; expected an object`,
    );
  }
  const type = String(raw.rope_type ?? raw.type ?? "default");
  if (type === "default") return { type: "none" };
  if (type === "linear") return { type: "linear", factor: posNum(raw, "factor", arch) };
  if (type === "llama3") {
    return {
      type: "llama3",
      factor: posNum(raw, "factor", arch),
      lowFreqFactor: posNum(raw, "low_freq_factor", arch),
      highFreqFactor: posNum(raw, "high_freq_factor", arch),
      originalMaxPositionEmbeddings: posInt(raw, "original_max_position_embeddings", arch),
    };
  }
  throw new QuantlabError(
    "unsupported",
    `RoPE scaling type "${type}" is not supported; use none, "linear" or "llama3"`,
  );
}

/**
 * Parses a Hugging Face `config.json` object. Unknown architectures, activations other than SiLU,
 * unsupported RoPE scaling and missing keys become a {@linkcode QuantlabError} naming them.
 *
 * @example
 * ```ts
 * import { parseHfConfig } from "./config.ts";
 * const c = parseHfConfig({
 *   architectures: ["Qwen2ForCausalLM"], vocab_size: 64, hidden_size: 32, intermediate_size: 64,
 *   num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
 * });
 * if (c.headDim !== 8 || !c.qkvBias || c.oBias) throw new Error("unexpected");
 * ```
 */
export function parseHfConfig(json: unknown): LlamaConfig {
  if (!isObject(json)) {
    throw new QuantlabError("bad-file", "config.json does not hold a JSON object");
  }
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  const arch = architectureOf(json);
  if (!arch) {
    const what = archs.length ? archs.join(", ") : `model_type "${json.model_type}"`;
    throw new QuantlabError(
      "unsupported",
      `Architecture ${what} is not supported; use one of ${SUPPORTED_ARCHITECTURES.join(", ")}`,
    );
  }
  const act = String(json.hidden_act ?? "silu");
  if (act !== "silu") {
    throw new QuantlabError("unsupported", `Activation "${act}" is not supported; use "silu"`);
  }
  const hidden = posInt(json, "hidden_size", arch);
  const heads = posInt(json, "num_attention_heads", arch);
  const kvHeads = posInt(json, "num_key_value_heads", arch, heads);
  if (heads % kvHeads !== 0) {
    throw new QuantlabError(
      "bad-file",
      `num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`,
    );
  }
  if (json.head_dim === undefined && hidden % heads !== 0) {
    throw new QuantlabError(
      "bad-file",
      `hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}; give head_dim`,
    );
  }
  const headDim = posInt(json, "head_dim", arch, Math.floor(hidden / heads));
  if (headDim % 2 !== 0) {
    throw new QuantlabError("bad-file", `head_dim ${headDim} is odd; RoPE needs an even head_dim`);
  }
  // transformers ≥ 5 keeps θ and scaling together in `rope_parameters`.
  const ropeParams = isObject(json.rope_parameters) ? json.rope_parameters : undefined;
  const ropeTheta = posNum(ropeParams ?? json, "rope_theta", arch, 10000);
  const ropeScaling = parseRopeScaling(ropeParams ?? json.rope_scaling, arch);

  const numLayers = posInt(json, "num_hidden_layers", arch);
  const read: ConfigReader = {
    bool: (key) => bool(json, key, false),
    posIntOrNull: (key) => (json[key] == null ? null : posInt(json, key, arch)),
    raw: (key) => json[key],
  };
  const options = modelFamily(arch).readOptions(read);
  const quant = isObject(json.quantization_config) ? json.quantization_config : null;
  return {
    architecture: arch,
    vocabSize: posInt(json, "vocab_size", arch),
    hiddenSize: hidden,
    intermediateSize: posInt(json, "intermediate_size", arch),
    numLayers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    ropeTheta,
    ropeScaling,
    rmsNormEps: posNum(json, "rms_norm_eps", arch, 1e-6),
    tieWordEmbeddings: bool(json, "tie_word_embeddings", false),
    ...options,
    maxPositionEmbeddings: posInt(json, "max_position_embeddings", arch, 4096),
    bosTokenId: typeof json.bos_token_id === "number" ? json.bos_token_id : null,
    eosTokenIds: ids(json.eos_token_id),
    quantization: quant,
  };
}

/**
 * The sliding window of layer `layer` in keys, or 0 for full causal attention.
 *
 * @example
 * ```ts
 * import { layerWindow, llamaConfig } from "./config.ts";
 * const c = llamaConfig({ architecture: "MistralForCausalLM", slidingWindow: 4 });
 * if (layerWindow(c, 0) !== 4) throw new Error("unexpected");
 * ```
 */
export function layerWindow(c: LlamaConfig, layer: number): number {
  return c.slidingWindow !== null && layer >= c.slidingWindowFromLayer ? c.slidingWindow : 0;
}

/**
 * The shape planned for the embedded tiny Llama (d_model 256, 4 layers, 4 heads, intermediate
 * 768, vocab 4096): the runtime benchmarks' model, with random weights until a trained one exists.
 *
 * @example
 * ```ts
 * import { llamaConfig, TINY_LLAMA_SHAPE } from "./config.ts";
 * if (llamaConfig(TINY_LLAMA_SHAPE).headDim !== 64) throw new Error();
 * ```
 */
export const TINY_LLAMA_SHAPE: Readonly<Partial<LlamaConfig>> = {
  hiddenSize: 256,
  numLayers: 4,
  numHeads: 4,
  numKvHeads: 4,
  intermediateSize: 768,
  vocabSize: 4096,
  maxPositionEmbeddings: 4096,
};

/** A reader of an empty `config.json`: every family option at its default. */
const DEFAULTS: ConfigReader = {
  bool: () => false,
  posIntOrNull: () => null,
  raw: () => undefined,
};

/**
 * A configuration from a few fields (the rest take small-model defaults): for tests, examples and
 * benchmarks. The bias flags follow the architecture unless given.
 *
 * @example
 * ```ts
 * import { llamaConfig } from "./config.ts";
 * const c = llamaConfig({ hiddenSize: 64, numHeads: 4 });
 * if (c.headDim !== 16) throw new Error("unexpected");
 * ```
 */
export function llamaConfig(partial: Partial<LlamaConfig> = {}): LlamaConfig {
  const architecture = partial.architecture ?? "LlamaForCausalLM";
  const hiddenSize = partial.hiddenSize ?? 32;
  const numHeads = partial.numHeads ?? 4;
  return {
    architecture,
    vocabSize: 64,
    hiddenSize,
    intermediateSize: 64,
    numLayers: 2,
    numHeads,
    numKvHeads: numHeads,
    headDim: Math.floor(hiddenSize / numHeads),
    ropeTheta: 10000,
    ropeScaling: { type: "none" },
    rmsNormEps: 1e-5,
    tieWordEmbeddings: false,
    qkvBias: modelFamily(architecture).readOptions(DEFAULTS).qkvBias,
    oBias: false,
    mlpBias: false,
    slidingWindow: null,
    slidingWindowFromLayer: 0,
    maxPositionEmbeddings: 4096,
    bosTokenId: null,
    eosTokenIds: [],
    quantization: null,
    ...partial,
  };
}

/**
 * The Hugging Face `config.json` object for a configuration (inverse of
 * {@linkcode parseHfConfig}).
 *
 * @example
 * ```ts
 * import { llamaConfig, parseHfConfig, toHfConfig } from "./config.ts";
 * const c = llamaConfig({ ropeScaling: { type: "linear", factor: 2 } });
 * const back = parseHfConfig(toHfConfig(c));
 * if (back.ropeScaling.type !== "linear") throw new Error("unexpected");
 * ```
 */
export function toHfConfig(c: LlamaConfig): Record<string, unknown> {
  const family = modelFamily(c.architecture);
  const out: Record<string, unknown> = {
    architectures: [c.architecture],
    model_type: family.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    max_position_embeddings: c.maxPositionEmbeddings,
    torch_dtype: "float32",
  };
  const s = c.ropeScaling;
  if (s.type === "linear") out.rope_scaling = { rope_type: "linear", factor: s.factor };
  if (s.type === "llama3") {
    out.rope_scaling = {
      rope_type: "llama3",
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    };
  }
  Object.assign(out, family.writeOptions(c));
  if (c.bosTokenId !== null) out.bos_token_id = c.bosTokenId;
  if (c.eosTokenIds.length) {
    out.eos_token_id = c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds;
  }
  if (c.quantization) out.quantization_config = c.quantization;
  return out;
}
