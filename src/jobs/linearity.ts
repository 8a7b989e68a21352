// This module is browser compatible.
/**
 * The linearity model of HIGGS (Malinovskii et al., NAACL 2025): for small, unbiased,
 * independent per-layer weight errors,
 *
 *     M(W + ΔW) − M(W) ≈ Σ_l α_l · t_l²,   t_l² = ‖ΔW_l‖²_F / ‖W_l‖²_F,
 *
 * where M is the perplexity (the paper's main form) or, data-free, the KL divergence of the
 * model's next-token distribution from the unperturbed one on random tokens. The sensitivities
 * α_l are estimated as the authors do: inject Gaussian noise W_l + ε·‖W_l‖_F·t/√numel (ε ~ N(0, 1),
 * so t_l² ≈ t²) into one projection at a time at several levels t², measure M, and take the
 * least-squares slope through the origin of ΔM on t².
 *
 * Each layer's measurement reruns the model only from that layer on ({@linkcode
 * LlamaModel.nllFrom} / {@linkcode LlamaModel.forwardFrom} on hidden states captured once per
 * window), and the layer's original weights are restored afterwards, also on failure.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { logSoftmaxRows, meanKl } from "../eval/kl.ts";
import { fillNormal, hash32, randU32 } from "../core/prng.ts";
import { DenseLinear, type Linear } from "../model/linear.ts";
import type { LlamaModel } from "../model/llama.ts";
import { LINEAR_KINDS, type LinearKind } from "../model/types.ts";

/** What the sensitivities measure. */
export type LinearityMetric = "ppl" | "kl";

/** One projection of the model. */
export interface ProjectionRef {
  /** Decoder layer index. */
  layer: number;
  /** Which projection. */
  kind: LinearKind;
}

/** One measurement: a projection perturbed at one level. */
export interface SensitivityPoint extends ProjectionRef {
  /** The requested level t². */
  t2: number;
  /** The realized ‖ΔW‖²/‖W‖² of the noise drawn. */
  realizedT2: number;
  /** Seed of the noise. */
  seed: number;
  /** −1 when the noise was subtracted (the antithetic half of a pair); absent means +1. */
  sign?: -1 | 1;
  /** ΔPPL (metric "ppl") or the mean KL divergence in nats per position (metric "kl"). */
  delta: number;
}

/** The fitted sensitivity of one projection. */
export interface LayerSensitivity extends ProjectionRef {
  /** α: least-squares slope through the origin of delta on the realized t². */
  alpha: number;
  /** Uncentered R² of that fit (1 = exactly linear), over antithetic pair means where paired. */
  r2: number;
  /** The measurements. */
  points: SensitivityPoint[];
}

/** Options of {@linkcode estimateSensitivities}. */
export interface SensitivityOptions {
  /** `"ppl"` (perplexity on `windows`) or `"kl"` (KL from the unperturbed model; data-free). */
  metric: LinearityMetric;
  /** Token windows, each scored from its second token on. */
  windows: number[][];
  /** Levels t² (each in (0, 1]); default 4^−6 … 4^−2. */
  levels?: number[];
  /** Seed of the noise (default 0). */
  seed?: number;
  /**
   * Independent noise draws per level (default 1). The first-order response to the noise has
   * mean zero but does not vanish on one draw; more draws average it out of the slope.
   */
  draws?: number;
  /**
   * Draw the noise in antithetic pairs, +ε and −ε (default false): the first-order response
   * cancels exactly within each pair, leaving the quadratic term α·t² that the model is about.
   * Draws count single measurements, so pairs need an even number of them.
   */
  antithetic?: boolean;
  /**
   * Shape the noise like a blockwise quantizer's error: σ ∝ the RMS of each run of this many
   * columns of a row (e.g. the HIGGS Hadamard size); default 0, isotropic (the paper's).
   */
  noiseBlock?: number;
  /** Projections to measure (default: every projection of every layer). */
  projections?: ProjectionRef[];
  /** Measurements already made (e.g. read back from a log): reused, not remeasured. */
  done?: SensitivityPoint[];
  /**
   * Measure only the units this returns true for (a shard of the run; unit = projection index ×
   * levels × draws + draw × levels + level index, the order of a whole run); the others are
   * left out of the points, so the fits are partial. Default: every unit.
   */
  owns?: (unit: number) => boolean;
  /** Called after each new measurement (to log it, show progress). */
  onPoint?: (p: SensitivityPoint, index: number, total: number) => void | Promise<void>;
}

/** The default levels t² = 4^−6, 4^−5, 4^−4, 4^−3, 4^−2 (t = 1/64 … 1/4). */
export const DEFAULT_LEVELS: readonly number[] = [4 ** -6, 4 ** -5, 4 ** -4, 4 ** -3, 4 ** -2];

/**
 * The noise seed of one (projection, level, draw) from the run's seed. Draw 0 keeps the seeds of
 * runs made before draws existed, so their logs resume.
 */
export function noiseSeed(seed: number, ref: ProjectionRef, levelIndex: number, draw = 0): number {
  const k = LINEAR_KINDS.indexOf(ref.kind);
  const site = ((ref.layer * 16 + k) * 64 + levelIndex) >>> 0;
  return randU32(seed, draw === 0 ? hash32(site) : hash32((hash32(site) ^ hash32(draw)) >>> 0));
}

/**
 * `w + ε·‖w‖_F·√t2/√numel` with ε ~ N(0, 1) from `seed` (subtracted when `sign` is −1):
 * relative error t² in expectation. With `blocks` ({ cols, size }: w is [rows, cols]), the noise
 * is shaped like a blockwise quantizer's error instead: each run of `size` columns of a row gets
 * σ = t·RMS(that run), so rows and blocks with larger weights get larger errors (the total t² is
 * the same). Returns the new weights and the realized ‖Δw‖²/‖w‖².
 *
 * @example
 * ```ts
 * import { perturbWeights } from "./linearity.ts";
 * const w = new Float32Array(4096).fill(1);
 * const { realizedT2 } = perturbWeights(w, 0.01, 3);
 * if (Math.abs(realizedT2 - 0.01) > 0.001) throw new Error(String(realizedT2));
 * ```
 */
export function perturbWeights(
  w: Float32Array,
  t2: number,
  seed: number,
  sign: -1 | 1 = 1,
  blocks?: { cols: number; size: number },
): { weights: Float32Array; realizedT2: number } {
  if (!(Number.isFinite(t2) && t2 >= 0)) {
    throw new QuantlabError("bad-argument", `Noise level t² = ${t2} is not a finite number ≥ 0`);
  }
  let norm2 = 0;
  for (const v of w) norm2 += v * v;
  let out: Float32Array;
  if (blocks) {
    const { cols, size } = blocks;
    if (
      !(Number.isInteger(cols) && cols > 0 && w.length % cols === 0 && Number.isInteger(size) &&
        size > 0)
    ) {
      throw new QuantlabError(
        "bad-argument",
        `Noise blocks of ${size} columns over rows of ${cols} do not fit ${w.length} weights`,
      );
    }
    out = fillNormal(new Float32Array(w.length), seed);
    for (let r = 0; r < w.length / cols; r++) {
      for (let b = 0; b < cols; b += size) {
        const a = r * cols + b, e = r * cols + Math.min(b + size, cols);
        let ss = 0;
        for (let i = a; i < e; i++) ss += w[i]! * w[i]!;
        const sigma = Math.sqrt((ss * t2) / (e - a));
        for (let i = a; i < e; i++) out[i] = out[i]! * sigma;
      }
    }
  } else {
    out = fillNormal(new Float32Array(w.length), seed, 0, Math.sqrt((norm2 * t2) / w.length));
  }
  let d2 = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i]! + sign * out[i]!;
    out[i] = v;
    const d = v - w[i]!;
    d2 += d * d;
  }
  return { weights: out, realizedT2: norm2 > 0 ? d2 / norm2 : 0 };
}

/**
 * The least-squares slope through the origin of `y` on `x`, and the uncentered R².
 *
 * @example
 * ```ts
 * import { fitThroughOrigin } from "./linearity.ts";
 * const { slope, r2 } = fitThroughOrigin([1, 2, 3], [2, 4, 6]);
 * if (slope !== 2 || r2 !== 1) throw new Error();
 * ```
 */
export function fitThroughOrigin(x: number[], y: number[]): { slope: number; r2: number } {
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += x[i]! * y[i]!;
    sxx += x[i]! * x[i]!;
    syy += y[i]! * y[i]!;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let res = 0;
  for (let i = 0; i < x.length; i++) res += (y[i]! - slope * x[i]!) ** 2;
  return { slope, r2: syy > 0 ? 1 - res / syy : 1 };
}

/**
 * Σ α_l·t_l²: the predicted change of the metric when projection i gets relative error `t2[i]`.
 *
 * @example
 * ```ts
 * import { predictIncrease } from "./linearity.ts";
 * const s = [{ layer: 0, kind: "q_proj" as const, alpha: 2, r2: 1, points: [] }];
 * if (predictIncrease(s, [0.01]) !== 0.02) throw new Error();
 * ```
 */
export function predictIncrease(sensitivities: LayerSensitivity[], t2: number[]): number {
  if (t2.length !== sensitivities.length) {
    throw new QuantlabError(
      "bad-shape",
      `${t2.length} error levels given for ${sensitivities.length} projections`,
    );
  }
  return sensitivities.reduce((s, l, i) => s + l.alpha * t2[i]!, 0);
}

/**
 * The points with the halves of each antithetic pair (same level and seed) averaged: the fit and
 * its R² then see the quadratic response, not the first-order term the pair cancels.
 */
function pairMeans(points: SensitivityPoint[]): { x: number; y: number }[] {
  const groups = new Map<string, SensitivityPoint[]>();
  for (const p of points) {
    const k = `${p.t2}|${p.seed}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  return [...groups.values()].map((g) => ({
    x: g.reduce((s, p) => s + p.realizedT2, 0) / g.length,
    y: g.reduce((s, p) => s + p.delta, 0) / g.length,
  }));
}

/**
 * α and R² of one projection's points: the slope through the origin of delta on the realized t²,
 * over antithetic pair means where paired (what {@linkcode estimateSensitivities} reports; the
 * merge of a sharded run refits the points its shards measured with it).
 *
 * @example
 * ```ts
 * import { fitSensitivity } from "./linearity.ts";
 * const p = (t2: number, delta: number) =>
 *   ({ layer: 0, kind: "q_proj" as const, t2, realizedT2: t2, seed: 1, delta });
 * if (fitSensitivity([p(0.01, 0.02), p(0.04, 0.08)]).alpha !== 2) throw new Error();
 * ```
 */
export function fitSensitivity(points: SensitivityPoint[]): { alpha: number; r2: number } {
  const pairs = pairMeans(points);
  const { slope, r2 } = fitThroughOrigin(pairs.map((p) => p.x), pairs.map((p) => p.y));
  return { alpha: slope, r2 };
}

function checkOptions(model: LlamaModel, opts: SensitivityOptions): ProjectionRef[] {
  if (opts.metric !== "ppl" && opts.metric !== "kl") {
    throw new QuantlabError("bad-argument", `Metric "${opts.metric}" is not valid; use ppl or kl`);
  }
  if (!opts.windows.length || opts.windows.some((w) => w.length < 2)) {
    throw new QuantlabError(
      "bad-argument",
      "Sensitivities need at least one token window, each of at least 2 tokens",
    );
  }
  const draws = opts.draws ?? 1;
  if (!Number.isInteger(draws) || draws < 1 || draws > 1024) {
    throw new QuantlabError("bad-argument", `Draws = ${draws} is not an integer in 1…1024`);
  }
  if (opts.antithetic && draws % 2 !== 0) {
    throw new QuantlabError(
      "bad-argument",
      `Antithetic noise comes in pairs; draws = ${draws} is odd (use ${draws + 1})`,
    );
  }
  for (const t2 of opts.levels ?? DEFAULT_LEVELS) {
    if (!(Number.isFinite(t2) && t2 > 0 && t2 <= 1)) {
      throw new QuantlabError("bad-argument", `Noise level t² = ${t2} is not in (0, 1]`);
    }
  }
  const L = model.config.numLayers;
  const refs = opts.projections ??
    Array.from({ length: L }, (_, layer) => LINEAR_KINDS.map((kind) => ({ layer, kind }))).flat();
  for (const r of refs) {
    if (!Number.isInteger(r.layer) || r.layer < 0 || r.layer >= L) {
      throw new QuantlabError(
        "bad-argument",
        `Layer ${r.layer} does not exist; the model has layers 0…${L - 1}`,
      );
    }
    if (!LINEAR_KINDS.includes(r.kind)) {
      throw new QuantlabError(
        "bad-argument",
        `Projection "${r.kind}" is not one of ${LINEAR_KINDS.join(", ")}`,
      );
    }
  }
  return refs;
}

/**
 * Measures α for each projection (see the module doc): the base metric once, then for every
 * projection and level, the metric with that projection perturbed. Errors: `bad-argument` for
 * invalid options, naming the value.
 *
 * @example Data-free sensitivities of a small random model
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * import { estimateSensitivities } from "./linearity.ts";
 * const c = llamaConfig({ hiddenSize: 32, numLayers: 1, vocabSize: 64, intermediateSize: 64 });
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const s = await estimateSensitivities(model, {
 *   metric: "kl",
 *   windows: [[1, 5, 9, 13, 2, 7]],
 *   projections: [{ layer: 0, kind: "down_proj" }],
 * });
 * if (!(s[0]!.alpha > 0)) throw new Error(String(s[0]!.alpha));
 * ```
 */
export async function estimateSensitivities(
  model: LlamaModel,
  opts: SensitivityOptions,
): Promise<LayerSensitivity[]> {
  const refs = checkOptions(model, opts);
  const levels = opts.levels ?? DEFAULT_LEVELS;
  const seed = opts.seed ?? 0;
  const V = model.config.vocabSize;
  const windows = opts.windows;
  // Hidden states entering every layer, per window; and the base metric's reference.
  const hidden: Float32Array[][] = [];
  const baseLogp: Float64Array[] = [];
  let baseNll = 0, scored = 0;
  for (const w of windows) {
    const h = await model.captureHidden(w);
    hidden.push(h);
    if (opts.metric === "kl") {
      baseLogp.push(logSoftmaxRows(await model.forwardFrom(0, h[0]!), w.length, V));
    } else {
      for (const v of await model.nllFrom(0, h[0]!, w)) baseNll += v;
      scored += w.length - 1;
    }
  }
  const basePpl = Math.exp(baseNll / Math.max(1, scored));

  const metricFrom = async (layer: number): Promise<number> => {
    if (opts.metric === "kl") {
      let kl = 0, positions = 0;
      for (let i = 0; i < windows.length; i++) {
        const T = windows[i]!.length;
        const lq = logSoftmaxRows(await model.forwardFrom(layer, hidden[i]![layer]!), T, V);
        kl += meanKl(baseLogp[i]!, lq, T, V) * T;
        positions += T;
      }
      return kl / positions;
    }
    let nll = 0;
    for (let i = 0; i < windows.length; i++) {
      for (const v of await model.nllFrom(layer, hidden[i]![layer]!, windows[i]!)) nll += v;
    }
    return Math.exp(nll / scored) - basePpl;
  };

  const done = new Map<string, SensitivityPoint>();
  const keyOf = (r: ProjectionRef, t2: number, s: number, sign: number) =>
    `${r.layer}|${r.kind}|${t2}|${s}|${sign}`;
  for (const p of opts.done ?? []) done.set(keyOf(p, p.t2, p.seed, p.sign ?? 1), p);
  const draws = opts.draws ?? 1;
  const perRef = levels.length * draws;
  const owns = opts.owns ?? (() => true);
  let total = 0;
  for (let u = 0; u < refs.length * perRef; u++) if (owns(u)) total++;
  let index = 0;
  const out: LayerSensitivity[] = [];
  for (const [r, ref] of refs.entries()) {
    const original: Linear = model.getLinear(ref.layer, ref.kind);
    const points: SensitivityPoint[] = [];
    for (let j = 0; j < perRef; j++) {
      if (!owns(r * perRef + j)) continue;
      const li = j % levels.length, draw = Math.floor(j / levels.length);
      const t2 = levels[li]!;
      // Antithetic pairs share a seed: draws 2k and 2k + 1 add and subtract the same noise.
      const s = noiseSeed(seed, ref, li, opts.antithetic ? draw >> 1 : draw);
      const sign: -1 | 1 = opts.antithetic && draw % 2 === 1 ? -1 : 1;
      const prev = done.get(keyOf(ref, t2, s, sign));
      if (prev) {
        points.push(prev);
        index++;
        continue;
      }
      const w = original.weightF32?.();
      if (!w) {
        throw new QuantlabError(
          "unsupported",
          `Layer ${ref.layer} ${ref.kind} exposes no weights (weightF32) to perturb`,
        );
      }
      const { weights, realizedT2 } = perturbWeights(
        w,
        t2,
        s,
        sign,
        opts.noiseBlock ? { cols: original.inFeatures, size: opts.noiseBlock } : undefined,
      );
      model.setLinear(
        ref.layer,
        ref.kind,
        new DenseLinear(weights, original.outFeatures, original.inFeatures, original.bias),
      );
      let delta: number;
      try {
        delta = await metricFrom(ref.layer);
      } finally {
        model.setLinear(ref.layer, ref.kind, original);
      }
      const point: SensitivityPoint = {
        ...ref,
        t2,
        realizedT2,
        seed: s,
        ...(sign === -1 ? { sign } : {}),
        delta,
      };
      points.push(point);
      await opts.onPoint?.(point, index++, total);
    }
    const { alpha, r2 } = fitSensitivity(points);
    out.push({ ...ref, alpha, r2, points });
  }
  return out;
}
