// This module is browser compatible.
/**
 * The model descriptor: one {@linkcode ModelFamily} value per architecture says everything the
 * runtime varies on — norm kind and placement, activation, which projections carry biases, the
 * RoPE variant, tied embeddings, the tensor names and which tensors are projections, and the
 * attention options (sliding window) — and how each is read from and written to `config.json`.
 * The config parser (`config.ts`), the model builder and random weights (`build.ts`,
 * `random.ts`), the forwards (`reference.ts`, `llama.ts`, `gpu_llama.ts`), the trainer
 * (`src/train/llama_train.ts`) and the checkpoint job (`src/jobs/quantize_checkpoint.ts`) read it.
 *
 * Adding a member of the family is one more entry in {@linkcode MODEL_FAMILIES} (see
 * `docs/architecture.md`); a family that needs a new operation also adds that operation.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** The projections of one decoder layer, named as in Hugging Face checkpoints. */
export const LINEAR_KINDS = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
] as const;

/** One of {@linkcode LINEAR_KINDS}. */
export type LinearKind = typeof LINEAR_KINDS[number];

/** Architectures the runtime can load (the keys of {@linkcode MODEL_FAMILIES}). */
export const SUPPORTED_ARCHITECTURES = [
  "LlamaForCausalLM",
  "Qwen2ForCausalLM",
  "MistralForCausalLM",
] as const;

/** One of {@linkcode SUPPORTED_ARCHITECTURES}. */
export type Architecture = typeof SUPPORTED_ARCHITECTURES[number];

/** The options of a configuration that differ between members of the family. */
export interface FamilyOptions {
  /** q/k/v projections have a bias. */
  qkvBias: boolean;
  /** The output projection has a bias. */
  oBias: boolean;
  /** The MLP projections have a bias. */
  mlpBias: boolean;
  /** Sliding attention window in keys, or null. */
  slidingWindow: number | null;
  /** First layer that uses the sliding window. */
  slidingWindowFromLayer: number;
}

/** Reads keys of a `config.json`, throwing a `bad-file` error naming a key of the wrong type. */
export interface ConfigReader {
  /** A boolean key (false when absent). */
  bool(key: string): boolean;
  /** A positive integer key, or null when absent. */
  posIntOrNull(key: string): number | null;
  /** The raw value of a key. */
  raw(key: string): unknown;
}

/** Where a model's tensors live in its checkpoint. */
export interface TensorNames {
  /** The token embedding `[vocab, d]`. */
  embed: string;
  /** The final norm `[d]`. */
  finalNorm: string;
  /** The LM head `[vocab, d]` (absent when embeddings are tied). */
  lmHead: string;
  /** The norm before attention of layer `l`. */
  inputNorm(l: number): string;
  /** The norm before the MLP of layer `l`. */
  postNorm(l: number): string;
  /** The prefix of a projection (`<prefix>.weight`, `<prefix>.bias`). */
  projection(l: number, kind: LinearKind): string;
}

/** One architecture family member: what the runtime reads instead of switching on names. */
export interface ModelFamily {
  /** The `architectures` entry of `config.json`. */
  architecture: Architecture;
  /** The `model_type` of `config.json`. */
  modelType: string;
  /** Normalization: RMSNorm before attention and before the MLP, and after the last layer. */
  norm: { kind: "rms"; placement: "pre" };
  /** Activation of the gated MLP: `down(silu(gate(x)) · up(x))` (SwiGLU). */
  activation: "silu";
  /** RoPE: the rotate-half (GPT-NeoX) layout over the whole head, with optional scaling. */
  rope: "rotate-half";
  /** Whether `tie_word_embeddings` defaults to true (it is read from `config.json` either way). */
  tiedEmbeddingsDefault: boolean;
  /** Tensor names in checkpoints. */
  tensors: TensorNames;
  /**
   * Tensors a whole-checkpoint quantization keeps dense by default: embeddings and (unless asked
   * otherwise) the LM head.
   */
  denseByDefault: { embedding: RegExp; lmHead: RegExp };
  /** Biases and attention options from a `config.json` (through a validating reader). */
  readOptions(read: ConfigReader): FamilyOptions;
  /** The `config.json` keys for these options (inverse of `readOptions`). */
  writeOptions(o: FamilyOptions): Record<string, unknown>;
}

/**
 * The projections in the MLP (the others are in self-attention).
 *
 * @example
 * ```ts
 * import { isMlpProjection } from "./family.ts";
 * if (!isMlpProjection("down_proj") || isMlpProjection("q_proj")) throw new Error();
 * ```
 */
export function isMlpProjection(kind: LinearKind): boolean {
  return kind === "gate_proj" || kind === "up_proj" || kind === "down_proj";
}

/** The tensor names of Llama, Qwen2 and Mistral checkpoints (they share them). */
export const LLAMA_TENSOR_NAMES: TensorNames = {
  embed: "model.embed_tokens.weight",
  finalNorm: "model.norm.weight",
  lmHead: "lm_head.weight",
  inputNorm: (l) => `model.layers.${l}.input_layernorm.weight`,
  postNorm: (l) => `model.layers.${l}.post_attention_layernorm.weight`,
  projection: (l, kind) =>
    `model.layers.${l}.${isMlpProjection(kind) ? "mlp" : "self_attn"}.${kind}`,
};

/**
 * Embedding and LM-head names across common checkpoint layouts (GPT-2 `wte`, NeoX `embed_in`,
 * BERT `word_embeddings`, …): what a quantization keeps dense in a folder of any family.
 */
export const GENERIC_DENSE_TENSORS: { embedding: RegExp; lmHead: RegExp } = {
  embedding:
    /(^|\.)(embed_tokens|embed_in|embed_positions|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|embeddings?|tok_embeddings)(\.|$)/,
  lmHead: /(^|\.)(lm_head|embed_out)(\.|$)|^output\.weight$/,
};

const COMMON = {
  norm: { kind: "rms", placement: "pre" },
  activation: "silu",
  rope: "rotate-half",
  tiedEmbeddingsDefault: false,
  tensors: LLAMA_TENSOR_NAMES,
  denseByDefault: GENERIC_DENSE_TENSORS,
} as const;

/** Every supported architecture's descriptor. */
export const MODEL_FAMILIES: Readonly<Record<Architecture, ModelFamily>> = {
  LlamaForCausalLM: {
    ...COMMON,
    architecture: "LlamaForCausalLM",
    modelType: "llama",
    readOptions(read) {
      const attn = read.bool("attention_bias");
      return {
        qkvBias: attn,
        oBias: attn,
        mlpBias: read.bool("mlp_bias"),
        slidingWindow: null,
        slidingWindowFromLayer: 0,
      };
    },
    writeOptions: (o) => ({ attention_bias: o.oBias || o.qkvBias, mlp_bias: o.mlpBias }),
  },
  Qwen2ForCausalLM: {
    ...COMMON,
    architecture: "Qwen2ForCausalLM",
    modelType: "qwen2",
    readOptions(read) {
      const sliding = read.bool("use_sliding_window");
      const fromLayer = read.raw("max_window_layers");
      return {
        qkvBias: true,
        oBias: false,
        mlpBias: false,
        slidingWindow: sliding ? read.posIntOrNull("sliding_window") : null,
        slidingWindowFromLayer: sliding && typeof fromLayer === "number" ? fromLayer : 0,
      };
    },
    writeOptions: (o) => ({
      use_sliding_window: o.slidingWindow !== null,
      sliding_window: o.slidingWindow,
      max_window_layers: o.slidingWindowFromLayer,
    }),
  },
  MistralForCausalLM: {
    ...COMMON,
    architecture: "MistralForCausalLM",
    modelType: "mistral",
    readOptions: (read) => ({
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      slidingWindow: read.posIntOrNull("sliding_window"),
      slidingWindowFromLayer: 0,
    }),
    writeOptions: (o) => ({ sliding_window: o.slidingWindow }),
  },
};

/**
 * The descriptor of `architecture`.
 *
 * @example
 * ```ts
 * import { modelFamily } from "./family.ts";
 * const f = modelFamily("Qwen2ForCausalLM");
 * const read = { bool: () => false, posIntOrNull: () => null, raw: () => undefined };
 * if (!f.readOptions(read).qkvBias || f.modelType !== "qwen2") throw new Error();
 * ```
 */
export function modelFamily(architecture: Architecture): ModelFamily {
  return MODEL_FAMILIES[architecture];
}

/**
 * The architecture a `config.json` names: its first supported `architectures` entry, else (with
 * no `architectures`) the family of its `model_type`; undefined when neither is supported.
 *
 * @example
 * ```ts
 * import { architectureOf } from "./family.ts";
 * if (architectureOf({ model_type: "mistral" }) !== "MistralForCausalLM") throw new Error();
 * if (architectureOf({ architectures: ["GPT2LMHeadModel"] }) !== undefined) throw new Error();
 * ```
 */
export function architectureOf(json: Readonly<Record<string, unknown>>): Architecture | undefined {
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  const named = archs.find((a): a is Architecture =>
    (SUPPORTED_ARCHITECTURES as readonly string[]).includes(a)
  );
  if (named || archs.length > 0) return named;
  return Object.values(MODEL_FAMILIES).find((f) => f.modelType === json.model_type)?.architecture;
}

/** The block every forward of this runtime implements (norm, activation, RoPE). */
const IMPLEMENTED = { norm: "rms/pre", activation: "silu", rope: "rotate-half" };

/**
 * Throws `unsupported` when a forward (named by `where`) cannot run `family`: its norm, activation
 * or RoPE variant is not the one the reference, CPU, WebGPU and training forwards implement. A
 * family that brings a new variant adds it to each forward (and here) before it loads.
 *
 * @example
 * ```ts
 * import { checkForwardSupports, modelFamily } from "./family.ts";
 * checkForwardSupports(modelFamily("MistralForCausalLM"), "the CPU forward");
 * ```
 */
export function checkForwardSupports(family: ModelFamily, where: string): void {
  const got = {
    norm: `${family.norm.kind}/${family.norm.placement}`,
    activation: family.activation,
    rope: family.rope,
  };
  for (const key of ["norm", "activation", "rope"] as const) {
    if (got[key] !== IMPLEMENTED[key]) {
      throw new QuantlabError(
        "unsupported",
        `${family.architecture} uses ${key} "${got[key]}", which ${where} does not implement ` +
          `(it implements "${IMPLEMENTED[key]}")`,
      );
    }
  }
}
