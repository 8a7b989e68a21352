// This module is browser compatible.
/**
 * The KV cache of the WebGPU forward (`gpu_llama.ts`): keys and values of every layer in GPU
 * buffers, allocated for the whole capacity up front (the CPU one is `kv_cache.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Gpu } from "../gpu/device.ts";
import { KvPositions } from "./kv_positions.ts";

/**
 * A KV cache in GPU memory, allocated for `capacity` positions up front.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { GpuLlama } from "./gpu_llama.ts";
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const c = llamaConfig();
 *   const model = await GpuLlama.create(LlamaModel.fromWeights(c, randomLlamaWeights(c, 1)), gpu);
 *   const cache = model.newCache(8);
 *   await model.forward([1, 2], { cache, lastOnly: true });
 *   if (cache.length !== 2) throw new Error("unexpected");
 *   model.dispose();
 * }
 * ```
 */
export class GpuKVCache extends KvPositions {
  /** Keys per layer, `[capacity, kvDim]`. */
  readonly k: GPUBuffer[];
  /** Values per layer. */
  readonly v: GPUBuffer[];
  /** Most positions. */
  readonly capacity: number;
  /** The model that made it. */
  readonly owner: object;

  /** Allocates the buffers. */
  constructor(gpu: Gpu, owner: object, layers: number, kvDim: number, capacity: number) {
    super();
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new QuantlabError(
        "bad-argument",
        `KV cache capacity ${capacity} is not an integer ≥ 1`,
      );
    }
    this.owner = owner;
    this.capacity = capacity;
    this.k = [];
    this.v = [];
    for (let l = 0; l < layers; l++) {
      this.k.push(gpu.storage(capacity * kvDim * 4, `k cache ${l}`));
      this.v.push(gpu.storage(capacity * kvDim * 4, `v cache ${l}`));
    }
  }

  /** Frees the buffers. */
  destroy(): void {
    for (const b of [...this.k, ...this.v]) b.destroy();
  }
}
