// This module is browser compatible.
/**
 * The check of the linearity model (HIGGS, Malinovskii et al., NAACL 2025, Theorem 1): quantize
 * the whole model with many per-projection grid assignments, measure the metric's real change
 * against the dense model, and compare it with the prediction Σ_l α_l·t_l² from sensitivities
 * measured once by noise injection ({@linkcode estimateSensitivities}).
 *
 * Assignments ({@linkcode linearityConfigs}): every grid everywhere ("uniform"), random mixes
 * (each draws a range of adjacent grids, then a grid in that range per projection, so the mixes
 * spread over the whole bits range), and the optimal allocation at given budgets ("optimal", by
 * {@linkcode allocateBits}). t_l² is the realized relative error of the actual quantized
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
import { hash32, randU32 } from "../core/prng.ts";
import { logSoftmaxRows, meanKl } from "../eval/kl.ts";
import type { Backend } from "../gpu/backend.ts";
import { loadGrid } from "../grids/load.ts";
import { LutLinear } from "../lut/linear.ts";
import type { Linear } from "../model/linear.ts";
import type { LlamaModel } from "../model/llama.ts";
import { linearName } from "../model/types.ts";
import { dequantize } from "../quant/dequantize.ts";
import { relativeMse } from "../quant/error_metrics.ts";
import { unbiasedMse } from "../quant/higgs_unbiased.ts";
import { bitsPerWeight } from "../quant/format.ts";
import type { QuantMethod } from "../quant/format.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import { getQuantizer } from "../quant/registry.ts";
import { allocateBits, type AllocationOption } from "./allocation.ts";
import { fitThroughOrigin, type LinearityMetric, type ProjectionRef } from "./linearity.ts";

/** A HIGGS grid open to every projection, with its allocation cost and Gaussian MSE. */
export interface GridOption extends AllocationOption {
  /** Vector dimension. */
  p: number;
  /** Grid size. */
  n: number;
  /** The grid's per-coordinate MSE on N(0, 1) data. */
  error: number;
}

/**
 * The HIGGS grids `(p, n)` as allocation options: cost log₂n/p bits for the codes plus one f16
 * scale per Hadamard block of `hadamard` columns; error the grid's Gaussian MSE t², or t²/(1 − t²)
 * for the unbiased scale rule (`src/quant/higgs_unbiased.ts`).
 *
 * @example
 * ```ts
 * import { higgsGridOptions } from "./linearity_check.ts";
 * const [o] = await higgsGridOptions([[2, 256]], 1024);
 * if (o!.bits !== 4 + 16 / 1024 || Math.abs(o!.error / 0.007752 - 1) > 0.005) throw new Error();
 * ```
 */
export async function higgsGridOptions(
  grids: readonly (readonly [number, number])[],
  hadamard: number,
  scaleRule: ScaleRule = "rms",
): Promise<GridOption[]> {
  const out: GridOption[] = [];
  for (const [p, n] of grids) {
    const g = await loadGrid(p, n);
    const unbiased = scaleRule === "unbiased";
    out.push({
      name: `higgs (${p},${n})${unbiased ? " unbiased" : ""}`,
      p,
      n,
      bits: Math.log2(n) / p + 16 / hadamard,
      error: unbiased ? unbiasedMse(g.mse) : g.mse,
    });
  }
  return out;
}

/** How HIGGS sets its scales (see `HiggsParams.scaleRule`). */
export type ScaleRule = "rms" | "unbiased";

/** A projection with its measured sensitivity. */
export interface SensitiveProjection extends ProjectionRef {
  /** α: the metric's change per unit t². */
  alpha: number;
  /** Number of weights. */
  size: number;
}

/**
 * Where an assignment comes from: a HIGGS grid everywhere, a random mix, an optimal allocation, or
 * another method everywhere (a baseline: the check of α·t² across quantizers).
 */
export type AssignmentFamily = "uniform" | "random" | "optimal" | "baseline";

/** Another quantization method applied to every projection. */
export interface BaselineMethod {
  /** Label, e.g. `"hqq int3 g64 axis 0"`. */
  label: string;
  /** Method name in the registry. */
  method: QuantMethod;
  /** Its options. */
  options: QuantOptions;
}

/** One whole-model assignment of grids to projections. */
export interface GridAssignment {
  /** Unique label (the resume key), e.g. `uniform higgs (2,64)`, `random 3`, `optimal 3.25`. */
  label: string;
  /** Where it comes from. */
  family: AssignmentFamily;
  /** The budget in bits per weight (family "optimal"), else null. */
  budget: number | null;
  /** The option index per projection (in the projections' order). */
  choice: number[];
}

/** Options of {@linkcode linearityConfigs}. */
export interface ConfigOptions {
  /** Number of random mixes (default 8). */
  mixes?: number;
  /** Budgets (bits per weight) for optimal allocations (default none). */
  budgets?: number[];
  /** Seed of the mixes (default 0). */
  seed?: number;
}

/**
 * The assignments to check (see the module doc): uniform, random mixes, optimal allocations.
 * Errors: `bad-argument` when a budget is below the cheapest grid.
 *
 * @example
 * ```ts
 * import { linearityConfigs } from "./linearity_check.ts";
 * const options = [
 *   { name: "a", p: 2, n: 16, bits: 2, error: 0.1 },
 *   { name: "b", p: 2, n: 256, bits: 4, error: 0.008 },
 * ];
 * const projections = [{ layer: 0, kind: "q_proj" as const, alpha: 1, size: 100 }];
 * const c = linearityConfigs(projections, options, { mixes: 2, budgets: [4] });
 * if (c.length !== 5 || c[4]!.choice[0] !== 1) throw new Error();
 * ```
 */
export function linearityConfigs(
  projections: readonly SensitiveProjection[],
  options: readonly GridOption[],
  opts: ConfigOptions = {},
): GridAssignment[] {
  const mixes = opts.mixes ?? 8, seed = opts.seed ?? 0, J = options.length;
  if (!Number.isInteger(mixes) || mixes < 0) {
    throw new QuantlabError("bad-argument", `Mixes = ${mixes} is not an integer ≥ 0`);
  }
  if (!J) throw new QuantlabError("bad-argument", "No grids to assign");
  const out: GridAssignment[] = options.map((o, j) => ({
    label: `uniform ${o.name}`,
    family: "uniform",
    budget: null,
    choice: projections.map(() => j),
  }));
  // Options ordered by cost, so a "range of adjacent grids" is a range of bitwidths.
  const byBits = options.map((_, j) => j).sort((a, b) => options[a]!.bits - options[b]!.bits);
  for (let k = 0; k < mixes; k++) {
    const r = (i: number) => randU32(seed, hash32((k * 0x10000 + i) >>> 0));
    // At least two grids per mix (when there are two): one grid everywhere is a uniform row.
    const lo = J > 1 ? r(0xffff) % (J - 1) : 0;
    const span = J > 1 ? 2 + (r(0xfffe) % (J - 1 - lo)) : 1;
    out.push({
      label: `random ${k}`,
      family: "random",
      budget: null,
      choice: projections.map((_, i) => byBits[lo + (r(i) % span)]!),
    });
  }
  const layers = projections.map((p) => ({
    name: linearName(p.layer, p.kind),
    alpha: Math.max(0, p.alpha),
    size: p.size,
  }));
  for (const budget of opts.budgets ?? []) {
    out.push({
      label: `optimal ${budget}`,
      family: "optimal",
      budget,
      choice: allocateBits(layers, [...options], budget).choice,
    });
  }
  return out;
}

/** The measured and predicted change of one assignment. */
export interface LinearityRow {
  /** The assignment's label. */
  label: string;
  /** Its family. */
  family: AssignmentFamily;
  /** Its budget (optimal allocations), else null. */
  budget: number | null;
  /** Bits per weight over the projections: codes, scales and tables as stored. */
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

/** Mean of per-window values and its standard error. */
function meanSe(v: number[]): { mean: number; se: number | null } {
  const n = v.length, mean = v.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, se: null };
  const ss = v.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { mean, se: Math.sqrt(ss / (n - 1) / n) };
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
    if (c.choice.length !== projections.length || c.choice.some((j) => !options[j])) {
      throw new QuantlabError(
        "bad-argument",
        `Assignment "${c.label}" must choose one of ${options.length} grids for each of ` +
          `${projections.length} projections`,
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
  const total = configs.length + baselines.length;
  // Quantizes every projection by `pick(i)`, measures the model, restores nothing (the caller
  // does, once, at the end).
  const measure = async (
    head: Pick<LinearityRow, "label" | "family" | "budget">,
    pick: (i: number) => Promise<{ linear: Linear; t2: number; bits: number }>,
    gridError: (i: number, t2: number) => number,
    gridName: (i: number) => string,
  ): Promise<LinearityRow> => {
    let bits = 0, size = 0, predicted = 0, predictedFromGrid = 0;
    const t2: number[] = [];
    for (let i = 0; i < projections.length; i++) {
      const p = projections[i]!;
      const q = await pick(i);
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
      const cfg = configs[c]!;
      const prev = done.get(cfg.label);
      if (prev) {
        rows.push(prev);
        continue;
      }
      const row = await measure(
        cfg,
        (i) => quantizedOf(i, cfg.choice[i]!),
        (i) => options[cfg.choice[i]!]!.error,
        (i) => options[cfg.choice[i]!]!.name,
      );
      rows.push(row);
      await opts.onRow?.(row, c, total);
    }
    for (let k = 0; k < baselines.length; k++) {
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
      await opts.onRow?.(row, configs.length + k, total);
    }
  } finally {
    projections.forEach((p, i) => model.setLinear(p.layer, p.kind, originals[i]!));
  }
  return { base, rows };
}

/** The paired difference of two rows' measurements. */
export interface RowComparison {
  /** b.measured − a.measured. */
  diff: number;
  /** Its standard error from the window-paired differences (null for one window). */
  se: number | null;
}

/**
 * Compares two rows measured on the same windows (of one run, or of runs with the same windows):
 * the difference of their measurements with the standard error of the window-paired
 * differences — much tighter than either row's own error, as both share each window's
 * difficulty. For ΔPPL the per-token NLL differences are scaled by the mean of the two
 * perplexities (the delta method); `base` is the dense perplexity (0 for KL).
 *
 * @example
 * ```ts
 * import { compareRows } from "./linearity_check.ts";
 * const row = (measured: number, perWindow: number[]) => ({ measured, perWindow }) as never;
 * const c = compareRows(row(0.1, [0.5, 1, 0]), row(0.3, [1, 1.5, 0.5]), 0);
 * if (Math.abs(c.diff - 0.2) > 1e-12 || c.se !== 0) throw new Error();
 * ```
 */
export function compareRows(a: LinearityRow, b: LinearityRow, base: number): RowComparison {
  if (a.perWindow.length !== b.perWindow.length || !a.perWindow.length) {
    throw new QuantlabError(
      "bad-shape",
      `Rows "${a.label}" and "${b.label}" were measured on ${a.perWindow.length} and ` +
        `${b.perWindow.length} windows; a paired comparison needs the same windows`,
    );
  }
  const scale = base > 0 ? (2 * base + a.measured + b.measured) / 2 : 1;
  const { se } = meanSe(b.perWindow.map((v, i) => v - a.perWindow[i]!));
  return { diff: b.measured - a.measured, se: se === null ? null : se * scale };
}

/** How well the predictions match: the fit of measured on predicted, and per-row errors. */
export interface LinearitySummary {
  /** Rows summarized. */
  rows: number;
  /** Least-squares slope through the origin of measured on predicted (1 = exact). */
  slope: number;
  /** Its uncentered R². */
  r2: number;
  /** Rows whose measured change exceeds twice its standard error (all, where none is known). */
  significantRows: number;
  /** Median of |measured / predicted − 1| over the significant rows (null if there are none). */
  medianRelativeError: number | null;
  /** Share of the rows whose |measured − predicted| ≤ 2 standard errors (null without SEs). */
  withinTwoSe: number | null;
}

/**
 * Summarizes rows of {@linkcode checkLinearity} (only rows with bits ≥ `minBits`, default all).
 * Relative errors are taken only where the measurement stands out of its noise: a ΔPPL within
 * two standard errors of 0 says nothing about a ratio.
 *
 * @example
 * ```ts
 * import { summarizeLinearity } from "./linearity_check.ts";
 * const row = (predicted: number, measured: number, measuredSe: number) =>
 *   ({ predicted, measured, measuredSe, bitsPerWeight: 3 }) as never;
 * const s = summarizeLinearity([row(1, 1.1, 0.1), row(2, 1.8, 0.05), row(0.1, 0.05, 0.1)]);
 * if (s.significantRows !== 2 || Math.abs(s.medianRelativeError! - 0.1) > 1e-12) throw new Error();
 * if (s.withinTwoSe !== 2 / 3) throw new Error(String(s.withinTwoSe));
 * ```
 */
export function summarizeLinearity(
  rows: readonly LinearityRow[],
  minBits = 0,
): LinearitySummary {
  const rs = rows.filter((r) => r.bitsPerWeight >= minBits);
  if (!rs.length) {
    throw new QuantlabError("bad-argument", `No rows at ${minBits} bits per weight or more`);
  }
  const { slope, r2 } = fitThroughOrigin(rs.map((r) => r.predicted), rs.map((r) => r.measured));
  const sig = rs.filter((r) => r.measuredSe === null || r.measured > 2 * r.measuredSe);
  const rel = sig.map((r) => Math.abs(r.measured / r.predicted - 1)).sort((a, b) => a - b);
  const m = rel.length >> 1;
  const withSe = rs.filter((r) => r.measuredSe !== null);
  return {
    rows: rs.length,
    slope,
    r2,
    significantRows: sig.length,
    medianRelativeError: !rel.length
      ? null
      : rel.length % 2
      ? rel[m]!
      : (rel[m - 1]! + rel[m]!) / 2,
    withinTwoSe: withSe.length
      ? withSe.filter((r) => Math.abs(r.measured - r.predicted) <= 2 * r.measuredSe!).length /
        withSe.length
      : null,
  };
}
