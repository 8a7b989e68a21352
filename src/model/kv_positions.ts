// This module is browser compatible.
/**
 * The position count of a KV cache, shared by the CPU cache (`kv_cache.ts`) and the WebGPU one
 * (`kv_cache_gpu.ts`): how many positions are filled, forgetting them, keeping a prefix.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { KVCacheLike } from "./types.ts";

/**
 * Filled positions of a KV cache; subclasses hold the keys and values.
 *
 * @example
 * ```ts
 * import { KvPositions } from "./kv_positions.ts";
 * const c = new KvPositions();
 * c.advance(5);
 * c.truncate(2);
 * if (c.length !== 2) throw new Error();
 * ```
 */
export class KvPositions implements KVCacheLike {
  #length = 0;

  /** Positions held. */
  get length(): number {
    return this.#length;
  }

  /** Forgets every position (keeps the memory). */
  reset(): void {
    this.#length = 0;
  }

  /** Keeps only positions `[0, length)` (e.g. to reuse a prompt's keys and values). */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.#length) {
      throw new QuantlabError(
        "bad-argument",
        `Cannot truncate a KV cache of ${this.#length} positions to ${length}`,
      );
    }
    this.#length = length;
  }

  /** Marks `n` more positions as filled (after every layer wrote them). */
  advance(n: number): void {
    this.#length += n;
  }
}
