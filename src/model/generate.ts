// This module is browser compatible.
/**
 * Text generation with a KV cache: greedy decoding, or temperature / top-p (nucleus) sampling
 * drawn from the project PRNG (`randUniform(seed, step)`), so a seed reproduces a sample on any
 * backend whose logits agree.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randUniform } from "../core/prng.ts";
import type { CausalLM } from "./types.ts";

/** How the next token is chosen. */
export interface SamplingOptions {
  /** 0 (default) is greedy; otherwise logits are divided by it before the softmax. */
  temperature?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches this (default 1). */
  topP?: number;
  /** Seed of the sampling stream (default 0). */
  seed?: number;
}

/**
 * The next token from `logits` (`[vocab]`): argmax when temperature is 0 (lowest id on ties),
 * else a draw from the temperature-scaled, top-p-truncated softmax using uniform number `step`
 * of stream `seed`.
 *
 * @example
 * ```ts
 * import { sampleToken } from "./generate.ts";
 * const logits = new Float32Array([0, 3, 1]);
 * if (sampleToken(logits) !== 1) throw new Error("greedy");
 * if (sampleToken(logits, { temperature: 1, topP: 0.5, seed: 9 }, 0) !== 1) throw new Error("top-p");
 * ```
 */
export function sampleToken(logits: Float32Array, opts: SamplingOptions = {}, step = 0): number {
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new QuantlabError(
      "bad-argument",
      `Temperature ${temperature} is not valid; use a number ≥ 0`,
    );
  }
  if (!(topP > 0 && topP <= 1)) {
    throw new QuantlabError("bad-argument", `top-p ${topP} is not valid; use a number in (0, 1]`);
  }
  const V = logits.length;
  let best = 0;
  for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  const m = logits[best]!;
  const p = new Float64Array(V);
  let z = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp((logits[i]! - m) / temperature);
    p[i] = e;
    z += e;
  }
  const order = Array.from({ length: V }, (_, i) => i);
  order.sort((a, b) => p[b]! - p[a]! || a - b);
  // Nucleus: the shortest prefix of the sorted tokens with mass ≥ topP.
  let keep = 0, mass = 0;
  while (keep < V && (keep === 0 || mass < topP * z)) mass += p[order[keep++]!]!;
  const u = randUniform(opts.seed ?? 0, step) * mass;
  let acc = 0;
  for (let r = 0; r < keep; r++) {
    acc += p[order[r]!]!;
    if (u < acc) return order[r]!;
  }
  return order[keep - 1]!;
}

/** Options of {@linkcode generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens. */
  maxNewTokens: number;
  /** Token ids that end generation (included in the output). */
  stopTokens?: readonly number[];
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number) => void | Promise<void>;
  /**
   * Greedy decoding (temperature 0) on a model with `greedy` (WebGPU): tokens chained on the
   * device per readback (default 16; 0 or 1: one forward and readback per token). Tokens stream
   * in chunks of this size.
   */
  greedyChunk?: number;
}

/** What {@linkcode generate} produced. */
export interface GenerateResult {
  /** The new tokens (without the prompt). */
  tokens: number[];
  /** Prompt length. */
  promptTokens: number;
  /** Seconds of the prompt's forward pass (prefill). */
  prefillSeconds: number;
  /** Seconds of the one-token steps. */
  decodeSeconds: number;
  /** Why it stopped. */
  stopReason: "stop-token" | "length";
}

/**
 * Generates up to `maxNewTokens` tokens after `prompt` (never past `max_position_embeddings`):
 * one forward over the prompt into a KV cache (prefill), then one cached forward per new token
 * (decode).
 *
 * @example
 * ```ts
 * import { generate } from "./generate.ts";
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig();
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const r = await generate(model, [1, 2, 3], { maxNewTokens: 4 });
 * if (r.tokens.length !== 4) throw new Error("unexpected");
 * ```
 */
export async function generate(
  model: CausalLM,
  prompt: readonly number[],
  opts: GenerateOptions,
): Promise<GenerateResult> {
  if (prompt.length === 0) {
    throw new QuantlabError("bad-argument", "The prompt has no tokens; give at least one");
  }
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
    throw new QuantlabError(
      "bad-argument",
      `maxNewTokens ${opts.maxNewTokens} is not valid; use an integer ≥ 0`,
    );
  }
  const context = model.config.maxPositionEmbeddings;
  if (prompt.length > context) {
    throw new QuantlabError(
      "bad-argument",
      `The prompt has ${prompt.length} tokens; the model's context (max_position_embeddings) ` +
        `is ${context}`,
    );
  }
  // Generation stops at the model's context length.
  const maxNew = Math.min(opts.maxNewTokens, context - prompt.length);
  const stop = new Set(opts.stopTokens ?? []);
  const out: number[] = [];
  if (maxNew === 0) {
    return {
      tokens: out,
      promptTokens: prompt.length,
      prefillSeconds: 0,
      decodeSeconds: 0,
      stopReason: "length",
    };
  }
  const cache = model.newCache(prompt.length + maxNew);
  const t0 = performance.now();
  let logits = await model.forward(prompt, { cache, lastOnly: true });
  const t1 = performance.now();
  let stopReason: GenerateResult["stopReason"] = "length";
  const chunk = opts.greedyChunk ?? 16;
  if (!Number.isInteger(chunk) || chunk < 0) {
    throw new QuantlabError(
      "bad-argument",
      `greedyChunk ${chunk} is not valid; use an integer ≥ 0`,
    );
  }
  const chained = model.greedy && (opts.temperature ?? 0) === 0 && chunk > 1;
  // Each token: append, stream, and say whether a stop token ended generation.
  const emit = async (id: number): Promise<boolean> => {
    out.push(id);
    await opts.onToken?.(id);
    if (stop.has(id)) stopReason = "stop-token";
    return stop.has(id);
  };
  let id = sampleToken(logits, opts, 0);
  let done = await emit(id);
  for (let step = 1; step < maxNew && !done;) {
    if (chained) {
      // Greedy steps chained on the device: one readback per chunk.
      const ids = await model.greedy!(id, cache, Math.min(chunk, maxNew - step));
      for (const next of ids) {
        id = next;
        step++;
        if ((done = await emit(id))) break;
      }
    } else {
      logits = await model.forward([id], { cache, lastOnly: true });
      id = sampleToken(logits, opts, step++);
      done = await emit(id);
    }
  }
  const t2 = performance.now();
  return {
    tokens: out,
    promptTokens: prompt.length,
    prefillSeconds: (t1 - t0) / 1000,
    decodeSeconds: (t2 - t1) / 1000,
    stopReason,
  };
}
