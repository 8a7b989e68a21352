// This module is browser compatible.
/**
 * The WebGPU Llama-family model: every op on the GPU (embedding, RMSNorm, projections, RoPE,
 * attention, SwiGLU, residual adds, LM head, NLL), one submission per forward, and no readback
 * until logits (or NLLs) are needed. Keys and values are written straight into a GPU KV cache by
 * the k/v projections. Weights come from a CPU {@linkcode LlamaModel}; a projection that
 * implements `Linear.toGpu` (a quantized LUT kernel) runs as itself, a dense one on the tiled f32
 * GEMM kernel.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Dispatch, Gpu } from "../gpu/device.ts";
import { GpuKVCache } from "./kv_cache_gpu.ts";
import { layerWindow, type LlamaConfig } from "./config.ts";
import { denseGpuLinear, type LlamaKernels, llamaKernels, UniformPool } from "./gpu_ops.ts";
import { checkLinearShape, type GpuLinear, type Linear } from "./linear.ts";
import type { LlamaModel } from "./llama.ts";
import { RopeTable } from "./rope.ts";
import { checkForwardSupports, modelFamily } from "./family.ts";
import {
  type CausalLM,
  type ForwardOptions,
  type KVCacheLike,
  LINEAR_KINDS,
  type LinearKind,
  linearName,
  projectionShape,
} from "./types.ts";

/** Puts `linear` on the GPU: its own kernel when it has one, else its dense weight. */
async function linearToGpu(gpu: Gpu, linear: Linear, what: string): Promise<GpuLinear> {
  if (linear.toGpu) return await linear.toGpu(gpu);
  if (linear.weightF32) {
    return await denseGpuLinear(
      gpu,
      linear.weightF32(),
      linear.outFeatures,
      linear.inFeatures,
      linear.bias,
    );
  }
  throw new QuantlabError(
    "unsupported",
    `Linear ${what} has neither a GPU kernel (toGpu) nor a dense weight (weightF32)`,
  );
}

interface GpuLayer {
  inputNorm: GPUBuffer;
  postNorm: GPUBuffer;
  linears: Record<LinearKind, GpuLinear>;
}

/** Activation buffers sized for `rows` positions. */
interface Scratch {
  rows: number;
  x: GPUBuffer;
  xn: GPUBuffer;
  q: GPUBuffer;
  att: GPUBuffer;
  tmp: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  tokens: GPUBuffer;
}

/** Bytes of logits the NLL head computes per chunk of rows. */
const NLL_CHUNK_BYTES = 64 << 20;

/** Options of {@linkcode GpuLlama.create}. */
export interface GpuLlamaOptions {
  /** Rows of logits per LM-head chunk in {@linkcode GpuLlama.nll} (default: 64 MiB of logits). */
  nllChunkRows?: number;
}

/**
 * A Llama-family model on WebGPU.
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
 *   const logits = await model.forward([1, 2, 3]);
 *   if (logits.length !== 3 * c.vocabSize) throw new Error("unexpected");
 *   model.dispose();
 * }
 * ```
 */
export class GpuLlama implements CausalLM {
  readonly config: LlamaConfig;
  readonly backend = "webgpu" as const;
  /** The device. */
  readonly gpu: Gpu;
  readonly #k: LlamaKernels;
  readonly #embed: GPUBuffer;
  readonly #norm: GPUBuffer;
  readonly #layers: GpuLayer[];
  #lmHead: GpuLinear;
  readonly #rope: RopeTable;
  #ropeBuf: GPUBuffer | null = null;
  #ropePositions = 0;
  #scratch: Scratch | null = null;
  #ownCache: GpuKVCache | null = null;
  readonly #uniforms: UniformPool;
  readonly #nllChunkRows: number | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    config: LlamaConfig,
    gpu: Gpu,
    kernels: LlamaKernels,
    parts: { embed: GPUBuffer; norm: GPUBuffer; layers: GpuLayer[]; lmHead: GpuLinear },
    opts: GpuLlamaOptions,
  ) {
    this.config = config;
    this.gpu = gpu;
    this.#k = kernels;
    this.#embed = parts.embed;
    this.#norm = parts.norm;
    this.#layers = parts.layers;
    this.#lmHead = parts.lmHead;
    this.#rope = new RopeTable(config);
    this.#uniforms = new UniformPool(gpu);
    this.#nllChunkRows = opts.nllChunkRows;
  }

  /** Uploads the weights of a CPU model (its current projections, swapped ones included). */
  static async create(model: LlamaModel, gpu: Gpu, opts: GpuLlamaOptions = {}): Promise<GpuLlama> {
    const c = model.config;
    checkForwardSupports(modelFamily(c.architecture), "the WebGPU forward");
    if (c.headDim > 256) {
      throw new QuantlabError(
        "unsupported",
        `The WebGPU attention kernel handles head_dim ≤ 256; this model has ${c.headDim}`,
      );
    }
    const kernels = await llamaKernels(gpu);
    const max = gpu.limits.maxStorageBufferBindingSize;
    // A 16-bit embedding is widened here (the WebGPU path holds f32 weights).
    const embedding = model.embedding;
    if (embedding.byteLength > max) {
      throw new QuantlabError(
        "gpu",
        `The embedding needs ${embedding.byteLength} bytes in one binding; this device ` +
          `allows ${max}`,
      );
    }
    const layers: GpuLayer[] = [];
    for (let l = 0; l < model.numLayers; l++) {
      const norms = model.norms(l);
      const linears = {} as Record<LinearKind, GpuLinear>;
      for (const kind of LINEAR_KINDS) {
        linears[kind] = await linearToGpu(gpu, model.getLinear(l, kind), linearName(l, kind));
      }
      layers.push({
        inputNorm: gpu.storage(norms.inputNorm, "input norm"),
        postNorm: gpu.storage(norms.postNorm, "post norm"),
        linears,
      });
    }
    return new GpuLlama(c, gpu, kernels, {
      embed: gpu.storage(embedding, "embedding"),
      norm: gpu.storage(model.finalNorm, "final norm"),
      layers,
      lmHead: await linearToGpu(gpu, model.lmHead, "lm_head"),
    }, opts);
  }

  /** Replaces projection `kind` of layer `layer` (uploaded now); frees the old GPU copy. */
  async setLinear(layer: number, kind: LinearKind, linear: Linear): Promise<void> {
    const L = this.#layers[layer];
    if (!L) {
      throw new QuantlabError(
        "bad-argument",
        `Layer ${layer} does not exist; use 0 to ${this.#layers.length - 1}`,
      );
    }
    const [o, i] = projectionShape(this.config, kind);
    checkLinearShape(linear, o, i, linearName(layer, kind));
    const g = await linearToGpu(this.gpu, linear, linearName(layer, kind));
    await this.#queue;
    L.linears[kind].destroy();
    L.linears[kind] = g;
  }

  /** An empty GPU KV cache for up to `capacity` positions. */
  newCache(capacity: number = this.config.maxPositionEmbeddings): GpuKVCache {
    const c = this.config;
    return new GpuKVCache(this.gpu, this, c.numLayers, c.numKvHeads * c.headDim, capacity);
  }

  /** Logits `[T, vocab]` (or `[vocab]` with `lastOnly`); appends to `opts.cache` when given. */
  forward(tokens: ArrayLike<number>, opts: ForwardOptions = {}): Promise<Float32Array> {
    return this.#serial(async () => {
      const T = tokens.length;
      if (T === 0) throw new QuantlabError("bad-argument", "forward() needs at least one token");
      const cache = this.#cacheFor(opts.cache, T);
      const V = this.config.vocabSize;
      const lastOnly = opts.lastOnly ?? false;
      const rows = lastOnly ? 1 : T;
      const logits = this.gpu.storage(rows * V * 4, "logits");
      try {
        const s = this.#prepare(tokens, cache);
        const list = this.#trunk(s, T, cache);
        const first = lastOnly ? T - 1 : 0;
        list.push(this.#finalNorm(s, first, rows));
        list.push(
          ...this.#lmHead.encode(this.#uniforms, {
            x: s.xn,
            xOffset: 0,
            out: logits,
            outOffset: 0,
            batch: rows,
          }),
        );
        await this.gpu.runMany("llama forward", list, { wait: false });
        cache.advance(T);
        return new Float32Array(await this.gpu.read(logits, rows * V * 4));
      } finally {
        logits.destroy();
      }
    });
  }

  /**
   * Greedy decoding with one readback for `steps` tokens: from `first` (the token at the cache's
   * next position) it runs `steps` cached one-token forwards in one submission, each feeding the
   * argmax of its logits (the lowest index among equal maxima, as `sampleToken`) to the
   * next through a GPU buffer, and returns the `steps` tokens chosen. Same tokens as `steps` calls
   * of `forward([id], { cache, lastOnly: true })` + argmax; appends `steps` positions to `cache`.
   * Exists because every awaited GPU completion costs Deno's device-poll interval (~11 ms).
   */
  greedy(first: number, cache: KVCacheLike, steps: number): Promise<Uint32Array> {
    return this.#serial(async () => {
      if (!Number.isInteger(steps) || steps < 1) {
        throw new QuantlabError("bad-argument", `Greedy steps ${steps} is not an integer ≥ 1`);
      }
      const c = this.#cacheFor(cache, steps);
      const V = this.config.vocabSize;
      const start = c.length;
      const s = this.#prepare([first], c, steps);
      const logits = this.gpu.storage(V * 4, "greedy logits");
      const ids = this.gpu.storage(steps * 4, "greedy ids");
      try {
        const list: Dispatch[] = [];
        for (let k = 0; k < steps; k++) {
          list.push(...this.#trunk(s, 1, c), this.#finalNorm(s, 0, 1));
          list.push(
            ...this.#lmHead.encode(this.#uniforms, {
              x: s.xn,
              xOffset: 0,
              out: logits,
              outOffset: 0,
              batch: 1,
            }),
            this.#k.argmax(this.#uniforms, {
              logits,
              offset: 0,
              n: V,
              tokens: s.tokens,
              ids,
              slot: k,
            }),
          );
          c.advance(1); // the next step's position (#trunk reads it while encoding)
        }
        await this.gpu.runMany("llama greedy", list, { wait: false });
        return new Uint32Array(await this.gpu.read(ids, steps * 4));
      } catch (e) {
        c.truncate(start);
        throw e;
      } finally {
        logits.destroy();
        ids.destroy();
      }
    });
  }

  /** NLL of `tokens[t]` for t in `[from, n)` as one window (no cache); computed on the GPU. */
  nll(tokens: ArrayLike<number>, from = 1): Promise<Float64Array> {
    return this.#serial(async () => {
      const T = tokens.length;
      if (!Number.isInteger(from) || from < 1 || from > T) {
        throw new QuantlabError(
          "bad-argument",
          `First scored position ${from} is not valid for ${T} tokens; use 1 to ${T}`,
        );
      }
      const n = T - from;
      if (n === 0) return new Float64Array(0);
      const cache = this.#cacheFor(undefined, T);
      const V = this.config.vocabSize;
      const chunk = Math.max(
        1,
        Math.min(n, this.#nllChunkRows ?? Math.floor(NLL_CHUNK_BYTES / (V * 4))),
      );
      const logits = this.gpu.storage(chunk * V * 4, "logits chunk");
      const out = this.gpu.storage(n * 4, "nll");
      try {
        const s = this.#prepare(tokens, cache);
        const list = this.#trunk(s, T, cache);
        // Row t − 1 predicts token t; normalise rows [from − 1, T − 1) into xn rows [0, n).
        list.push(this.#finalNorm(s, from - 1, n));
        for (let r0 = 0; r0 < n; r0 += chunk) {
          const rows = Math.min(chunk, n - r0);
          list.push(
            ...this.#lmHead.encode(this.#uniforms, {
              x: s.xn,
              xOffset: r0 * this.config.hiddenSize,
              out: logits,
              outOffset: 0,
              batch: rows,
            }),
          );
          list.push(
            this.#k.nll(this.#uniforms, {
              logits,
              targets: s.tokens,
              tOffset: from + r0,
              out,
              outOffset: r0,
              rows,
              V,
            }),
          );
        }
        await this.gpu.runMany("llama nll", list, { wait: false });
        return Float64Array.from(new Float32Array(await this.gpu.read(out, n * 4)));
      } finally {
        logits.destroy();
        out.destroy();
      }
    });
  }

  /** Frees every GPU buffer of the model. */
  dispose(): void {
    for (const L of this.#layers) {
      L.inputNorm.destroy();
      L.postNorm.destroy();
      for (const kind of LINEAR_KINDS) L.linears[kind].destroy();
    }
    this.#lmHead.destroy();
    this.#embed.destroy();
    this.#norm.destroy();
    this.#ropeBuf?.destroy();
    this.#freeScratch();
    this.#ownCache?.destroy();
    this.#uniforms.destroy();
  }

  /** Runs GPU work one call at a time (the activation buffers are shared). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #cacheFor(given: KVCacheLike | undefined, T: number): GpuKVCache {
    let cache: GpuKVCache;
    if (given !== undefined) {
      if (!(given instanceof GpuKVCache) || given.owner !== this) {
        throw new QuantlabError(
          "bad-argument",
          "The KV cache was not made by this WebGPU model's newCache()",
        );
      }
      cache = given;
    } else {
      if (!this.#ownCache || this.#ownCache.capacity < T) {
        this.#ownCache?.destroy();
        const c = this.config;
        this.#ownCache = new GpuKVCache(
          this.gpu,
          this,
          c.numLayers,
          c.numKvHeads * c.headDim,
          Math.max(T, 64),
        );
      }
      cache = this.#ownCache;
      cache.reset();
    }
    if (cache.length + T > cache.capacity) {
      throw new QuantlabError(
        "bad-argument",
        `KV cache holds at most ${cache.capacity} positions; ${cache.length + T} were asked for`,
      );
    }
    return cache;
  }

  #freeScratch(): void {
    const s = this.#scratch;
    if (!s) return;
    for (const b of [s.x, s.xn, s.q, s.att, s.tmp, s.gate, s.up, s.tokens]) b.destroy();
    this.#scratch = null;
  }

  /**
   * Sizes the scratch for `T` rows, uploads tokens and RoPE tables (for `positions` new positions,
   * default T); checks token ids.
   */
  #prepare(tokens: ArrayLike<number>, cache: GpuKVCache, positions = tokens.length): Scratch {
    const c = this.config;
    const T = tokens.length;
    const ids = new Uint32Array(T);
    for (let t = 0; t < T; t++) {
      const id = tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new QuantlabError(
          "bad-argument",
          `Token id ${id} at position ${t} is outside the vocabulary [0, ${c.vocabSize})`,
        );
      }
      ids[t] = id;
    }
    this.#uniforms.trim();
    if (!this.#scratch || this.#scratch.rows < T) {
      this.#freeScratch();
      const rows = Math.max(T, 16);
      const g = this.gpu;
      const d = c.hiddenSize, qDim = c.numHeads * c.headDim, I = c.intermediateSize;
      this.#scratch = {
        rows,
        x: g.storage(rows * d * 4, "x"),
        xn: g.storage(rows * d * 4, "xn"),
        q: g.storage(rows * qDim * 4, "q"),
        att: g.storage(rows * qDim * 4, "att"),
        tmp: g.storage(rows * d * 4, "tmp"),
        gate: g.storage(rows * I * 4, "gate"),
        up: g.storage(rows * I * 4, "up"),
        tokens: g.storage(rows * 4, "tokens"),
      };
    }
    this.gpu.write(this.#scratch.tokens, ids);
    const need = cache.length + Math.max(T, positions);
    if (need > this.#ropePositions) {
      this.#rope.ensure(Math.max(need, cache.capacity));
      const P = this.#rope.positions, half = this.#rope.half;
      const table = new Float32Array(2 * P * half);
      table.set(this.#rope.cos);
      table.set(this.#rope.sin, P * half);
      this.#ropeBuf?.destroy();
      this.#ropeBuf = this.gpu.storage(table, "rope table");
      this.#ropePositions = P;
    }
    return this.#scratch;
  }

  /** The dispatches of the embedding and every decoder layer; x holds the result. */
  #trunk(s: Scratch, T: number, cache: GpuKVCache): Dispatch[] {
    const c = this.config, k = this.#k, u = this.#uniforms;
    const d = c.hiddenSize, H = c.numHeads, KvH = c.numKvHeads, hd = c.headDim;
    const qDim = H * hd, kvDim = KvH * hd, I = c.intermediateSize;
    const pos0 = cache.length;
    const table = this.#ropeBuf!;
    const sinOffset = this.#ropePositions * (hd / 2);
    const list: Dispatch[] = [k.embed(u, s.tokens, this.#embed, s.x, T, d)];
    const lin = (g: GpuLinear, x: GPUBuffer, out: GPUBuffer, outOffset = 0): void => {
      list.push(...g.encode(u, { x, xOffset: 0, out, outOffset, batch: T }));
    };
    const norm = (w: GPUBuffer): Dispatch =>
      k.rmsNorm(u, {
        x: s.x,
        xOffset: 0,
        w,
        out: s.xn,
        outOffset: 0,
        rows: T,
        d,
        eps: c.rmsNormEps,
      });
    this.#layers.forEach((L, l) => {
      const kc = cache.k[l]!, vc = cache.v[l]!;
      list.push(norm(L.inputNorm));
      lin(L.linears.q_proj, s.xn, s.q);
      lin(L.linears.k_proj, s.xn, kc, pos0 * kvDim);
      lin(L.linears.v_proj, s.xn, vc, pos0 * kvDim);
      const half = hd / 2;
      list.push(
        k.rope(u, {
          x: s.q,
          offset: 0,
          stride: qDim,
          rows: T,
          heads: H,
          half,
          pos0,
          table,
          sinOffset,
        }),
        k.rope(u, {
          x: kc,
          offset: pos0 * kvDim,
          stride: kvDim,
          rows: T,
          heads: KvH,
          half,
          pos0,
          table,
          sinOffset,
        }),
        k.attention(u, {
          q: s.q,
          k: kc,
          v: vc,
          out: s.att,
          T,
          pos0,
          heads: H,
          kvHeads: KvH,
          headDim: hd,
          window: layerWindow(c, l),
        }),
      );
      lin(L.linears.o_proj, s.att, s.tmp);
      list.push(k.add(u, s.x, s.tmp, T * d));
      list.push(norm(L.postNorm));
      lin(L.linears.gate_proj, s.xn, s.gate);
      lin(L.linears.up_proj, s.xn, s.up);
      list.push(k.swiglu(u, s.gate, s.up, T * I));
      lin(L.linears.down_proj, s.gate, s.tmp);
      list.push(k.add(u, s.x, s.tmp, T * d));
    });
    return list;
  }

  /** Final RMSNorm of rows `[first, first + rows)` of x into rows `[0, rows)` of xn. */
  #finalNorm(s: Scratch, first: number, rows: number): Dispatch {
    const d = this.config.hiddenSize;
    return this.#k.rmsNorm(this.#uniforms, {
      x: s.x,
      xOffset: first * d,
      w: this.#norm,
      out: s.xn,
      outOffset: 0,
      rows,
      d,
      eps: this.config.rmsNormEps,
    });
  }
}
