// This module is browser compatible.
/**
 * The shared shapes of the model runtime: the names of a decoder layer's projections, and the
 * {@linkcode CausalLM} interface that the CPU model (`llama.ts`) and the WebGPU model
 * (`gpu_llama.ts`) both implement, so generation and perplexity run on either.
 *
 * @module
 */
import type { LlamaConfig } from "./config.ts";

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

/**
 * The checkpoint prefix of a projection, e.g. `model.layers.3.self_attn.q_proj` (its weight is
 * `<prefix>.weight`).
 *
 * @example
 * ```ts
 * import { linearName } from "./types.ts";
 * if (linearName(3, "down_proj") !== "model.layers.3.mlp.down_proj") throw new Error();
 * ```
 */
export function linearName(layer: number, kind: LinearKind): string {
  const block = kind === "gate_proj" || kind === "up_proj" || kind === "down_proj"
    ? "mlp"
    : "self_attn";
  return `model.layers.${layer}.${block}.${kind}`;
}

/** A key/value cache of a {@linkcode CausalLM}: positions `[0, length)` are filled. */
export interface KVCacheLike {
  /** Positions held. */
  readonly length: number;
  /** Forgets every position (keeps the memory). */
  reset(): void;
}

/** Options of {@linkcode CausalLM.forward}. */
export interface ForwardOptions {
  /** Continue from (and append to) this cache; the tokens sit at positions `cache.length…`. */
  cache?: KVCacheLike;
  /** Return only the last position's logits (`[vocab]`) instead of `[tokens, vocab]`. */
  lastOnly?: boolean;
}

/** A causal language model on some backend. */
export interface CausalLM {
  /** The configuration. */
  readonly config: LlamaConfig;
  /** Where it runs. */
  readonly backend: "cpu" | "webgpu";
  /** An empty KV cache for up to `capacity` positions. */
  newCache(capacity: number): KVCacheLike;
  /** Logits `[tokens.length, vocab]` (or `[vocab]` with `lastOnly`), row-major. */
  forward(tokens: ArrayLike<number>, opts?: ForwardOptions): Promise<Float32Array>;
  /**
   * Negative log-likelihoods (nats) of `tokens[t]` given `tokens[0..t)` for t in `[from, n)`
   * (`from ≥ 1`), as one window without a cache.
   */
  nll(tokens: ArrayLike<number>, from?: number): Promise<Float64Array>;
  /**
   * Optional: `steps` greedy one-token forwards from `first` chained on the device, returning
   * the tokens chosen (argmax, lowest index among ties) with one readback (WebGPU models).
   */
  greedy?(first: number, cache: KVCacheLike, steps: number): Promise<Uint32Array>;
  /** Frees backend resources (GPU buffers). */
  dispose(): void;
}
