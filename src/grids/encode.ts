// This module is browser compatible.
/**
 * Nearest-grid-point encoding, the hot path of HIGGS: code(x) = argminⱼ ‖x − gⱼ‖², which for a
 * fixed x is argmaxⱼ Sⱼ(x) with Sⱼ = 2·⟨x, gⱼ⟩ − ‖gⱼ‖².
 *
 * ## What decides ties (identical on every backend)
 * The decision is defined in exact real arithmetic on the f32 values of x and the grid: the code is
 * the lowest index j whose exact Sⱼ is maximal. Every implementation computes approximate scores
 * (f64 here, f32 in WGSL) together with a rigorous error bound
 *
 *     tol(x) = (p + 4)·2⁻⁴⁸·(‖x‖² + ‖x‖₁·A + G),   A = maxⱼ,ᵢ |gⱼᵢ|,  G = maxⱼ ‖gⱼ‖²
 *
 * (the f32 kernel uses 2⁻²⁰ in place of 2⁻⁴⁸), which bounds the difference of any two computed
 * scores from the exact one, whether or not a compiler fuses multiply-adds. When the best score
 * beats every other one by more than tol(x), the winner is certain. Otherwise (a "near tie": never
 * seen on random data, always on constructed ties such as x on a cell boundary) the vector is
 * settled exactly: Sⱼ − Sₖ is a sum of 4p products of f32 values, each exact in f64, whose sign is
 * computed without rounding (Shewchuk's expansion sum). The WGSL kernel flags its near ties and
 * the host settles them with the same exact comparison. So CPU, pooled CPU and WebGPU return
 * bit-identical codes, and the fast CPU paths return exactly the brute-force reference's codes.
 *
 * ## Fast CPU paths (all exact)
 * - p = 1, strictly ascending points: binary search over the midpoints, then the two neighbours
 *   are checked (a midpoint rounding error can move x by at most one cell).
 * - p = 2: a uniform cell grid over the points' bounding box (plus a 50 % margin); each cell keeps
 *   every point g with dist_min(cell, g) ≤ min_g' dist_max(cell, g') (a conservative superset of
 *   the points that can be nearest to any x in the cell, cells padded against rounding). Vectors
 *   outside the box fall back to brute force.
 * - p ≥ 3: points sorted by the first coordinate; a search outward from x₀ with partial distances
 *   that stops when (x₀ − g₀)² alone exceeds the best distance.
 * - otherwise brute force.
 * Pruning thresholds carry the same tol(x), so a near tie is always detected, then settled exactly.
 *
 * Inputs must be finite (a NaN or ±∞ coordinate throws `bad-value`). The plan for a grid is cached
 * by its `points` array: do not mutate points after encoding with them.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { GridPoints } from "./grid.ts";
import { badInput, exactNearest, tolerance } from "./encode_exact.ts";
import { type EncodePlan, encodePlan } from "./encode_plan.ts";

function checkInput(grid: GridPoints, x: Float32Array, out?: Uint16Array): number {
  if (!(x instanceof Float32Array)) {
    throw new QuantlabError("bad-argument", "Input must be a Float32Array of m·p values");
  }
  if (x.length % grid.p !== 0) {
    throw new QuantlabError(
      "bad-shape",
      `Input length ${x.length} is not a multiple of the grid dimension p = ${grid.p}`,
    );
  }
  const m = x.length / grid.p;
  if (out && out.length < m) {
    throw new QuantlabError("bad-shape", `Output holds ${out.length} codes; need at least ${m}`);
  }
  return m;
}

/**
 * Brute-force reference: for each of the m vectors in `x` (m·p values), the lowest index j
 * maximizing the exact 2·x·gⱼ − ‖gⱼ‖² (see the module doc). The specification of every encoder.
 *
 * @example
 * ```ts
 * import { encodeNearestReference } from "./encode.ts";
 * const grid = { p: 1, n: 3, points: new Float32Array([-1, 0, 1]) };
 * const codes = encodeNearestReference(grid, new Float32Array([-0.9, 0.5, 0.2, 7]));
 * if (codes.join() !== "0,1,1,2") throw new Error(codes.join()); // 0.5: tie → lower index
 * ```
 */
export function encodeNearestReference(
  grid: GridPoints,
  x: Float32Array,
  out?: Uint16Array,
): Uint16Array {
  const m = checkInput(grid, x, out);
  const plan = encodePlan(grid, { kind: "brute" });
  const codes = out ?? new Uint16Array(m);
  for (let v = 0; v < m; v++) {
    const off = v * grid.p;
    codes[v] = exactNearest(plan, x, off, tolerance(plan, x, off));
  }
  return codes;
}

/**
 * Fast exact nearest-point encoding (see the module doc for the search structures): returns
 * exactly {@linkcode encodeNearestReference}'s codes.
 *
 * @example
 * ```ts
 * import { encodeNearest } from "./encode.ts";
 * const grid = { p: 2, n: 4, points: new Float32Array([-1, -1, -1, 1, 1, -1, 1, 1]) };
 * const codes = encodeNearest(grid, new Float32Array([0.3, 0.9, -2, -0.1, 0, 0]));
 * if (codes.join() !== "3,0,0") throw new Error(codes.join()); // (0, 0): 4-way tie → 0
 * ```
 */
export function encodeNearest(grid: GridPoints, x: Float32Array, out?: Uint16Array): Uint16Array {
  const m = checkInput(grid, x, out);
  const codes = out ?? new Uint16Array(m);
  encodeRange(encodePlan(grid), x, codes, 0, m);
  return codes;
}

/**
 * Encodes vectors [start, end) of `x` into `out` with a plan (the pool workers' entry point).
 *
 * @example
 * ```ts
 * import { encodeRange } from "./encode.ts";
 * import { encodePlan } from "./encode_plan.ts";
 * const plan = encodePlan({ p: 1, n: 2, points: new Float32Array([-1, 1]) });
 * const out = new Uint16Array(2);
 * encodeRange(plan, new Float32Array([5, -5]), out, 0, 2);
 * if (out.join() !== "1,0") throw new Error();
 * ```
 */
export function encodeRange(
  plan: EncodePlan,
  x: Float32Array,
  out: Uint16Array,
  start: number,
  end: number,
): void {
  switch (plan.kind) {
    case "sorted1d":
      return encodeSorted1d(plan, x, out, start, end);
    case "cells2d":
      return encodeCells2d(plan, x, out, start, end);
    case "sorted-first":
      return encodeSortedFirst(plan, x, out, start, end);
    default:
      return encodeBrute(plan, x, out, start, end);
  }
}

function encodeBrute(plan: EncodePlan, x: Float32Array, out: Uint16Array, s0: number, s1: number) {
  for (let v = s0; v < s1; v++) out[v] = bruteOne(plan, x, v * plan.p);
}

function bruteOne(plan: EncodePlan, x: Float32Array, off: number): number {
  const { p, n, a, c } = plan;
  const tol = tolerance(plan, x, off);
  let best = -Infinity, bi = 0, tie = false;
  for (let j = 0; j < n; j++) {
    let s = -c[j]!;
    for (let i = 0; i < p; i++) s += x[off + i]! * a[j * p + i]!;
    if (s > best) {
      if (s - best <= tol) tie = true;
      best = s;
      bi = j;
    } else if (best - s <= tol) tie = true;
  }
  return tie ? exactNearest(plan, x, off, tol) : bi;
}

function encodeSorted1d(
  plan: EncodePlan,
  x: Float32Array,
  out: Uint16Array,
  s0: number,
  s1: number,
) {
  const mids = plan.mids!, a = plan.a, c = plan.c;
  const n = plan.n;
  const nm = n - 1;
  const k1 = plan.maxAbs, k2 = plan.maxNorm2;
  for (let v = s0; v < s1; v++) {
    const xv = x[v]!;
    // lowest k with mids[k] ≥ xv (= the cell of xv, up to midpoint rounding)
    let lo = 0, hi = nm;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (mids[mid]! < xv) lo = mid + 1;
      else hi = mid;
    }
    const tol = 5 * 3.552713678800501e-15 * (xv * xv + Math.abs(xv) * k1 + k2);
    if (!(tol < Infinity)) badInput(x, v, 1);
    const jl = lo > 0 ? lo - 1 : 0, jh = lo < nm ? lo + 1 : nm;
    let best = -Infinity, bi = 0, tie = false;
    for (let j = jl; j <= jh; j++) {
      const s = xv * a[j]! - c[j]!;
      if (s > best) {
        if (s - best <= tol) tie = true;
        best = s;
        bi = j;
      } else if (best - s <= tol) tie = true;
    }
    out[v] = tie ? exactNearest(plan, x, v, tol) : bi;
  }
}

function encodeCells2d(
  plan: EncodePlan,
  x: Float32Array,
  out: Uint16Array,
  s0: number,
  s1: number,
) {
  const lo0 = plan.lo0!, lo1 = plan.lo1!, inv = plan.inv!, nx = plan.nx!, ny = plan.ny!;
  const start = plan.cellStart!, idx = plan.cellIdx!, data = plan.cellData!;
  const k1 = plan.maxAbs, k2 = plan.maxNorm2;
  for (let v = s0; v < s1; v++) {
    const x0 = x[2 * v]!, x1 = x[2 * v + 1]!;
    const tol = 6 * 3.552713678800501e-15 *
      (x0 * x0 + x1 * x1 + (Math.abs(x0) + Math.abs(x1)) * k1 + k2);
    if (!(tol < Infinity)) badInput(x, 2 * v, 2);
    const cx = Math.floor((x0 - lo0) * inv), cy = Math.floor((x1 - lo1) * inv);
    if (cx < 0 || cy < 0 || cx >= nx || cy >= ny) {
      out[v] = bruteOne(plan, x, 2 * v);
      continue;
    }
    const cell = cy * nx + cx;
    const e = start[cell + 1]!;
    let best = -Infinity, bk = 0, tie = false;
    for (let k = start[cell]!; k < e; k++) {
      const s = x0 * data[3 * k]! + x1 * data[3 * k + 1]! - data[3 * k + 2]!;
      if (s > best) {
        if (s - best <= tol) tie = true;
        best = s;
        bk = k;
      } else if (best - s <= tol) tie = true;
    }
    out[v] = tie ? exactNearest(plan, x, 2 * v, tol) : idx[bk]!;
  }
}

function encodeSortedFirst(
  plan: EncodePlan,
  x: Float32Array,
  out: Uint16Array,
  s0: number,
  s1: number,
) {
  const { p, n } = plan;
  const order = plan.order!, sp = plan.sorted!;
  for (let v = s0; v < s1; v++) {
    const off = v * p;
    const tol = tolerance(plan, x, off);
    const x0 = x[off]!;
    let lo = 0, hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sp[mid * p]! < x0) lo = mid + 1;
      else hi = mid;
    }
    let up = lo, dn = lo - 1;
    let best = Infinity, bi = 0, tie = false;
    while (up < n || dn >= 0) {
      let k: number;
      if (up < n && (dn < 0 || sp[up * p]! - x0 <= x0 - sp[dn * p]!)) k = up++;
      else k = dn--;
      const base = k * p;
      const t0 = x0 - sp[base]!;
      let d = t0 * t0;
      const lim = best + tol;
      // The nearer side first: once (x₀ − g₀)² alone is over the limit, so is everything left.
      if (d > lim) break;
      let i = 1;
      for (; i < p; i++) {
        const t = x[off + i]! - sp[base + i]!;
        d += t * t;
        if (d > lim) break;
      }
      if (i < p) continue;
      if (d < best) {
        if (best - d <= tol) tie = true;
        best = d;
        bi = order[k]!;
      } else if (d - best <= tol) tie = true;
    }
    out[v] = tie ? exactNearest(plan, x, off, tol) : bi;
  }
}

/**
 * The exact code of vector `v` of `x` (brute force with exact tie resolution); what the GPU
 * encoder's host side uses to settle the near ties the kernel flags.
 *
 * @example
 * ```ts
 * import { encodeOneExact } from "./encode.ts";
 * const grid = { p: 1, n: 2, points: new Float32Array([-1, 1]) };
 * if (encodeOneExact(grid, new Float32Array([0]), 0) !== 0) throw new Error(); // tie → lower
 * ```
 */
export function encodeOneExact(grid: GridPoints, x: Float32Array, v: number): number {
  const plan = encodePlan(grid);
  const off = v * grid.p;
  return exactNearest(plan, x, off, tolerance(plan, x, off));
}

/**
 * The grid points for `codes`: out[v·p … v·p+p−1] = points[codes[v]·p …]. Throws `bad-value` for
 * a code ≥ n.
 *
 * @example
 * ```ts
 * import { decodeGrid } from "./encode.ts";
 * const grid = { p: 2, n: 2, points: new Float32Array([-1, 2, 3, 4]) };
 * if (decodeGrid(grid, new Uint16Array([1, 0])).join() !== "3,4,-1,2") throw new Error();
 * ```
 */
export function decodeGrid(
  grid: GridPoints,
  codes: Uint16Array | Uint32Array,
  out?: Float32Array,
): Float32Array {
  const { p, n, points } = grid;
  const m = codes.length;
  const y = out ?? new Float32Array(m * p);
  if (y.length < m * p) {
    throw new QuantlabError("bad-shape", `Output holds ${y.length} values; need ${m * p}`);
  }
  for (let v = 0; v < m; v++) {
    const j = codes[v]!;
    if (j >= n) {
      throw new QuantlabError("bad-value", `Code ${j} at index ${v} is out of range for n = ${n}`);
    }
    for (let i = 0; i < p; i++) y[v * p + i] = points[j * p + i]!;
  }
  return y;
}
