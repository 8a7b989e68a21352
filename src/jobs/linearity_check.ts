// This module is browser compatible.
/**
 * The check of the linearity model (HIGGS, Malinovskii et al., NAACL 2025, Theorem 1): quantize
 * the whole model with many per-projection grid assignments, measure the metric's real change
 * against the dense model, and compare it with the prediction Σ_l α_l·t_l² from sensitivities
 * measured once by noise injection ({@linkcode estimateSensitivities}).
 *
 * Assignments come from `linearity_configs.ts`; the fit and paired comparisons of the rows from
 * `linearity_summary.ts`. t_l² is the realized relative error of the actual quantized
 * projection (after the Hadamard rotation it is close to the grid's Gaussian MSE, which gives the
 * second prediction, the one the allocation uses).
 *
 * Each (projection, grid) is quantized once and reused by every assignment; the metric is
 * perplexity on the given windows (ΔPPL, with the standard error of the window-paired
 * difference) or the mean KL divergence from the dense model (nats per position).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { logSoftmaxRows, meanKl } from "../eval/kl.ts";
import type { Backend } from "../gpu/backend.ts";
import { LutLinear } from "../lut/linear.ts";
import type { Linear } from "../model/linear.ts";
import type { LlamaModel } from "../model/llama.ts";
import { linearName } from "../model/types.ts";
import { dequantize } from "../quant/dequantize.ts";
import { relativeMse } from "../quant/error_metrics.ts";
import { bitsPerWeight } from "../quant/format.ts";
import type { Quantizer, QuantOptions } from "../quant/quantizer.ts";
import { getQuantizer } from "../quant/registry.ts";
import type { LinearityMetric } from "./linearity.ts";
import type {
  AssignmentFamily,
  BaselineMethod,
  GridAssignment,
  GridOption,
  ScaleRule,
  SensitiveProjection,
} from "./linearity_configs.ts";
import { meanSe } from "../eval/paired.ts";
import { DENSE } from "./linearity_configs.ts";

/** The measured and predicted change of one assignment. */
export interface LinearityRow {
  /** The assignment's label. */
  label: string;
  /** Its family. */
  family: AssignmentFamily;
  /** Its budget (optimal allocations), else null. */
  budget: number | null;
  /** Bits per weight over the quantized projections: codes, scales and tables as stored. */
  bitsPerWeight: number;
  /** Σ α_l·t_l² with the realized t_l² of the quantized projections. */
  predicted: number;
  /**
   * Σ α_l·MSE(grid_l): the prediction from the grids' Gaussian MSE (what allocation uses); for
   * baselines, equal to `predicted`.
   */
  predictedFromGrid: number;
  /** The measured change: ΔPPL, or the mean KL from the dense model. */
  measured: number;
  /** Standard error of `measured` over windows (null for one window). */
  measuredSe: number | null;
  /**
   * Per window: the change of mean NLL per token ("ppl"), or the mean KL ("kl"). Rows measured on
   * the same windows compare pairwise ({@linkcode compareRows}).
   */
  perWindow: number[];
  /** The grid (option name) per projection. */
  grids: string[];
  /** Realized t² per projection. */
  t2: number[];
}

/** Options of {@linkcode checkLinearity}. */
export interface LinearityCheckOptions {
  /** `"ppl"` or `"kl"` (as the sensitivities were measured). */
  metric: LinearityMetric;
  /** Token windows (each ≥ 2 tokens), scored from the second token on. */
  windows: number[][];
  /** The projections with their α (each is quantized in every assignment). */
  projections: SensitiveProjection[];
  /** The grids. */
  options: GridOption[];
  /** Hadamard block size of the HIGGS quantizer. */
  hadamard: number;
  /** HIGGS scale rule (default "rms"). */
  scaleRule?: ScaleRule;
  /** The assignments (e.g. from {@linkcode linearityConfigs}). */
  configs: GridAssignment[];
  /** Other methods, each applied to every projection after the assignments (default none). */
  baselines?: BaselineMethod[];
  /** Rows already measured (from a log): reused by label. */
  done?: LinearityRow[];
  /**
   * Measure only the units this returns true for (a shard of the run; unit = the index in
   * configs, then baselines); the others are left out of the rows. Default: every unit.
   */
  owns?: (unit: number) => boolean;
  /** Encoder backend. */
  backend?: Backend;
  /** Called after each new row. */
  onRow?: (row: LinearityRow, index: number, total: number) => void | Promise<void>;
  /** Called after each (projection, grid) quantization. */
  onQuantized?: (done: number) => void;
}

/** The result of {@linkcode checkLinearity}. */
export interface LinearityCheck {
  /** The dense model's metric: its perplexity on the windows ("ppl") or 0 ("kl"). */
  base: number;
  /** One row per assignment, in order. */
  rows: LinearityRow[];
}

/**
 * Measures every assignment (see the module doc); the model's projections are restored
 * afterwards, also on failure. Errors: `bad-argument` for invalid options, naming the value.
 *
 * @example Two assignments of a small random model, data-free
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * import { checkLinearity } from "./linearity_check.ts";
 * const c = llamaConfig({ hiddenSize: 64, numLayers: 1, vocabSize: 64, intermediateSize: 128 });
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const options = [
 *   { name: "higgs (2,16)", p: 2, n: 16, bits: 2.25, error: 0.1076 },
 *   { name: "higgs (2,256)", p: 2, n: 256, bits: 4.25, error: 0.00775 },
 * ];
 * const projections = [{ layer: 0, kind: "down_proj" as const, alpha: 1, size: 64 * 128 }];
 * const r = await checkLinearity(model, {
 *   metric: "kl", windows: [[1, 5, 9, 13, 2, 7]], projections, options, hadamard: 64,
 *   configs: [0, 1].map((j) => ({ label: `g${j}`, family: "uniform", budget: null, choice: [j] })),
 * });
 * if (!(r.rows[0]!.measured > r.rows[1]!.measured)) throw new Error("2 bits beat 4");
 * ```
 */
export async function checkLinearity(
  model: LlamaModel,
  opts: LinearityCheckOptions,
): Promise<LinearityCheck> {
  checkAssignments(opts);
  const meter = await AssignmentMeter.start(model, opts);
  const higgsOf = higgsProjections(meter, opts);
  const { options, configs } = opts;
  const done = new Map((opts.done ?? []).map((r) => [r.label, r]));
  const baselines = opts.baselines ?? [];
  const owns = opts.owns ?? (() => true);
  let total = 0;
  for (let u = 0; u < configs.length + baselines.length; u++) if (owns(u)) total++;
  const rows: LinearityRow[] = [];
  // A row from the log is reused as is; a new one is measured and reported.
  const addRow = async (label: string, measure: () => Promise<LinearityRow>) => {
    const prev = done.get(label);
    if (prev) {
      rows.push(prev);
      return;
    }
    const row = await measure();
    rows.push(row);
    await opts.onRow?.(row, rows.length - 1, total);
  };
  try {
    for (let c = 0; c < configs.length; c++) {
      if (!owns(c)) continue;
      const cfg = configs[c]!;
      await addRow(cfg.label, () =>
        meter.measure(
          cfg,
          (i) => cfg.choice[i] === DENSE ? Promise.resolve(null) : higgsOf(i, cfg.choice[i]!),
          (i) => options[cfg.choice[i]!]!.error,
          (i) => cfg.choice[i] === DENSE ? "dense" : options[cfg.choice[i]!]!.name,
        ));
    }
    for (let k = 0; k < baselines.length; k++) {
      if (!owns(configs.length + k)) continue;
      const b = baselines[k]!, label = `uniform ${b.label}`;
      await addRow(label, () => {
        const quantizer = getQuantizer(b.method);
        return meter.measure(
          { label, family: "baseline", budget: null },
          (i) => quantizeProjection(meter, i, quantizer, b.options, opts.backend),
          (_, t2) => t2,
          () => b.label,
        );
      });
    }
  } finally {
    meter.restore();
  }
  return { base: meter.base, rows };
}

/** Refuses an invalid metric, windows or assignment (`bad-argument`, naming the value). */
function checkAssignments(opts: LinearityCheckOptions): void {
  const { metric, windows, projections, options, configs } = opts;
  if (metric !== "ppl" && metric !== "kl") {
    throw new QuantlabError("bad-argument", `Metric "${metric}" is not valid; use ppl or kl`);
  }
  if (!windows.length || windows.some((w) => w.length < 2)) {
    throw new QuantlabError(
      "bad-argument",
      "The check needs at least one token window, each of at least 2 tokens",
    );
  }
  const labels = new Set<string>();
  for (const c of configs) {
    if (labels.has(c.label)) {
      throw new QuantlabError("bad-argument", `Assignment label "${c.label}" appears twice`);
    }
    labels.add(c.label);
    if (
      c.choice.length !== projections.length ||
      c.choice.some((j) => j !== DENSE && !options[j]) || c.choice.every((j) => j === DENSE)
    ) {
      throw new QuantlabError(
        "bad-argument",
        `Assignment "${c.label}" must choose one of ${options.length} grids (or ${DENSE}: dense) ` +
          `for each of ${projections.length} projections, at least one quantized`,
      );
    }
  }
}

/** A projection quantized one way: the layer swapped in, its realized t², its bits per weight. */
interface QuantizedProjection {
  linear: Linear;
  t2: number;
  bits: number;
}

/** The metric's raw scores per window: NLL sums ("ppl") or log-probabilities ("kl"). */
type WindowScores = number[] | Float64Array[];

/**
 * Swaps quantized projections into the model and measures the metric's change against the dense
 * model, always on the same windows (embedded once), so rows compare pairwise.
 */
class AssignmentMeter {
  /** The dense model's metric: perplexity ("ppl") or 0 ("kl"). */
  readonly base: number;
  /** The projections' original (dense) layers, in the order of `projections`. */
  readonly originals: Linear[];

  private constructor(
    readonly model: LlamaModel,
    readonly opts: Pick<LinearityCheckOptions, "metric" | "windows" | "projections">,
    private readonly embeds: Float32Array[],
    private readonly dense: WindowScores,
  ) {
    const { windows, projections } = opts;
    this.base = opts.metric === "ppl"
      ? Math.exp((dense as number[]).reduce((s, v) => s + v, 0) / scoredTokens(windows))
      : 0;
    this.originals = projections.map((p) => model.getLinear(p.layer, p.kind));
  }

  /** Embeds the windows and scores the dense model on them. */
  static async start(
    model: LlamaModel,
    opts: Pick<LinearityCheckOptions, "metric" | "windows" | "projections">,
  ): Promise<AssignmentMeter> {
    const embeds = opts.windows.map((w) => model.embed(w));
    const dense = await scoreWindows(model, opts.metric, opts.windows, embeds);
    return new AssignmentMeter(model, opts, embeds, dense);
  }

  /** The dense weights of projection `i` (to quantize); `unsupported` if its layer hides them. */
  weightsOf(i: number): Float32Array {
    const w = this.originals[i]!.weightF32?.();
    if (!w) {
      const p = this.opts.projections[i]!;
      throw new QuantlabError(
        "unsupported",
        `Layer ${p.layer} ${p.kind} exposes no weights (weightF32) to quantize`,
      );
    }
    return w;
  }

  /**
   * Quantizes every projection by `pick(i)` (null: left dense), measures the model, restores
   * nothing (the caller does, once, at the end).
   */
  async measure(
    head: Pick<LinearityRow, "label" | "family" | "budget">,
    pick: (i: number) => Promise<QuantizedProjection | null>,
    gridError: (i: number, t2: number) => number,
    gridName: (i: number) => string,
  ): Promise<LinearityRow> {
    const { model, opts: { projections } } = this;
    let bits = 0, size = 0, predicted = 0, predictedFromGrid = 0;
    const t2: number[] = [];
    for (let i = 0; i < projections.length; i++) {
      const p = projections[i]!;
      const q = await pick(i);
      if (!q) {
        model.setLinear(p.layer, p.kind, this.originals[i]!);
        t2.push(0);
        continue;
      }
      model.setLinear(p.layer, p.kind, q.linear);
      t2.push(q.t2);
      predicted += p.alpha * q.t2;
      predictedFromGrid += p.alpha * gridError(i, q.t2);
      bits += q.bits * p.size;
      size += p.size;
    }
    const got = await scoreWindows(model, this.opts.metric, this.opts.windows, this.embeds);
    return {
      ...head,
      bitsPerWeight: bits / size,
      predicted,
      predictedFromGrid,
      ...this.#change(got),
      grids: projections.map((_, i) => gridName(i)),
      t2,
    };
  }

  /** Puts the dense layers back (also after a failure). */
  restore(): void {
    this.opts.projections.forEach((p, i) =>
      this.model.setLinear(p.layer, p.kind, this.originals[i]!)
    );
  }

  /** The measured change of `got` from the dense scores, with its SE over windows. */
  #change(got: WindowScores): Pick<LinearityRow, "measured" | "measuredSe" | "perWindow"> {
    const { metric, windows } = this.opts;
    if (metric === "kl") {
      const V = this.model.config.vocabSize;
      const perWindow = (got as Float64Array[]).map((lq, i) =>
        meanKl(this.dense[i] as Float64Array, lq, windows[i]!.length, V)
      );
      // Positions-weighted mean (windows may differ in length); SE over windows.
      const measured = perWindow.reduce((s, v, i) => s + v * windows[i]!.length, 0) /
        windows.reduce((s, w) => s + w.length, 0);
      return { measured, measuredSe: meanSe(perWindow).se, perWindow };
    }
    const sums = got as number[];
    const ppl = Math.exp(sums.reduce((s, v) => s + v, 0) / scoredTokens(windows));
    // ΔPPL ≈ PPL·Δ(mean NLL): its SE from the window-paired differences of NLL per token.
    const perWindow = sums.map((v, i) =>
      (v - (this.dense as number[])[i]!) / (windows[i]!.length - 1)
    );
    const se = meanSe(perWindow).se;
    return { measured: ppl - this.base, measuredSe: se === null ? null : ppl * se, perWindow };
  }
}

/** Tokens scored over the windows (each from its second token on). */
function scoredTokens(windows: number[][]): number {
  return windows.reduce((s, w) => s + w.length - 1, 0);
}

/** The model's per-window NLL sums ("ppl") or log-probabilities ("kl") on the embedded windows. */
async function scoreWindows(
  model: LlamaModel,
  metric: LinearityMetric,
  windows: number[][],
  embeds: Float32Array[],
): Promise<WindowScores> {
  if (metric === "kl") {
    const V = model.config.vocabSize;
    const out: Float64Array[] = [];
    for (let i = 0; i < windows.length; i++) {
      out.push(logSoftmaxRows(await model.forwardFrom(0, embeds[i]!), windows[i]!.length, V));
    }
    return out;
  }
  const out: number[] = [];
  for (let i = 0; i < windows.length; i++) {
    out.push((await model.nllFrom(0, embeds[i]!, windows[i]!)).reduce((s, v) => s + v, 0));
  }
  return out;
}

/** Quantizes projection `i` of the meter's model with `quantizer` into a LUT layer. */
async function quantizeProjection(
  meter: AssignmentMeter,
  i: number,
  quantizer: Quantizer,
  options: QuantOptions,
  backend: Backend | undefined,
): Promise<QuantizedProjection> {
  const p = meter.opts.projections[i]!, lin = meter.originals[i]!;
  const name = linearName(p.layer, p.kind);
  const w = meter.weightsOf(i);
  const q = await quantizer.quantize(w, lin.outFeatures, lin.inFeatures, options, backend, name);
  return {
    linear: new LutLinear(q, lin.bias, name),
    t2: relativeMse(w, dequantize(q)),
    bits: bitsPerWeight(q),
  };
}

/**
 * Projection `i` under HIGGS grid `j`, quantized once and reused by every assignment that picks
 * it (the expensive step of the check).
 */
function higgsProjections(
  meter: AssignmentMeter,
  opts: LinearityCheckOptions,
): (i: number, j: number) => Promise<QuantizedProjection> {
  const quantized = new Map<string, QuantizedProjection>();
  const higgs = getQuantizer("higgs");
  return async (i, j) => {
    const key = `${i}|${j}`;
    let hit = quantized.get(key);
    if (!hit) {
      const o = opts.options[j]!;
      hit = await quantizeProjection(meter, i, higgs, {
        p: o.p,
        gridSize: o.n,
        hadamard: opts.hadamard,
        extra: { scaleRule: opts.scaleRule ?? "rms" },
      }, opts.backend);
      quantized.set(key, hit);
      opts.onQuantized?.(quantized.size);
    }
    return hit;
  };
}
