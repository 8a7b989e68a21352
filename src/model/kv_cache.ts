// This module is browser compatible.
/**
 * The KV cache of the CPU forward (`llama.ts`): keys and values of every layer in f32 arrays,
 * grown on demand up to the capacity (the WebGPU one is `kv_cache_gpu.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { KvPositions } from "./kv_positions.ts";

/**
 * Keys and values of every layer for positions `[0, length)` (CPU), grown on demand up to
 * `capacity`.
 *
 * @example
 * ```ts
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig();
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const cache = model.newCache(16);
 * await model.forward([1, 2, 3], { cache });
 * if (cache.length !== 3) throw new Error("unexpected");
 * ```
 */
export class KVCache extends KvPositions {
  /** Keys per layer, `[positions, kvHeads · headDim]`. */
  readonly k: Float32Array[];
  /** Values per layer. */
  readonly v: Float32Array[];
  /** Row width `kvHeads · headDim`. */
  readonly kvDim: number;
  /** Most positions the cache may hold. */
  readonly capacity: number;
  #rows = 0;

  /** An empty cache for `layers` layers of width `kvDim`. */
  constructor(layers: number, kvDim: number, capacity: number) {
    super();
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new QuantlabError(
        "bad-argument",
        `KV cache capacity ${capacity} is not an integer ≥ 1`,
      );
    }
    this.kvDim = kvDim;
    this.capacity = capacity;
    this.k = Array.from({ length: layers }, () => new Float32Array(0));
    this.v = Array.from({ length: layers }, () => new Float32Array(0));
  }

  /** Makes room for `n` positions (doubling). */
  reserve(n: number): void {
    if (n > this.capacity) {
      throw new QuantlabError(
        "bad-argument",
        `KV cache holds at most ${this.capacity} positions; ${n} were asked for`,
      );
    }
    if (n <= this.#rows) return;
    const rows = Math.min(this.capacity, Math.max(n, this.#rows * 2, 16));
    for (let l = 0; l < this.k.length; l++) {
      const k = new Float32Array(rows * this.kvDim), v = new Float32Array(rows * this.kvDim);
      k.set(this.k[l]!.subarray(0, this.length * this.kvDim));
      v.set(this.v[l]!.subarray(0, this.length * this.kvDim));
      this.k[l] = k;
      this.v[l] = v;
    }
    this.#rows = rows;
  }
}
