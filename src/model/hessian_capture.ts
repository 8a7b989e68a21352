/**
 * Calibration capture for GPTQ: the Hessians H = 2XᵀX of the inputs X of one decoder layer's
 * projections, recorded while the CPU model ({@linkcode LlamaModel}) runs that layer alone on
 * hidden states (`forwardLayers`). Projections that read the same input share one Hessian:
 *
 * | group    | projections            | input (n)                                   |
 * |----------|------------------------|---------------------------------------------|
 * | `qkv`    | q_proj, k_proj, v_proj | input-normed hidden states (hidden size)    |
 * | `o`      | o_proj                 | attention output (heads · head dim)         |
 * | `gateUp` | gate_proj, up_proj     | post-attention-normed states (hidden size)  |
 * | `down`   | down_proj              | SwiGLU output (intermediate size)           |
 *
 * Recording wraps the group's first projection (the `setLinear` seam) and accumulates
 * H += 2·XᵀX with one f32 `ssyrk` per call (`syrkUpper`, `src/cpu/matmul.ts`: the upper triangle
 * only, half an `sgemm`'s work; mirrored once when H is read), then restores the layer. The
 * inputs are those of the model as it is — with earlier layers already quantized in a
 * layer-by-layer job, they are the quantized model's, as GPTQ prescribes.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { syrkUpper } from "../cpu/matmul.ts";
import type { LlamaModel } from "./llama.ts";
import type { Linear } from "./linear.ts";
import type { LinearKind } from "./types.ts";

/** The Hessian groups of a layer (projections sharing one input). */
export type HessianGroup = "qkv" | "o" | "gateUp" | "down";

/** The projections of each group; the first one records. */
export const HESSIAN_GROUPS: Readonly<Record<HessianGroup, readonly LinearKind[]>> = {
  qkv: ["q_proj", "k_proj", "v_proj"],
  o: ["o_proj"],
  gateUp: ["gate_proj", "up_proj"],
  down: ["down_proj"],
};

/**
 * A running H = 2·Σ xᵀx over input rows x (length n), f32 via BLAS: `add` updates the upper
 * triangle (`ssyrk`), reading `h` mirrors it into the lower one when rows came in since.
 *
 * @example
 * ```ts
 * import { HessianAccumulator } from "./hessian_capture.ts";
 * const acc = new HessianAccumulator(2);
 * acc.add(new Float32Array([1, 2, 3, 4]), 2); // rows (1, 2) and (3, 4)
 * if (acc.h.join() !== "20,28,28,40" || acc.rows !== 2) throw new Error(acc.h.join());
 * ```
 */
export class HessianAccumulator {
  /** Input width. */
  readonly n: number;
  readonly #h: Float32Array;
  /** Rows were added since the lower triangle was last mirrored. */
  #stale = false;
  /** Input rows accumulated. */
  rows = 0;

  /** An empty (zero) Hessian for inputs of width n. */
  constructor(n: number) {
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new QuantlabError(
        "bad-argument",
        `Hessian width ${n} is not valid; use an integer ≥ 1`,
      );
    }
    this.n = n;
    this.#h = new Float32Array(n * n);
  }

  /** H, n × n row-major (symmetric). */
  get h(): Float32Array {
    if (this.#stale) {
      const { n } = this;
      const h = this.#h;
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) h[j * n + i] = h[i * n + j]!;
      }
      this.#stale = false;
    }
    return this.#h;
  }

  /** Adds 2·XᵀX for x `[batch, n]` row-major. */
  add(x: Float32Array, batch: number): void {
    if (x.length < batch * this.n) {
      throw new QuantlabError(
        "bad-shape",
        `Inputs hold ${x.length} values; ${batch} rows of ${this.n} need ${batch * this.n}`,
      );
    }
    if (batch === 0) return;
    syrkUpper(this.n, batch, 2, x.subarray(0, batch * this.n), this.#h);
    this.#stale = true;
    this.rows += batch;
  }
}

/** What {@linkcode captureLayerHessians} returns. */
export interface LayerCapture {
  /** The Hessian of each group. */
  hessians: Record<HessianGroup, HessianAccumulator>;
  /** The hidden states leaving the layer, per window (the next layer's inputs). */
  outputs: Float32Array[];
}

/** A Linear that records its inputs into `acc`, then runs `inner`. */
function recording(inner: Linear, acc: HessianAccumulator): Linear {
  return {
    inFeatures: inner.inFeatures,
    outFeatures: inner.outFeatures,
    bias: inner.bias,
    forward(x: Float32Array, batch: number, out?: Float32Array) {
      acc.add(x, batch);
      return inner.forward(x, batch, out);
    },
  };
}

/**
 * Runs layer `layer` of `model` on the hidden states entering it (one `[T, d]` array per
 * calibration window, e.g. `model.embed(tokens)` for layer 0) and returns the Hessian of each
 * projection group (see the module doc) and the layer's outputs. The model is left unchanged.
 *
 * @example
 * ```ts
 * import { captureLayerHessians } from "./hessian_capture.ts";
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig({ numLayers: 1 });
 * const m = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const cap = await captureLayerHessians(m, 0, [m.embed([1, 2, 3, 4])]);
 * if (cap.hessians.qkv.rows !== 4 || cap.hessians.down.n !== c.intermediateSize) throw new Error();
 * ```
 */
export async function captureLayerHessians(
  model: LlamaModel,
  layer: number,
  hidden: readonly Float32Array[],
): Promise<LayerCapture> {
  checkCaptureArgs(model, layer, hidden);
  const hessians = {} as Record<HessianGroup, HessianAccumulator>;
  const saved: [LinearKind, Linear][] = [];
  try {
    for (const [group, kinds] of Object.entries(HESSIAN_GROUPS) as [HessianGroup, LinearKind[]][]) {
      const kind = kinds[0]!;
      const inner = model.getLinear(layer, kind);
      const acc = new HessianAccumulator(inner.inFeatures);
      hessians[group] = acc;
      saved.push([kind, model.setLinear(layer, kind, recording(inner, acc))]);
    }
    const outputs: Float32Array[] = [];
    for (const h of hidden) outputs.push(await model.forwardLayers(layer, layer + 1, h));
    return { hessians, outputs };
  } finally {
    for (const [kind, lin] of saved) model.setLinear(layer, kind, lin);
  }
}

/** One clear error for a layer index out of range or no calibration windows. */
export function checkCaptureArgs(
  model: LlamaModel,
  layer: number,
  hidden: readonly Float32Array[],
): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= model.numLayers) {
    throw new QuantlabError(
      "bad-argument",
      `Layer ${layer} does not exist; use 0 to ${model.numLayers - 1}`,
    );
  }
  if (hidden.length === 0) {
    throw new QuantlabError("bad-argument", "Calibration needs at least one window; got none");
  }
}
