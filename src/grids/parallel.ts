// This module is browser compatible.
/**
 * Pooled CPU kernels for grids: nearest-point encoding over the worker pool, Gaussian sample
 * generation, one Lloyd assignment + centroid-partial-sum pass, and the Monte-Carlo MSE estimate.
 *
 * Determinism: Lloyd and MSE work is split into a fixed number of chunks (independent of the
 * number of workers); each chunk's sums are written to its own slot of a shared array and the main
 * thread reduces the slots in chunk order, so results are bit-identical for any thread count.
 *
 * @module
 */
import { fillNormal } from "../core/prng.ts";
import { parallelFor, toShared } from "../cpu/pool.ts";
import { encodeNearest, encodeRange } from "./encode.ts";
import { type EncodePlan, encodePlan } from "./encode_plan.ts";
import type { GridPoints } from "./grid.ts";

const ENCODE_URL = new URL("./encode.ts", import.meta.url).href;
const SELF_URL = import.meta.url;

function sharedU16(m: number): Uint16Array {
  return new Uint16Array(new SharedArrayBuffer(Math.max(4, Math.ceil(m / 2) * 4)), 0, m);
}

/**
 * {@linkcode encodeNearest} over the worker pool (identical codes). `x` is copied to shared
 * memory unless it already is shared.
 *
 * @example
 * ```ts
 * import { encodeNearestParallel } from "./parallel.ts";
 * const grid = { p: 1, n: 2, points: new Float32Array([-1, 1]) };
 * const codes = await encodeNearestParallel(grid, new Float32Array([0.5, -3]));
 * if (codes.join() !== "1,0") throw new Error();
 * ```
 */
export async function encodeNearestParallel(
  grid: GridPoints,
  x: Float32Array,
  out?: Uint16Array,
): Promise<Uint16Array> {
  const m = Math.floor(x.length / grid.p);
  if (m < 32768 || x.length % grid.p !== 0) return encodeNearest(grid, x, out);
  const plan = encodePlan(grid);
  const xs = toShared(x);
  const shared = out && out.buffer instanceof SharedArrayBuffer ? out : sharedU16(m);
  await parallelFor(ENCODE_URL, "encodeRange", m, [plan, xs, shared], { minChunk: 16384 });
  if (shared === out) return out;
  if (out) {
    out.set(shared);
    return out;
  }
  return shared.slice();
}

/**
 * Fills `out[start … end)` with normals `start … end−1` of stream `seed` (a pool kernel).
 *
 * @example
 * ```ts
 * import { fillNormalRange } from "./parallel.ts";
 * const x = new Float32Array(8);
 * fillNormalRange(x, 3, 0, 8);
 * if (!x.every(Number.isFinite)) throw new Error();
 * ```
 */
export function fillNormalRange(out: Float32Array, seed: number, start: number, end: number): void {
  fillNormal(out.subarray(start, end), seed, start);
}

/**
 * `count` standard normals of stream `seed` in shared memory, generated over the pool; identical
 * to `fillNormal(new Float32Array(count), seed)`.
 *
 * @example
 * ```ts
 * import { sharedNormals } from "./parallel.ts";
 * const x = await sharedNormals(1000, 1);
 * if (x.length !== 1000) throw new Error();
 * ```
 */
export async function sharedNormals(count: number, seed: number): Promise<Float32Array> {
  const out = new Float32Array(new SharedArrayBuffer(count * 4));
  // Chunks must start at even offsets so Box–Muller pairs are generated alike.
  const pairs = Math.ceil(count / 2);
  await parallelFor(SELF_URL, "fillNormalPairs", pairs, [out, seed], { minChunk: 1 << 16 });
  return out;
}

/** Pool kernel: normals for pairs [start, end) (elements 2·start … 2·end−1). */
export function fillNormalPairs(out: Float32Array, seed: number, start: number, end: number): void {
  const a = 2 * start, b = Math.min(out.length, 2 * end);
  fillNormal(out.subarray(a, b), seed, a);
}

/** Floats per chunk slot of a Lloyd pass: per centroid p sums + 1 count, then Σd and Σd². */
export function lloydSlot(p: number, n: number): number {
  return n * (p + 1) + 2;
}

/**
 * Pool kernel: for chunks [c0, c1) of `samples` (m vectors split into `chunks` equal parts),
 * assigns every sample to its nearest point and adds, per point, the sample sum and count, plus the
 * total squared error Σ‖x − q(x)‖² and Σ‖x − q(x)‖⁴, into `partials[c·slot …]`.
 *
 * @example
 * ```ts
 * import { encodePlan } from "./encode_plan.ts";
 * import { lloydChunks, lloydSlot } from "./parallel.ts";
 * const plan = encodePlan({ p: 1, n: 2, points: new Float32Array([-1, 1]) });
 * const parts = new Float64Array(lloydSlot(1, 2));
 * lloydChunks(plan, new Float32Array([-2, 0.5, 3]), 1, parts, 0, 1);
 * if (parts[0] !== -2 || parts[2] !== 3.5 || parts[3] !== 2) throw new Error(String(parts));
 * ```
 */
export function lloydChunks(
  plan: EncodePlan,
  samples: Float32Array,
  chunks: number,
  partials: Float64Array,
  c0: number,
  c1: number,
): void {
  const { p, n, pts } = plan;
  const m = Math.floor(samples.length / p);
  const slot = lloydSlot(p, n);
  const batch = 8192;
  const codes = new Uint16Array(batch);
  for (let c = c0; c < c1; c++) {
    const base = c * slot;
    partials.fill(0, base, base + slot);
    const s0 = Math.floor((m * c) / chunks), s1 = Math.floor((m * (c + 1)) / chunks);
    let d1 = 0, d2 = 0;
    for (let b = s0; b < s1; b += batch) {
      const e = Math.min(s1, b + batch);
      const xs = samples.subarray(b * p, e * p);
      encodeRange(plan, xs, codes, 0, e - b);
      for (let v = 0; v < e - b; v++) {
        const j = codes[v]!;
        const o = base + j * (p + 1);
        let d = 0;
        for (let i = 0; i < p; i++) {
          const xv = xs[v * p + i]!;
          partials[o + i]! += xv;
          const t = xv - pts[j * p + i]!;
          d += t * t;
        }
        partials[o + p]! += 1;
        d1 += d;
        d2 += d * d;
      }
    }
    partials[base + slot - 2] = d1;
    partials[base + slot - 1] = d2;
  }
}

/**
 * Pool kernel: for chunks [c0, c1) of `total` fresh samples of stream `seed`, the sums Σe and Σe²
 * of the per-sample error e = ‖x − q(x)‖²/p, into partials[2c], partials[2c+1].
 *
 * @example
 * ```ts
 * import { encodePlan } from "./encode_plan.ts";
 * import { mseChunks } from "./parallel.ts";
 * const plan = encodePlan({ p: 1, n: 2, points: new Float32Array([-0.8, 0.8]) });
 * const parts = new Float64Array(2);
 * mseChunks(plan, 1, 1000, 1, parts, 0, 1);
 * if (!(parts[0]! / 1000 > 0.3 && parts[0]! / 1000 < 0.45)) throw new Error();
 * ```
 */
export function mseChunks(
  plan: EncodePlan,
  seed: number,
  total: number,
  chunks: number,
  partials: Float64Array,
  c0: number,
  c1: number,
): void {
  const { p, pts } = plan;
  const batch = 16384;
  const xs = new Float32Array(batch * p);
  const codes = new Uint16Array(batch);
  for (let c = c0; c < c1; c++) {
    const s0 = Math.floor((total * c) / chunks), s1 = Math.floor((total * (c + 1)) / chunks);
    let e1 = 0, e2 = 0;
    for (let b = s0; b < s1; b += batch) {
      const k = Math.min(s1, b + batch) - b;
      const x = xs.subarray(0, k * p);
      fillNormal(x, seed, b * p);
      encodeRange(plan, x, codes, 0, k);
      for (let v = 0; v < k; v++) {
        const j = codes[v]!;
        let d = 0;
        for (let i = 0; i < p; i++) {
          const t = x[v * p + i]! - pts[j * p + i]!;
          d += t * t;
        }
        d /= p;
        e1 += d;
        e2 += d * d;
      }
    }
    partials[2 * c] = e1;
    partials[2 * c + 1] = e2;
  }
}

/** The Monte-Carlo MSE estimate of {@linkcode estimateMse}. */
export interface MseEstimate {
  /** Mean over samples of ‖x − q(x)‖²/p. */
  mse: number;
  /** Standard error of `mse` (per-sample standard deviation / √samples). */
  stdErr: number;
  /** Number of samples. */
  samples: number;
  /** PRNG seed of the samples. */
  seed: number;
}

/**
 * Per-coordinate MSE of nearest-point quantization of `samples` fresh N(0, I_p) vectors (stream
 * `seed`, element i·p + d is coordinate d of sample i) with its standard error, over the pool.
 * Bit-identical for any thread count.
 *
 * @example
 * ```ts
 * import { estimateMse } from "./parallel.ts";
 * const grid = { p: 1, n: 2, points: new Float32Array([-0.7978846, 0.7978846]) };
 * const r = await estimateMse(grid, { samples: 1 << 16, seed: 5 });
 * if (Math.abs(r.mse - 0.3634) > 5 * r.stdErr) throw new Error(JSON.stringify(r));
 * ```
 */
export async function estimateMse(
  grid: GridPoints,
  opts: { samples?: number; seed?: number } = {},
): Promise<MseEstimate> {
  const total = opts.samples ?? 1 << 22;
  const seed = opts.seed ?? 0x5eed;
  const plan = encodePlan(grid);
  const chunks = Math.max(1, Math.min(64, Math.ceil(total / 65536)));
  const partials = new Float64Array(new SharedArrayBuffer(16 * chunks));
  await parallelFor(SELF_URL, "mseChunks", chunks, [plan, seed, total, chunks, partials], {
    minChunk: 1,
  });
  let e1 = 0, e2 = 0;
  for (let c = 0; c < chunks; c++) {
    e1 += partials[2 * c]!;
    e2 += partials[2 * c + 1]!;
  }
  const mse = e1 / total;
  const variance = Math.max(0, e2 / total - mse * mse) * total / Math.max(1, total - 1);
  return { mse, stdErr: Math.sqrt(variance / total), samples: total, seed };
}
