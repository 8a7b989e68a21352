// This module is browser compatible.
/**
 * The CPU Llama-family model: weights, the optimised forward (all positions of a sequence batched
 * into one GEMM per projection, attention on BLAS per head), a KV cache for generation, and the
 * experiment hooks — swap one projection ({@linkcode LlamaModel.setLinear}), run from cached
 * hidden states at layer l ({@linkcode LlamaModel.forwardFrom}, {@linkcode LlamaModel.nllFrom}),
 * capture the hidden states of every layer ({@linkcode LlamaModel.captureHidden}).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { KVCache } from "./kv_cache.ts";
import { layerWindow, type LlamaConfig } from "./config.ts";
import { checkLinearShape, DenseLinear, type Linear } from "./linear.ts";
import { embeddingF32, embeddingRows, type EmbeddingWeight } from "./embedding.ts";
import { addRmsNorm, attention, rmsNorm, swiglu, tokenNll } from "./ops.ts";
import { wasmF32Arrays } from "./ops_wasm.ts";
import type { ReferenceWeights } from "./reference.ts";
import { applyRope, RopeTable } from "./rope.ts";
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

/** One decoder layer: its two norms and seven projections. */
export type LlamaLayer =
  & { inputNorm: Float32Array; postNorm: Float32Array }
  & Record<
    LinearKind,
    Linear
  >;

/** The parts of a model. */
export interface LlamaParts {
  /** Embedding `[vocab, d]`: f32, or 16-bit as stored (rows widened when looked up). */
  embed: EmbeddingWeight;
  /** Decoder layers. */
  layers: LlamaLayer[];
  /** Final norm `[d]`. */
  norm: Float32Array;
  /** LM head (`[vocab, d]`). */
  lmHead: Linear;
}

/**
 * Floating-point operations of one forward over `tokens` new positions starting at `pos0`:
 * 2 per multiply-add of every projection, 4·headDim per visible (query, key) pair and head
 * (scores and weighted sum; causal and windowed masks counted exactly), and the LM head on all
 * rows (or one with `lastOnly`). Norms, RoPE and softmax are not counted.
 *
 * @example
 * ```ts
 * import { llamaForwardFlops } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * const c = llamaConfig({ numLayers: 1, hiddenSize: 8, numHeads: 1, intermediateSize: 8, vocabSize: 4 });
 * // 7 projections of 8×8, one visible key, LM head 4×8:
 * if (llamaForwardFlops(c, 1) !== 2 * 7 * 64 + 4 * 8 + 2 * 32) throw new Error("unexpected");
 * ```
 */
export function llamaForwardFlops(
  c: LlamaConfig,
  tokens: number,
  pos0 = 0,
  lastOnly = false,
): number {
  let params = 0;
  for (const kind of LINEAR_KINDS) {
    const [o, i] = projectionShape(c, kind);
    params += o * i;
  }
  let flops = 2 * tokens * params * c.numLayers;
  for (let l = 0; l < c.numLayers; l++) {
    const w = layerWindow(c, l);
    let pairs = 0;
    for (let t = 0; t < tokens; t++) {
      const p = pos0 + t;
      pairs += w > 0 ? Math.min(p + 1, w) : p + 1;
    }
    flops += 4 * c.headDim * c.numHeads * pairs;
  }
  return flops + 2 * (lastOnly ? 1 : tokens) * c.hiddenSize * c.vocabSize;
}

/** Activation buffers of a forward for up to `rows` positions. */
class Scratch {
  readonly rows: number;
  readonly #arrays: Record<string, Float32Array>;
  constructor(rows: number, d: number, qDim: number, kvDim: number, I: number) {
    this.rows = rows;
    const widths = { xn: d, q: qDim, k: kvDim, v: kvDim, att: qDim, tmp: d };
    this.#arrays = Object.fromEntries(
      Object.entries(widths).map(([name, w]) => [name, new Float32Array(rows * w)]),
    );
    // SwiGLU's operands live in WebAssembly memory, where its SIMD kernel runs in place.
    const [gate, up] = wasmF32Arrays([rows * I, rows * I]) ??
      [new Float32Array(rows * I), new Float32Array(rows * I)];
    this.#arrays.gate = gate!;
    this.#arrays.up = up!;
  }
  /** The first `n` elements of buffer `name`. */
  view(name: string, n: number): Float32Array {
    return this.#arrays[name]!.subarray(0, n);
  }
}

/** Where a forward pass stops and what it returns. */
type Head =
  | { kind: "logits"; lastOnly: boolean }
  | { kind: "nll"; tokens: ArrayLike<number>; from: number }
  | { kind: "hidden" };

/**
 * A Llama-family model on the CPU.
 *
 * @example Greedy next token of a random model
 * ```ts
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig();
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const logits = await model.forward([5, 6, 7], { lastOnly: true });
 * const next = logits.indexOf(Math.max(...logits));
 * if (next < 0 || next >= c.vocabSize) throw new Error("unexpected");
 * ```
 */
export class LlamaModel implements CausalLM {
  readonly config: LlamaConfig;
  readonly backend = "cpu" as const;
  /** Final norm weight. */
  readonly finalNorm: Float32Array;
  /** Embedding `[vocab, d]`: f32, or 16-bit as stored (`halfWeights: "keep"`). */
  readonly embeddingWeight: EmbeddingWeight;
  readonly #layers: LlamaLayer[];
  #lmHead: Linear;
  readonly #rope: RopeTable;
  #scratch: Scratch | null = null;
  #scratchBusy = false;

  /** Assembles a model from its parts (shapes are checked). */
  constructor(config: LlamaConfig, parts: LlamaParts) {
    const c = config;
    const family = modelFamily(c.architecture);
    checkForwardSupports(family, "the CPU forward");
    const names = family.tensors;
    this.config = c;
    const d = c.hiddenSize;
    const need = <A extends { length: number }>(a: A, n: number, what: string): A => {
      if (a.length !== n) {
        throw new QuantlabError(
          "bad-shape",
          `${what} holds ${a.length} values; the config needs ${n}`,
        );
      }
      return a;
    };
    const e = parts.embed;
    need(e instanceof Float32Array ? e : e.data, c.vocabSize * d, names.embed);
    this.embeddingWeight = e;
    this.finalNorm = need(parts.norm, d, names.finalNorm);
    if (parts.layers.length !== c.numLayers) {
      throw new QuantlabError(
        "bad-shape",
        `Model has ${parts.layers.length} layers; the config needs ${c.numLayers}`,
      );
    }
    parts.layers.forEach((L, l) => {
      need(L.inputNorm, d, names.inputNorm(l));
      need(L.postNorm, d, names.postNorm(l));
      for (const kind of LINEAR_KINDS) {
        const [o, i] = projectionShape(c, kind);
        checkLinearShape(L[kind], o, i, linearName(l, kind));
      }
    });
    this.#layers = parts.layers.map((L) => ({ ...L }));
    checkLinearShape(parts.lmHead, c.vocabSize, d, "lm_head");
    this.#lmHead = parts.lmHead;
    this.#rope = new RopeTable(c);
  }

  /**
   * A model over dense weights (not copied), e.g. from `randomLlamaWeights`.
   *
   * @example
   * ```ts
   * import { LlamaModel } from "./llama.ts";
   * import { llamaConfig } from "./config.ts";
   * import { randomLlamaWeights } from "./random.ts";
   * const m = LlamaModel.fromWeights(llamaConfig(), randomLlamaWeights(llamaConfig(), 3));
   * if (m.config.numLayers !== 2) throw new Error("unexpected");
   * ```
   */
  static fromWeights(config: LlamaConfig, w: ReferenceWeights): LlamaModel {
    const layers = w.layers.map((L) => {
      const out = { inputNorm: L.inputNorm, postNorm: L.postNorm } as LlamaLayer;
      for (const kind of LINEAR_KINDS) {
        const [o, i] = projectionShape(config, kind);
        out[kind] = new DenseLinear(L[kind].weight, o, i, L[kind].bias);
      }
      return out;
    });
    const lmHead = new DenseLinear(w.lmHead.weight, config.vocabSize, config.hiddenSize);
    return new LlamaModel(config, { embed: w.embed, layers, norm: w.norm, lmHead });
  }

  /** The embedding in f32 (for a 16-bit {@linkcode embeddingWeight}, a widened copy). */
  get embedding(): Float32Array {
    return embeddingF32(this.embeddingWeight);
  }

  /** Number of decoder layers. */
  get numLayers(): number {
    return this.#layers.length;
  }

  /** The LM head. */
  get lmHead(): Linear {
    return this.#lmHead;
  }

  /** Norm weights of layer `layer`. */
  norms(layer: number): { inputNorm: Float32Array; postNorm: Float32Array } {
    const L = this.#layer(layer);
    return { inputNorm: L.inputNorm, postNorm: L.postNorm };
  }

  /** The projection `kind` of layer `layer`. */
  getLinear(layer: number, kind: LinearKind): Linear {
    return this.#layer(layer)[kind];
  }

  /**
   * Replaces the projection `kind` of layer `layer` (e.g. with a quantized or perturbed one);
   * returns the previous one so it can be put back.
   *
   * @example
   * ```ts
   * import { LlamaModel } from "./llama.ts";
   * import { DenseLinear } from "./linear.ts";
   * import { llamaConfig } from "./config.ts";
   * import { randomLlamaWeights } from "./random.ts";
   * const c = llamaConfig();
   * const m = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
   * const zero = new DenseLinear(new Float32Array(32 * 32), 32, 32);
   * const old = m.setLinear(0, "q_proj", zero);
   * if (m.setLinear(0, "q_proj", old) !== zero) throw new Error("setLinear returns the old one");
   * ```
   */
  setLinear(layer: number, kind: LinearKind, linear: Linear): Linear {
    const L = this.#layer(layer);
    if (!LINEAR_KINDS.includes(kind)) {
      throw new QuantlabError(
        "bad-argument",
        `Projection "${kind}" is not valid; use one of ${LINEAR_KINDS.join(", ")}`,
      );
    }
    const [o, i] = projectionShape(this.config, kind);
    checkLinearShape(linear, o, i, linearName(layer, kind));
    const old = L[kind];
    L[kind] = linear;
    return old;
  }

  /** Replaces the LM head; returns the previous one. */
  setLmHead(linear: Linear): Linear {
    checkLinearShape(linear, this.config.vocabSize, this.config.hiddenSize, "lm_head");
    const old = this.#lmHead;
    this.#lmHead = linear;
    return old;
  }

  /** Dense weights of the whole model (dequantized where a layer is quantized), for references. */
  denseWeights(): ReferenceWeights {
    const dense = (lin: Linear, what: string): Float32Array => {
      if (!lin.weightF32) {
        throw new QuantlabError("unsupported", `Linear ${what} cannot produce a dense weight`);
      }
      return lin.weightF32();
    };
    return {
      embed: this.embedding,
      norm: this.finalNorm,
      lmHead: { weight: dense(this.#lmHead, "lm_head") },
      layers: this.#layers.map((L, l) => {
        const out = {
          inputNorm: L.inputNorm,
          postNorm: L.postNorm,
        } as ReferenceWeights["layers"][0];
        for (const kind of LINEAR_KINDS) {
          const lin = L[kind];
          out[kind] = { weight: dense(lin, linearName(l, kind)) };
          if (lin.bias) out[kind].bias = lin.bias;
        }
        return out;
      }),
    };
  }

  /** An empty KV cache for up to `capacity` positions. */
  newCache(capacity: number = this.config.maxPositionEmbeddings): KVCache {
    return new KVCache(this.numLayers, this.config.numKvHeads * this.config.headDim, capacity);
  }

  /** The embeddings `[T, d]` of `tokens` (ids are checked against the vocabulary). */
  embed(tokens: ArrayLike<number>): Float32Array {
    this.#checkIds(tokens);
    return embeddingRows(this.embeddingWeight, tokens, this.config.hiddenSize);
  }

  #checkIds(tokens: ArrayLike<number>): void {
    const V = this.config.vocabSize;
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new QuantlabError(
          "bad-argument",
          `Token id ${id} at position ${t} is outside the vocabulary [0, ${V})`,
        );
      }
    }
  }

  /** Logits `[T, vocab]` (or `[vocab]` with `lastOnly`); appends to `opts.cache` when given. */
  async forward(tokens: ArrayLike<number>, opts: ForwardOptions = {}): Promise<Float32Array> {
    if (tokens.length === 0) {
      throw new QuantlabError("bad-argument", "forward() needs at least one token");
    }
    const cache = this.#cpuCache(opts.cache);
    return await this.#run(this.embed(tokens), tokens.length, 0, cache, {
      kind: "logits",
      lastOnly: opts.lastOnly ?? false,
    }) as Float32Array;
  }

  /** NLL of `tokens[t]` for t in `[from, n)` as one window (no cache). */
  async nll(tokens: ArrayLike<number>, from = 1): Promise<Float64Array> {
    this.#checkFrom(tokens.length, from);
    return await this.#run(this.embed(tokens), tokens.length, 0, undefined, {
      kind: "nll",
      tokens,
      from,
    }) as Float64Array;
  }

  /**
   * Logits from the hidden states entering layer `layer` (`[T, d]` for positions 0…T−1, e.g. from
   * {@linkcode captureHidden}); `hidden` is not modified.
   */
  async forwardFrom(
    layer: number,
    hidden: Float32Array,
    opts: { lastOnly?: boolean } = {},
  ): Promise<Float32Array> {
    const T = this.#hiddenRows(layer, hidden);
    return await this.#run(hidden.slice(), T, layer, undefined, {
      kind: "logits",
      lastOnly: opts.lastOnly ?? false,
    }) as Float32Array;
  }

  /**
   * The hidden states entering layer `to` (`[T, d]`, the output of layer `to − 1`), from those
   * entering layer `from` (from < to ≤ numLayers): runs only layers `[from, to)`, no head.
   * `hidden` is not modified. The layer-by-layer step of calibration (GPTQ).
   *
   * @example
   * ```ts
   * import { LlamaModel } from "./llama.ts";
   * import { llamaConfig } from "./config.ts";
   * import { randomLlamaWeights } from "./random.ts";
   * const c = llamaConfig({ numLayers: 2 });
   * const m = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
   * const h = await m.captureHidden([1, 2, 3]);
   * const out = await m.forwardLayers(0, 1, h[0]!);
   * if (Math.abs(out[5]! - h[1]![5]!) > 1e-6) throw new Error();
   * ```
   */
  async forwardLayers(from: number, to: number, hidden: Float32Array): Promise<Float32Array> {
    const T = this.#hiddenRows(from, hidden);
    if (!Number.isInteger(to) || to <= from || to > this.#layers.length) {
      throw new QuantlabError(
        "bad-argument",
        `Layer range [${from}, ${to}) is not valid; use ${from} < to ≤ ${this.#layers.length}`,
      );
    }
    return await this.#run(
      hidden.slice(),
      T,
      from,
      undefined,
      { kind: "hidden" },
      undefined,
      to,
    ) as Float32Array;
  }

  /** NLLs (as {@linkcode nll}) from the hidden states entering layer `layer`. */
  async nllFrom(
    layer: number,
    hidden: Float32Array,
    tokens: ArrayLike<number>,
    from = 1,
  ): Promise<Float64Array> {
    const T = this.#hiddenRows(layer, hidden);
    if (tokens.length !== T) {
      throw new QuantlabError(
        "bad-shape",
        `Hidden states have ${T} rows but ${tokens.length} tokens were given`,
      );
    }
    this.#checkFrom(T, from);
    this.#checkIds(tokens);
    return await this.#run(hidden.slice(), T, layer, undefined, {
      kind: "nll",
      tokens,
      from,
    }) as Float64Array;
  }

  /**
   * The hidden states of one window: element l (0 ≤ l < numLayers) is the input of layer l
   * (element 0 the embeddings), element numLayers the output of the last layer (before the
   * final norm). Each is `[T, d]`.
   */
  async captureHidden(tokens: ArrayLike<number>): Promise<Float32Array[]> {
    const states: Float32Array[] = [];
    await this.#run(this.embed(tokens), tokens.length, 0, undefined, { kind: "hidden" }, states);
    return states;
  }

  /** Nothing to free on the CPU. */
  dispose(): void {}

  #scratchFor(T: number): Scratch {
    const c = this.config;
    if (!this.#scratch || this.#scratch.rows < T) {
      const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
      this.#scratch = new Scratch(T, c.hiddenSize, qDim, kvDim, c.intermediateSize);
    }
    return this.#scratch;
  }

  #layer(layer: number): LlamaLayer {
    const L = this.#layers[layer];
    if (!Number.isInteger(layer) || !L) {
      throw new QuantlabError(
        "bad-argument",
        `Layer ${layer} does not exist; use 0 to ${this.#layers.length - 1}`,
      );
    }
    return L;
  }

  #hiddenRows(layer: number, hidden: Float32Array): number {
    if (!Number.isInteger(layer) || layer < 0 || layer > this.numLayers) {
      throw new QuantlabError(
        "bad-argument",
        `Layer ${layer} does not exist; use 0 to ${this.numLayers}`,
      );
    }
    const d = this.config.hiddenSize;
    if (hidden.length === 0 || hidden.length % d !== 0) {
      throw new QuantlabError(
        "bad-shape",
        `Hidden states hold ${hidden.length} values; expected a positive multiple of d = ${d}`,
      );
    }
    return hidden.length / d;
  }

  #checkFrom(n: number, from: number): void {
    if (!Number.isInteger(from) || from < 1 || from > n) {
      throw new QuantlabError(
        "bad-argument",
        `First scored position ${from} is not valid for ${n} tokens; use 1 to ${n}`,
      );
    }
  }

  #cpuCache(cache: KVCacheLike | undefined): KVCache | undefined {
    if (cache === undefined) return undefined;
    if (!(cache instanceof KVCache) || cache.k.length !== this.numLayers) {
      throw new QuantlabError(
        "bad-argument",
        "The KV cache was not made by this CPU model's newCache()",
      );
    }
    return cache;
  }

  /**
   * The forward core: runs layers `[startLayer, L)` on `x` (`[T, d]`, modified in place) at
   * positions `pos0…` (pos0 = cache length), then the requested head. With `endLayer` below L
   * it stops there and returns x (the hidden states entering `endLayer`; head "hidden" only).
   */
  async #run(
    x: Float32Array,
    T: number,
    startLayer: number,
    cache: KVCache | undefined,
    head: Head,
    capture?: Float32Array[],
    endLayer: number = this.#layers.length,
  ): Promise<Float32Array | Float64Array> {
    const c = this.config;
    const d = c.hiddenSize, H = c.numHeads, KvH = c.numKvHeads, hd = c.headDim;
    const qDim = H * hd, kvDim = KvH * hd, I = c.intermediateSize;
    const pos0 = cache ? cache.length : 0;
    if (cache) cache.reserve(pos0 + T);
    // Activations come from a scratch kept across calls (fresh pages cost page faults); a call
    // that overlaps another (a Linear returned a Promise) gets arrays of its own.
    const own = this.#scratchBusy;
    this.#scratchBusy = true;
    const s = own ? new Scratch(T, d, qDim, kvDim, I) : this.#scratchFor(T);
    const xn = s.view("xn", T * d), q = s.view("q", T * qDim);
    let k = s.view("k", T * kvDim), v = s.view("v", T * kvDim);
    const att = s.view("att", T * qDim), tmp = s.view("tmp", T * d);
    const gate = s.view("gate", T * I), up = s.view("up", T * I);
    try {
      const last = this.#layers.length - 1;
      for (let l = startLayer; l < endLayer; l++) {
        capture?.push(x.slice());
        const L = this.#layers[l]!;
        // Later layers' input norms were fused with the previous layer's last residual add.
        if (l === startLayer) rmsNorm(x, L.inputNorm, T, d, c.rmsNormEps, xn);
        await L.q_proj.forward(xn, T, q);
        if (cache) {
          // Project straight into the cache rows of this layer.
          k = cache.k[l]!.subarray(pos0 * kvDim, (pos0 + T) * kvDim);
          v = cache.v[l]!.subarray(pos0 * kvDim, (pos0 + T) * kvDim);
        }
        await L.k_proj.forward(xn, T, k);
        await L.v_proj.forward(xn, T, v);
        applyRope(q, T, H, hd, pos0, this.#rope);
        applyRope(k, T, KvH, hd, pos0, this.#rope);
        const shape = { T, pos0, heads: H, kvHeads: KvH, headDim: hd, window: layerWindow(c, l) };
        if (cache) attention(q, cache.k[l]!, cache.v[l]!, shape, att);
        else attention(q, k, v, shape, att);
        await L.o_proj.forward(att, T, tmp);
        addRmsNorm(x, tmp, L.postNorm, T, d, c.rmsNormEps, xn);
        await L.gate_proj.forward(xn, T, gate);
        await L.up_proj.forward(xn, T, up);
        swiglu(gate, up, T * I);
        await L.down_proj.forward(gate, T, tmp);
        if (l < last) addRmsNorm(x, tmp, this.#layers[l + 1]!.inputNorm, T, d, c.rmsNormEps, xn);
        else for (let i = 0; i < T * d; i++) x[i] = x[i]! + tmp[i]!;
      }
    } finally {
      if (!own) this.#scratchBusy = false;
    }
    if (cache) cache.advance(T);
    if (endLayer < this.#layers.length) return x;
    capture?.push(x.slice());
    return await this.#head(x, T, head);
  }

  async #head(x: Float32Array, T: number, head: Head): Promise<Float32Array | Float64Array> {
    const c = this.config;
    const d = c.hiddenSize, V = c.vocabSize;
    if (head.kind === "hidden") return x;
    if (head.kind === "logits") {
      const first = head.lastOnly ? T - 1 : 0;
      const rows = T - first;
      const xn = rmsNorm(x.subarray(first * d), this.finalNorm, rows, d, c.rmsNormEps);
      return await this.#lmHead.forward(xn, rows, new Float32Array(rows * V));
    }
    // NLL: row t − 1 predicts token t. Chunk the LM head so logits stay small for big vocabularies.
    const { tokens, from } = head;
    const out = new Float64Array(T - from);
    const chunk = Math.max(1, Math.min(T - from, Math.floor((1 << 24) / V)));
    const logits = new Float32Array(chunk * V);
    for (let r0 = from - 1; r0 < T - 1; r0 += chunk) {
      const rows = Math.min(chunk, T - 1 - r0);
      const xn = rmsNorm(
        x.subarray(r0 * d, (r0 + rows) * d),
        this.finalNorm,
        rows,
        d,
        c.rmsNormEps,
      );
      const lg = await this.#lmHead.forward(xn, rows, logits.subarray(0, rows * V));
      for (let r = 0; r < rows; r++) {
        const target = tokens[r0 + r + 1]!;
        out[r0 + r + 1 - from] = tokenNll(lg, r * V, V, target);
      }
    }
    return out;
  }
}
