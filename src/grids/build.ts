// This module is browser compatible.
/**
 * Computing MSE-optimal grids for N(0, I_p).
 *
 * - p = 1: the exact Lloyd–Max quantizer (`lloyd_max.ts`), exact MSE by integration.
 * - p ≥ 2: Lloyd's algorithm on seeded Monte-Carlo samples (`fillNormal`, stream `seed`):
 *   1. init: the product of 1-D Lloyd–Max grids when n = kᵖ (jittered by 15 % of the central
 *      spacing: the exact product grid is a fixed point of Lloyd's map), else k-means++ on samples;
 *   2. annealing: mini-batch Lloyd steps on growing windows of the training samples (2·n … 2000·n
 *      samples), whose centroid noise cools down and removes the lattice defects plain Lloyd
 *      freezes in (measured: (2, 256) lands 0.3–0.7 % above the reference from Lloyd alone, at
 *      −0.1 % with annealing);
 *   3. Lloyd steps on `trainSamples` samples, over-relaxed (ω ≤ 1.8, back to 1 on any increase),
 *      until the relative MSE change is below `tol` (1e-5 for p = 2, 1e-6 for p ≥ 3, where Lloyd's
 *      slow modes are slower); an empty cell is re-seeded next to the
 *      most populated point; `restarts` runs of 1–3, the lowest training MSE wins;
 *   4. a final large-sample pass: Lloyd steps on `finalSamples` fresh samples (stream seed + 1)
 *      until the relative change is below `tol` (at most `finalIterations`: 20 for p = 2, 300 for
 *      p ≥ 3); the final pass also removes most of the training set's overfit, which at 1000
 *      samples per point is worth ~0.25 % of MSE for p = 3 and 4;
 *   5. points rounded to f32, sorted lexicographically, and the MSE estimated with its standard
 *      error on `mseSamples` fresh samples (stream seed + 2).
 *   Each step's assignment + centroid partial sums run on the CPU worker pool (fixed chunks reduced
 *   in order: bit-identical for any thread count) or on WebGPU (`lloyd_gpu.ts`: 64-bit fixed-point
 *   integer atomics, bit-identical run to run).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fillNormal, randUniform } from "../core/prng.ts";
import { parallelFor } from "../cpu/pool.ts";
import { encodePlan } from "./encode_plan.ts";
import { checkGridShape, type Grid, GRID_FORMAT_VERSION, sortPoints } from "./grid.ts";
import { gaussianMse1d, lloydMax } from "./lloyd_max.ts";
import { estimateMse, lloydSlot, sharedNormals } from "./parallel.ts";

const PARALLEL_URL = new URL("./parallel.ts", import.meta.url).href;

/** The sums of one Lloyd assignment pass. */
export interface LloydSums {
  /** Per point: sum of its samples (n·p). */
  sums: Float64Array;
  /** Per point: number of samples. */
  counts: Float64Array;
  /** Σ‖x − q(x)‖² over all samples. */
  sse: number;
}

/** One backend's Lloyd assignment + accumulation over a fixed sample set. */
export interface LloydStepper {
  /** Uses these samples (m·p values) from now on. */
  setSamples(samples: Float32Array): Promise<void>;
  /**
   * Assigns every sample (or those in [start, end), in vectors) to its nearest point of `points`
   * and returns the sums.
   */
  step(points: Float32Array, start?: number, end?: number): Promise<LloydSums>;
  /** Frees resources. */
  dispose(): void;
}

/** Progress of a build. */
export interface BuildProgress {
  /** Stage of the build. */
  phase: "init" | "anneal" | "train" | "final" | "mse" | "done";
  /** Iteration within the stage. */
  iteration: number;
  /** Restart index during the "train" phase. */
  restart?: number;
  /** Training MSE per coordinate (NaN before the first step). */
  mse: number;
}

/** Options of {@linkcode buildGrid}. */
export interface BuildOptions {
  /** PRNG seed of the training samples (default 1); seed+1 final pass, seed+2 MSE estimate. */
  seed?: number;
  /** Training samples (default clamp(4000·n, 2²⁰, 2²²) for p = 2, clamp(1000·n, 2¹⁸, 2²⁰) else). */
  trainSamples?: number;
  /** Final-pass samples (default clamp(4000·n, 2²⁰, 2²²)). */
  finalSamples?: number;
  /**
   * Relative MSE change that stops Lloyd (default 1e-5 for p = 2; 1e-6 for p ≥ 3, where Lloyd's
   * slow modes still take 0.5 % of MSE after the change per step falls below 1e-5).
   */
  tol?: number;
  /** Maximum training iterations (default 1000). */
  maxIterations?: number;
  /**
   * Maximum final-pass iterations (default 20 for p = 2, 300 for p ≥ 3: measured at (3, 256) and
   * (4, 256), 100+ further over-relaxed steps on fresh samples still lower the MSE by 0.3–0.5 %).
   */
  finalIterations?: number;
  /** Samples for the reported MSE (default 2²²). */
  mseSamples?: number;
  /**
   * Independent anneal + Lloyd runs on the training samples; the best (lowest training MSE) goes
   * on to the final pass. Default 2 for p = 2 and n ≤ 256, else 1.
   */
  restarts?: number;
  /**
   * Mini-batch annealing steps before Lloyd (default 1500·min(1, √(256/n)) for p = 2, 500·… for
   * p ≥ 3, 0 for n < 16).
   */
  annealSteps?: number;
  /**
   * Initialization (default "auto": with n = kᵖ, restarts alternate the jittered product grid and
   * k-means++; else k-means++).
   */
  init?: "auto" | "product" | "kmeans++";
  /** Assignment backend (default: the CPU pool). */
  stepper?: LloydStepper;
  /** Backend name stored in the grid (default "cpu"). */
  backendName?: string;
  /** Called after every step. */
  onProgress?: (info: BuildProgress) => void;
}

/**
 * The CPU worker-pool {@linkcode LloydStepper}.
 *
 * @example
 * ```ts
 * import { cpuLloydStepper } from "./build.ts";
 * const s = cpuLloydStepper(1, 2);
 * await s.setSamples(new Float32Array([-2, -1, 1, 2]));
 * const r = await s.step(new Float32Array([-1, 1]));
 * if (r.sums.join() !== "-3,3" || r.sse !== 2) throw new Error();
 * ```
 */
export function cpuLloydStepper(p: number, n: number): LloydStepper {
  let samples: Float32Array = new Float32Array(0);
  const slot = lloydSlot(p, n);
  let partials: Float64Array = new Float64Array(0);
  return {
    setSamples(s: Float32Array): Promise<void> {
      samples = s.buffer instanceof SharedArrayBuffer ? s : (() => {
        const t = new Float32Array(new SharedArrayBuffer(s.byteLength));
        t.set(s);
        return t;
      })();
      return Promise.resolve();
    },
    async step(points: Float32Array, start = 0, end?: number): Promise<LloydSums> {
      const m = samples.length / p;
      const e = Math.min(m, end ?? m);
      const window = samples.subarray(start * p, e * p);
      const chunks = Math.max(1, Math.min(64, Math.ceil((e - start) / 16384)));
      if (partials.length < slot * chunks) {
        partials = new Float64Array(new SharedArrayBuffer(8 * slot * 64));
      }
      // A fresh plan: the points change every step (the plan cache is keyed by the array).
      const plan = encodePlan({ p, n, points: points.slice() });
      await parallelFor(PARALLEL_URL, "lloydChunks", chunks, [plan, window, chunks, partials], {
        minChunk: 1,
      });
      const sums = new Float64Array(n * p);
      const counts = new Float64Array(n);
      let sse = 0;
      for (let c = 0; c < chunks; c++) {
        const base = c * slot;
        for (let j = 0; j < n; j++) {
          const o = base + j * (p + 1);
          for (let i = 0; i < p; i++) sums[j * p + i]! += partials[o + i]!;
          counts[j]! += partials[o + p]!;
        }
        sse += partials[base + slot - 2]!;
      }
      return { sums, counts, sse };
    },
    dispose() {
      samples = new Float32Array(0);
      partials = new Float64Array(0);
    },
  };
}

function defaultRestarts(p: number, n: number): number {
  return p === 2 && n <= 256 ? 2 : 1;
}

function defaultAnnealSteps(p: number, n: number): number {
  if (n < 16) return 0;
  const base = p === 2 ? 1500 : 500;
  return Math.round(base * Math.min(1, Math.sqrt(256 / n)));
}

/** n = kᵖ for an integer k ≥ 2? Returns k or 0. */
export function perfectRoot(n: number, p: number): number {
  const k = Math.round(n ** (1 / p));
  for (const c of [k - 1, k, k + 1]) if (c >= 2 && c ** p === n) return c;
  return 0;
}

/** Product of 1-D Lloyd–Max grids, jittered (deterministically) by 15 % of the central spacing. */
function productInit(p: number, n: number, k: number, seed: number): Float64Array {
  const levels = lloydMax(k).points;
  const spacing = levels[k >> 1]! - levels[(k >> 1) - 1]!;
  const jitter = fillNormal(new Float64Array(n * p), seed ^ 0x1d1d, 0, 0.15 * spacing);
  const out = new Float64Array(n * p);
  for (let j = 0; j < n; j++) {
    let r = j;
    for (let i = p - 1; i >= 0; i--) {
      out[j * p + i] = levels[r % k]! + jitter[j * p + i]!;
      r = Math.floor(r / k);
    }
  }
  return out;
}

/** k-means++ (D² sampling) on the first samples. */
function kmeansPlusPlus(p: number, n: number, samples: Float32Array, seed: number): Float64Array {
  const m = Math.min(samples.length / p, Math.max(20 * n, 20000));
  const out = new Float64Array(n * p);
  const d2 = new Float64Array(m).fill(Infinity);
  let pick = Math.floor(randUniform(seed ^ 0x6b6d, 0) * m);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < p; i++) out[j * p + i] = samples[pick * p + i]!;
    let total = 0;
    for (let s = 0; s < m; s++) {
      let d = 0;
      for (let i = 0; i < p; i++) {
        const t = samples[s * p + i]! - out[j * p + i]!;
        d += t * t;
      }
      if (d < d2[s]!) d2[s] = d;
      total += d2[s]!;
    }
    if (j === n - 1) break;
    let r = randUniform(seed ^ 0x6b6d, j + 1) * total;
    pick = m - 1;
    for (let s = 0; s < m; s++) {
      r -= d2[s]!;
      if (r <= 0) {
        pick = s;
        break;
      }
    }
  }
  return out;
}

const OMEGA_MAX = 1.8;

/** Lloyd's update on `sums`: empty cells keep their point. */
function centroids(pts: Float32Array, r: LloydSums, p: number, omega = 1): Float32Array {
  const next = new Float32Array(pts.length);
  for (let j = 0; j < r.counts.length; j++) {
    const cnt = r.counts[j]!;
    for (let i = 0; i < p; i++) {
      const cur = pts[j * p + i]!;
      next[j * p + i] = cnt > 0 ? cur + omega * (r.sums[j * p + i]! / cnt - cur) : cur;
    }
  }
  return next;
}

/**
 * Annealing by mini-batch Lloyd: step t uses a window of B_t = b₀·n·(b₁/b₀)^(t/(T−1)) training
 * samples, so centroid noise (∝ √(n/B_t)) starts large and cools; it moves the dislocations that
 * plain Lloyd leaves frozen in (worth 0.3–0.6 % of MSE at n = 256 in 2-D).
 */
async function annealLoop(
  p: number,
  n: number,
  start: Float32Array,
  stepper: LloydStepper,
  samples: number,
  steps: number,
  onProgress?: (info: BuildProgress) => void,
): Promise<Float32Array> {
  let pts: Float32Array = start.slice();
  const b0 = 2, b1 = Math.max(b0, Math.min(2000, samples / n));
  for (let t = 0; t < steps; t++) {
    const batch = Math.min(samples, Math.round(n * b0 * (b1 / b0) ** (t / Math.max(1, steps - 1))));
    // Golden-ratio offsets: windows spread evenly over the training set.
    const off = Math.floor(((t * 0.6180339887498949) % 1) * (samples - batch + 1));
    const r = await stepper.step(pts, off, off + batch);
    onProgress?.({ phase: "anneal", iteration: t + 1, mse: r.sse / (batch * p) });
    pts = centroids(pts, r, p);
  }
  return pts;
}

/** Lloyd steps until the relative MSE change < tol; returns [points, iterations, last mse]. */
async function lloydLoop(
  p: number,
  n: number,
  start: Float32Array,
  stepper: LloydStepper,
  samples: number,
  tol: number,
  maxIt: number,
  seed: number,
  phase: "train" | "final",
  onProgress?: (info: BuildProgress) => void,
): Promise<{ points: Float32Array; iterations: number; mse: number }> {
  let pts: Float32Array = start.slice();
  let prev = Infinity;
  let mse = NaN;
  let it = 0;
  let reseeds = 0;
  let omega = 1;
  let calm = 0;
  for (; it < maxIt; it++) {
    const { sums, counts, sse } = await stepper.step(pts);
    mse = sse / (samples * p);
    // Over-relaxation (c ← c + ω(μ − c)) speeds up Lloyd's slow modes; back off on any increase.
    if (mse > prev) {
      omega = 1;
      calm = 0;
    } else if (++calm >= 3) omega = Math.min(OMEGA_MAX, omega + 0.1);
    onProgress?.({ phase, iteration: it + 1, mse });
    const next = new Float32Array(n * p);
    const empty: number[] = [];
    for (let j = 0; j < n; j++) {
      const cnt = counts[j]!;
      if (cnt === 0) empty.push(j);
      for (let i = 0; i < p; i++) {
        const cur = pts[j * p + i]!;
        next[j * p + i] = cnt > 0 ? cur + omega * (sums[j * p + i]! / cnt - cur) : cur;
      }
    }
    // Re-seed empty cells next to the most populated points (a crude split).
    if (empty.length > 0) {
      const byCount = Array.from({ length: n }, (_, j) => j).sort((u, v) =>
        counts[v]! - counts[u]! || u - v
      );
      empty.forEach((j, e) => {
        const src = byCount[e % n]!;
        for (let i = 0; i < p; i++) {
          const u = randUniform(seed ^ 0xe5e5, reseeds * 64 + i) - 0.5;
          next[j * p + i] = next[src * p + i]! + 0.05 * u;
        }
        reseeds++;
      });
      prev = Infinity;
    }
    pts = next;
    const change = Math.abs(prev - mse) / mse;
    prev = mse;
    if (empty.length === 0 && change < tol) {
      it++;
      break;
    }
  }
  return { points: pts, iterations: it, mse };
}

/**
 * Computes the MSE-optimal grid for N(0, I_p) with n points: exact Lloyd–Max for p = 1, seeded
 * Monte-Carlo Lloyd for p ≥ 2 (see the module doc). Deterministic for a given seed and backend.
 *
 * @example
 * ```ts
 * import { buildGrid } from "./build.ts";
 * const g = await buildGrid(2, 4, { trainSamples: 1 << 14, finalSamples: 1 << 15, mseSamples: 1 << 15 });
 * // (2, 4): the product of two 1-bit Lloyd–Max grids, MSE 1 − 2/π ≈ 0.3634
 * if (Math.abs(g.mse - 0.3634) > 0.01) throw new Error(String(g.mse));
 * ```
 */
export async function buildGrid(p: number, n: number, opts: BuildOptions = {}): Promise<Grid> {
  checkGridShape(p, n);
  const t0 = performance.now();
  if (p === 1) {
    const r = lloydMax(n);
    const points = Float32Array.from(r.points);
    // MSE of the grid as stored (f32-rounded), by integration.
    opts.onProgress?.({ phase: "done", iteration: r.iterations, mse: r.mse });
    return {
      p,
      n,
      points,
      mse: gaussianMse1d(points),
      mseStdErr: 0,
      mseSamples: 0,
      mseSeed: null,
      seed: null,
      samples: 0,
      iterations: r.iterations,
      method: "lloyd-max-exact",
      version: GRID_FORMAT_VERSION,
      backend: "exact",
      seconds: (performance.now() - t0) / 1000,
    };
  }
  const seed = opts.seed ?? 1;
  const tol = opts.tol ?? (p === 2 ? 1e-5 : 1e-6);
  const trainN = opts.trainSamples ??
    (p === 2
      ? Math.min(1 << 22, Math.max(1 << 20, 4000 * n))
      : Math.min(1 << 20, Math.max(1 << 18, 1000 * n)));
  const finalN = opts.finalSamples ?? Math.min(1 << 22, Math.max(1 << 20, 4000 * n));
  if (trainN < n || finalN < n) {
    throw new QuantlabError(
      "bad-argument",
      `Training with ${Math.min(trainN, finalN)} samples cannot fit ${n} points; use at least n`,
    );
  }
  const stepper = opts.stepper ?? cpuLloydStepper(p, n);
  try {
    opts.onProgress?.({ phase: "init", iteration: 0, mse: NaN });
    const train = await sharedNormals(trainN * p, seed);
    await stepper.setSamples(train);
    const k = perfectRoot(n, p);
    const init = opts.init ?? "auto";
    if (init === "product" && k === 0) {
      throw new QuantlabError(
        "bad-argument",
        `n = ${n} is not a perfect ${p}-th power; use k-means++`,
      );
    }
    const restarts = opts.restarts ?? defaultRestarts(p, n);
    let a: { points: Float32Array; iterations: number; mse: number } | undefined;
    let iterations = 0;
    for (let r = 0; r < restarts; r++) {
      // Alternate the two initializations when both apply; vary the seed per restart.
      const useProduct = init === "product" || (init === "auto" && k > 0 && r % 2 === 0);
      const rs = seed + 0x10000 * r;
      let start: Float32Array = Float32Array.from(
        useProduct ? productInit(p, n, k, rs) : kmeansPlusPlus(p, n, train, rs),
      );
      const annealSteps = opts.annealSteps ?? defaultAnnealSteps(p, n);
      if (annealSteps > 0) {
        start = await annealLoop(
          p,
          n,
          start,
          stepper,
          trainN,
          annealSteps,
          opts.onProgress && ((i) => opts.onProgress!({ ...i, restart: r })),
        );
        iterations += annealSteps;
      }
      const run = await lloydLoop(
        p,
        n,
        start,
        stepper,
        trainN,
        tol,
        opts.maxIterations ?? 1000,
        rs,
        "train",
        opts.onProgress && ((i) => opts.onProgress!({ ...i, restart: r })),
      );
      iterations += run.iterations;
      if (!a || run.mse < a.mse) a = run;
    }
    const fin = await sharedNormals(finalN * p, seed + 1);
    await stepper.setSamples(fin);
    const b = await lloydLoop(
      p,
      n,
      a!.points,
      stepper,
      finalN,
      tol,
      opts.finalIterations ?? (p === 2 ? 20 : 300),
      seed + 1,
      "final",
      opts.onProgress,
    );
    const points = sortPoints(b.points, p);
    const mseSamples = opts.mseSamples ?? 1 << 22;
    opts.onProgress?.({ phase: "mse", iteration: 0, mse: b.mse });
    const est = await estimateMse({ p, n, points }, { samples: mseSamples, seed: seed + 2 });
    opts.onProgress?.({ phase: "done", iteration: iterations + b.iterations, mse: est.mse });
    return {
      p,
      n,
      points,
      mse: est.mse,
      mseStdErr: est.stdErr,
      mseSamples,
      mseSeed: seed + 2,
      seed,
      samples: finalN,
      iterations: iterations + b.iterations,
      method: "lloyd-mc",
      version: GRID_FORMAT_VERSION,
      backend: opts.backendName ?? "cpu",
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    if (!opts.stepper) stepper.dispose();
  }
}
