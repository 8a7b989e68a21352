// This module is browser compatible.
/**
 * Assembling a {@linkcode LlamaModel} from named tensors (a checkpoint, or tensors in memory),
 * with the hook through which quantized checkpoints supply their own linear layers.
 *
 * The hook: `linearFactory(spec)` is asked first for every projection (and the LM head); it
 * returns a {@linkcode Linear} built from whatever tensors it stores (packed codes, scales, …),
 * or `undefined` to let the dense `<name>.weight` (and `<name>.bias`) load as usual. A checkpoint
 * whose config has `quantization_config` and no factory given uses the factory registered for
 * its `quant_method` with {@linkcode registerLinearFactory}.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { tensorToF32 } from "../core/dtype.ts";
import { toShared } from "../cpu/pool.ts";
import type { Tensor } from "../core/tensor.ts";
import type { LlamaConfig } from "./config.ts";
import { DenseLinear, HalfLinear, type HalfWeight, type Linear } from "./linear.ts";
import { modelFamily } from "./family.ts";
import { type LlamaLayer, LlamaModel } from "./llama.ts";
import { LINEAR_KINDS, type LinearKind, projectionHasBias, projectionShape } from "./types.ts";

/** Named tensors, read lazily (a checkpoint from `src/io/sharded.ts` fits this shape). */
export interface TensorSource {
  /** Every tensor name. */
  names(): Iterable<string>;
  /** One tensor. */
  read(name: string): Promise<Tensor>;
}

/**
 * A {@linkcode TensorSource} over tensors in memory.
 *
 * @example
 * ```ts
 * import { memorySource } from "./build.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const src = memorySource({ a: Tensor.zeros([2]) });
 * if ((await src.read("a")).numel !== 2) throw new Error("unexpected");
 * ```
 */
export function memorySource(tensors: Record<string, Tensor>): TensorSource {
  return {
    names: () => Object.keys(tensors),
    read: (name) => {
      const t = tensors[name];
      if (!t) return Promise.reject(new QuantlabError("not-found", `Tensor "${name}" not found`));
      return Promise.resolve(t);
    },
  };
}

/** What the factory is asked to build. */
export interface LinearSpec {
  /** Checkpoint prefix, e.g. `model.layers.3.self_attn.q_proj` or `lm_head`. */
  name: string;
  /** Layer index, or −1 for the LM head. */
  layer: number;
  /** Projection kind. */
  kind: LinearKind | "lm_head";
  /** Input width. */
  inFeatures: number;
  /** Output width. */
  outFeatures: number;
  /** True when the architecture gives this projection a bias (`<name>.bias`). */
  hasBias: boolean;
  /** The checkpoint's tensors. */
  source: TensorSource;
  /** The model configuration (`quantization` holds the raw `quantization_config`). */
  config: LlamaConfig;
}

/** Builds a linear layer for a named weight, or returns undefined to load it densely. */
export type LinearFactory = (
  spec: LinearSpec,
) => Linear | undefined | Promise<Linear | undefined>;

const registry = new Map<string, LinearFactory>();

/**
 * Registers the factory that loads checkpoints whose `quantization_config.quant_method` is
 * `method` (the quantized-checkpoint loader calls this at import).
 *
 * @example
 * ```ts
 * import { linearFactoryFor, registerLinearFactory } from "./build.ts";
 * registerLinearFactory("example", () => undefined);
 * if (!linearFactoryFor("example")) throw new Error("unexpected");
 * ```
 */
export function registerLinearFactory(method: string, factory: LinearFactory): void {
  registry.set(method, factory);
}

/**
 * The factory registered for `method`, if any.
 *
 * @example
 * ```ts
 * import { linearFactoryFor } from "./build.ts";
 * if (linearFactoryFor("no-such-method") !== undefined) throw new Error("unexpected");
 * ```
 */
export function linearFactoryFor(method: string): LinearFactory | undefined {
  return registry.get(method);
}

/**
 * What becomes of dense bf16 / f16 matrices (projections, LM head, embedding): `"widen"` to f32
 * at load (twice the stored bytes; the products run on the f32 weight directly), or `"keep"`
 * them as stored and widen a tile of rows per product (`HalfLinear`; the embedding widens only
 * the rows it looks up), so memory holds about the checkpoint's bytes. Norms and biases are
 * always widened (they are small). f32 tensors load as f32 either way.
 */
export type HalfWeights = "widen" | "keep";

/** The choices of {@linkcode HalfWeights}. */
export const HALF_WEIGHTS: readonly HalfWeights[] = ["widen", "keep"];

/** Options of {@linkcode buildLlamaModel}. */
export interface LlamaBuildOptions {
  /** Supplies linear layers for named weights (quantized checkpoints). */
  linearFactory?: LinearFactory;
  /** Dense 16-bit matrices: widened at load (the default) or kept as stored. */
  halfWeights?: HalfWeights;
  /** Called after each tensor or layer is loaded (for progress). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Builds a model from named tensors. Missing tensors and wrong shapes become a
 * {@linkcode QuantlabError} naming the tensor; f16 and bf16 weights are widened to f32, or with
 * `halfWeights: "keep"` the matrices stay 16-bit (see {@linkcode HalfWeights}).
 *
 * @example
 * ```ts
 * import { buildLlamaModel, memorySource } from "./build.ts";
 * import { llamaConfig } from "./config.ts";
 * import { llamaTensors, randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig();
 * const model = await buildLlamaModel(c, memorySource(llamaTensors(c, randomLlamaWeights(c, 1))));
 * if (model.numLayers !== 2) throw new Error("unexpected");
 * ```
 */
export async function buildLlamaModel(
  config: LlamaConfig,
  source: TensorSource,
  opts: LlamaBuildOptions = {},
): Promise<LlamaModel> {
  const c = config;
  const have = new Set(source.names());
  let factory = opts.linearFactory;
  if (!factory && c.quantization) {
    const method = String(c.quantization.quant_method ?? "unknown");
    factory = registry.get(method);
    if (!factory) {
      const known = [...registry.keys()];
      throw new QuantlabError(
        "unsupported",
        `The checkpoint is quantized with quant_method "${method}", which quantlab cannot load; ` +
          `it loads dense checkpoints and ${
            known.length ? `quant_method ${known.map((k) => `"${k}"`).join(", ")}` : "its own"
          } (made by quantlab quantize)`,
      );
    }
  }
  const keepHalf = opts.halfWeights === "keep";
  const readTensor = async (name: string, shape: readonly number[]): Promise<Tensor> => {
    if (!have.has(name)) {
      throw new QuantlabError(
        "not-found",
        `Checkpoint lacks tensor "${name}", which ${c.architecture} needs`,
      );
    }
    const t = await source.read(name);
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw new QuantlabError(
        "bad-shape",
        `Tensor "${name}" has shape [${t.shape.join(", ")}]; the config needs [${
          shape.join(", ")
        }]`,
      );
    }
    if (t.dtype !== "F32" && t.dtype !== "F16" && t.dtype !== "BF16") {
      throw new QuantlabError(
        "unsupported",
        `Tensor "${name}" is ${t.dtype}; dense weights must be F32, F16 or BF16`,
      );
    }
    return t;
  };
  const read = async (name: string, shape: readonly number[]): Promise<Float32Array> =>
    tensorToF32(await readTensor(name, shape)).data;
  /** A matrix: f32, or its stored 16-bit form when kept. */
  const readMatrix = async (
    name: string,
    shape: readonly number[],
  ): Promise<Float32Array | HalfWeight> => {
    const t = await readTensor(name, shape);
    if (keepHalf && (t.dtype === "BF16" || t.dtype === "F16")) {
      // On a SharedArrayBuffer, so the worker pool can read it (batch-1 products, half_gemv.ts).
      return { data: toShared(t.data as Uint16Array), dtype: t.dtype };
    }
    return tensorToF32(t).data;
  };
  const denseLinear = (w: Float32Array | HalfWeight, outF: number, inF: number, b?: Float32Array) =>
    w instanceof Float32Array ? new DenseLinear(w, outF, inF, b) : new HalfLinear(w, outF, inF, b);
  const linear = async (
    name: string,
    layer: number,
    kind: LinearKind | "lm_head",
    outF: number,
    inF: number,
    hasBias: boolean,
  ): Promise<Linear> => {
    const spec: LinearSpec = {
      name,
      layer,
      kind,
      inFeatures: inF,
      outFeatures: outF,
      hasBias,
      source,
      config: c,
    };
    const custom = factory ? await factory(spec) : undefined;
    if (custom) return custom;
    const w = await readMatrix(`${name}.weight`, [outF, inF]);
    const b = hasBias ? await read(`${name}.bias`, [outF]) : undefined;
    return denseLinear(w, outF, inF, b);
  };

  const d = c.hiddenSize;
  const total = c.numLayers + 2;
  let done = 0;
  const tick = (): void => opts.onProgress?.(++done, total);
  const names = modelFamily(c.architecture).tensors;
  const embed = await readMatrix(names.embed, [c.vocabSize, d]);
  tick();
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const L = {
      inputNorm: await read(names.inputNorm(l), [d]),
      postNorm: await read(names.postNorm(l), [d]),
    } as LlamaLayer;
    for (const kind of LINEAR_KINDS) {
      const [o, i] = projectionShape(c, kind);
      L[kind] = await linear(names.projection(l, kind), l, kind, o, i, projectionHasBias(c, kind));
    }
    layers.push(L);
    tick();
  }
  const norm = await read(names.finalNorm, [d]);
  let lmHead: Linear;
  if (c.tieWordEmbeddings) {
    lmHead = denseLinear(embed, c.vocabSize, d); // shares the embedding's array
  } else {
    if (!have.has(names.lmHead) && !factory) {
      throw new QuantlabError(
        "not-found",
        `Checkpoint lacks tensor "${names.lmHead}" and config.json sets tie_word_embeddings ` +
          "false; give the LM head or set tie_word_embeddings true",
      );
    }
    lmHead = await linear(
      names.lmHead.replace(/\.weight$/, ""),
      -1,
      "lm_head",
      c.vocabSize,
      d,
      false,
    );
  }
  tick();
  return new LlamaModel(c, { embed, layers, norm, lmHead });
}
