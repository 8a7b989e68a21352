// This module is browser compatible.
/**
 * The shared shapes of the model runtime: the names of a decoder layer's projections, and the
 * {@linkcode CausalLM} interface that the CPU model (`llama.ts`) and the WebGPU model
 * (`gpu_llama.ts`) both implement, so generation and perplexity run on either.
 *
 * @module
 */
import type { LlamaConfig } from "./config.ts";
import { type LinearKind, LLAMA_TENSOR_NAMES } from "./family.ts";

export { LINEAR_KINDS, type LinearKind } from "./family.ts";

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
  return LLAMA_TENSOR_NAMES.projection(layer, kind);
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

/**
 * `[out, in]` of each projection of a configuration.
 *
 * @example
 * ```ts
 * import { projectionShape } from "./types.ts";
 * import { llamaConfig } from "./config.ts";
 * const c = llamaConfig({ hiddenSize: 32, numHeads: 4, numKvHeads: 2 });
 * if (projectionShape(c, "k_proj").join() !== "16,32") throw new Error("unexpected");
 * ```
 */
export function projectionShape(c: LlamaConfig, kind: LinearKind): [number, number] {
  const d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  switch (kind) {
    case "q_proj":
      return [q, d];
    case "k_proj":
    case "v_proj":
      return [kv, d];
    case "o_proj":
      return [d, q];
    case "gate_proj":
    case "up_proj":
      return [I, d];
    case "down_proj":
      return [d, I];
  }
}

/**
 * True when the projection `kind` has a bias in configuration `c`.
 *
 * @example
 * ```ts
 * import { projectionHasBias } from "./types.ts";
 * import { llamaConfig } from "./config.ts";
 * const qwen = llamaConfig({ architecture: "Qwen2ForCausalLM" });
 * if (!projectionHasBias(qwen, "v_proj") || projectionHasBias(qwen, "o_proj")) throw new Error();
 * ```
 */
export function projectionHasBias(c: LlamaConfig, kind: LinearKind): boolean {
  if (kind === "q_proj" || kind === "k_proj" || kind === "v_proj") return c.qkvBias;
  if (kind === "o_proj") return c.oBias;
  return c.mlpBias;
}
