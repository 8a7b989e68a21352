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
  // Long on purpose: one measurement loop (dense baseline, then each configuration swapped in and
  // measured on the same windows) whose shared state would otherwise travel through many
  // parameters.
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
  const V = model.config.vocabSize;
  const embeds = windows.map((w) => model.embed(w));
  const scored = windows.reduce((s, w) => s + w.length - 1, 0);
  // The dense model's per-window NLL sums ("ppl") or log-probabilities ("kl").
  const evalWindows = async (): Promise<number[] | Float64Array[]> => {
    if (metric === "kl") {
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
  };
  const dense = await evalWindows();
  const base = metric === "ppl"
    ? Math.exp((dense as number[]).reduce((s, v) => s + v, 0) / scored)
    : 0;

  const originals: Linear[] = projections.map((p) => model.getLinear(p.layer, p.kind));
  const weightsOf = (i: number): Float32Array => {
    const w = originals[i]!.weightF32?.();
    if (!w) {
      const p = projections[i]!;
      throw new QuantlabError(
        "unsupported",
        `Layer ${p.layer} ${p.kind} exposes no weights (weightF32) to quantize`,
      );
    }
    return w;
  };
  const quantized = new Map<string, { linear: Linear; t2: number; bits: number }>();
  const higgs = getQuantizer("higgs");
  const quantizedOf = async (i: number, j: number) => {
    const key = `${i}|${j}`;
    let hit = quantized.get(key);
    if (!hit) {
      const p = projections[i]!, o = options[j]!, lin = originals[i]!;
      const w = weightsOf(i);
      const name = linearName(p.layer, p.kind);
      const q = await higgs.quantize(
        w,
        lin.outFeatures,
        lin.inFeatures,
        {
          p: o.p,
          gridSize: o.n,
          hadamard: opts.hadamard,
          extra: { scaleRule: opts.scaleRule ?? "rms" },
        },
        opts.backend,
        name,
      );
      hit = {
        linear: new LutLinear(q, lin.bias, name),
        t2: relativeMse(w, dequantize(q)),
        bits: bitsPerWeight(q),
      };
      quantized.set(key, hit);
      opts.onQuantized?.(quantized.size);
    }
    return hit;
  };

  const done = new Map((opts.done ?? []).map((r) => [r.label, r]));
  const baselines = opts.baselines ?? [];
  const owns = opts.owns ?? (() => true);
  let total = 0;
  for (let u = 0; u < configs.length + baselines.length; u++) if (owns(u)) total++;
  // Quantizes every projection by `pick(i)`, measures the model, restores nothing (the caller
  // does, once, at the end).
  const measure = async (
    head: Pick<LinearityRow, "label" | "family" | "budget">,
    pick: (i: number) => Promise<{ linear: Linear; t2: number; bits: number } | null>,
    gridError: (i: number, t2: number) => number,
    gridName: (i: number) => string,
  ): Promise<LinearityRow> => {
    let bits = 0, size = 0, predicted = 0, predictedFromGrid = 0;
    const t2: number[] = [];
    for (let i = 0; i < projections.length; i++) {
      const p = projections[i]!;
      const q = await pick(i);
      if (!q) { // left dense
        model.setLinear(p.layer, p.kind, originals[i]!);
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
    const got = await evalWindows();
    let measured: number, measuredSe: number | null, perWindow: number[];
    if (metric === "kl") {
      perWindow = (got as Float64Array[]).map((lq, i) =>
        meanKl(dense[i] as Float64Array, lq, windows[i]!.length, V)
      );
      // Positions-weighted mean (windows may differ in length); SE over windows.
      measured = perWindow.reduce((s, v, i) => s + v * windows[i]!.length, 0) /
        windows.reduce((s, w) => s + w.length, 0);
      measuredSe = meanSe(perWindow).se;
    } else {
      const sums = got as number[];
      const ppl = Math.exp(sums.reduce((s, v) => s + v, 0) / scored);
      measured = ppl - base;
      // ΔPPL ≈ PPL·Δ(mean NLL): its SE from the window-paired differences of NLL per token.
      perWindow = sums.map((v, i) => (v - (dense as number[])[i]!) / (windows[i]!.length - 1));
      const se = meanSe(perWindow).se;
      measuredSe = se === null ? null : ppl * se;
    }
    return {
      ...head,
      bitsPerWeight: bits / size,
      predicted,
      predictedFromGrid,
      measured,
      measuredSe,
      perWindow,
      grids: projections.map((_, i) => gridName(i)),
      t2,
    };
  };

  const rows: LinearityRow[] = [];
  try {
    for (let c = 0; c < configs.length; c++) {
      if (!owns(c)) continue;
      const cfg = configs[c]!;
      const prev = done.get(cfg.label);
      if (prev) {
        rows.push(prev);
        continue;
      }
      const row = await measure(
        cfg,
        (i) => cfg.choice[i] === DENSE ? Promise.resolve(null) : quantizedOf(i, cfg.choice[i]!),
        (i) => options[cfg.choice[i]!]!.error,
        (i) => cfg.choice[i] === DENSE ? "dense" : options[cfg.choice[i]!]!.name,
      );
      rows.push(row);
      await opts.onRow?.(row, rows.length - 1, total);
    }
    for (let k = 0; k < baselines.length; k++) {
      if (!owns(configs.length + k)) continue;
      const b = baselines[k]!, label = `uniform ${b.label}`;
      const prev = done.get(label);
      if (prev) {
        rows.push(prev);
        continue;
      }
      const quantizer = getQuantizer(b.method);
      const row = await measure(
        { label, family: "baseline", budget: null },
        async (i) => {
          const p = projections[i]!, lin = originals[i]!, name = linearName(p.layer, p.kind);
          const w = weightsOf(i);
          const q = await quantizer.quantize(
            w,
            lin.outFeatures,
            lin.inFeatures,
            b.options,
            opts.backend,
            name,
          );
          return {
            linear: new LutLinear(q, lin.bias, name),
            t2: relativeMse(w, dequantize(q)),
            bits: bitsPerWeight(q),
          };
        },
        (_, t2) => t2,
        () => b.label,
      );
      rows.push(row);
      await opts.onRow?.(row, rows.length - 1, total);
    }
  } finally {
    projections.forEach((p, i) => model.setLinear(p.layer, p.kind, originals[i]!));
  }
  return { base, rows };
}
