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
import { checkGridShape, type GridPoints } from "./grid.ts";

/** Search structure kinds. */
export type PlanKind = "brute" | "sorted1d" | "cells2d" | "sorted-first";

/**
 * A precomputed search structure for one grid. Plain typed arrays (SharedArrayBuffer-backed where
 * available) so it can be sent to pool workers without copying.
 */
export interface EncodePlan {
  /** Which search structure this plan uses. */
  kind: PlanKind;
  /** Vector dimension. */
  p: number;
  /** Number of grid points. */
  n: number;
  /** Grid points (f32, original order). */
  pts: Float32Array;
  /** 2·g in f64, n·p. */
  a: Float64Array;
  /** ‖g‖² in f64, n. */
  c: Float64Array;
  /** max |g| over all coordinates. */
  maxAbs: number;
  /** max ‖g‖². */
  maxNorm2: number;
  /** sorted1d: the n−1 midpoints. */
  mids?: Float64Array;
  /** cells2d: box origin, inverse cell size, cell counts. */
  lo0?: number;
  /** cells2d: box origin along coordinate 1. */
  lo1?: number;
  /** cells2d: inverse cell size. */
  inv?: number;
  /** cells2d: cells along coordinate 0. */
  nx?: number;
  /** cells2d: cells along coordinate 1. */
  ny?: number;
  /** cells2d: cell c's candidates are entries cellStart[c] … cellStart[c+1]−1. */
  cellStart?: Uint32Array;
  /** cells2d: candidate index, ascending within a cell. */
  cellIdx?: Uint16Array;
  /** cells2d: candidate data (a0, a1, c) per entry. */
  cellData?: Float64Array;
  /** sorted-first: original index of the k-th point in first-coordinate order. */
  order?: Uint16Array;
  /** sorted-first: points in first-coordinate order (f64), n·p. */
  sorted?: Float64Array;
}

function sharedAvailable(): boolean {
  return typeof SharedArrayBuffer !== "undefined";
}
function f64(n: number): Float64Array {
  return sharedAvailable() ? new Float64Array(new SharedArrayBuffer(8 * n)) : new Float64Array(n);
}
function u32(n: number): Uint32Array {
  return sharedAvailable() ? new Uint32Array(new SharedArrayBuffer(4 * n)) : new Uint32Array(n);
}
function u16(n: number): Uint16Array {
  const bytes = 2 * n + (n & 1) * 2;
  return sharedAvailable()
    ? new Uint16Array(new SharedArrayBuffer(Math.max(4, bytes)), 0, n)
    : new Uint16Array(n);
}
function f32Shared(a: Float32Array): Float32Array {
  if (!sharedAvailable() || a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Float32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

/** Options of {@linkcode encodePlan}. */
export interface PlanOptions {
  /** Force a search structure (default: the best for p). */
  kind?: PlanKind;
  /** cells2d: cells per grid point (default 4). */
  cellsPerPoint?: number;
}

const planCache = new WeakMap<Float32Array, EncodePlan>();

/**
 * Builds (or returns the cached) search structure for `grid`.
 *
 * @example
 * ```ts
 * import { encodePlan } from "./encode.ts";
 * const plan = encodePlan({ p: 1, n: 3, points: new Float32Array([-1, 0, 1]) });
 * if (plan.kind !== "sorted1d") throw new Error(plan.kind);
 * ```
 */
export function encodePlan(grid: GridPoints, opts: PlanOptions = {}): EncodePlan {
  checkGridShape(grid.p, grid.n);
  if (!(grid.points instanceof Float32Array) || grid.points.length !== grid.n * grid.p) {
    throw new QuantlabError(
      "bad-shape",
      `Grid (${grid.p}, ${grid.n}) has ${grid.points?.length} coordinates; expected ${
        grid.n * grid.p
      }`,
    );
  }
  const useCache = opts.kind === undefined && opts.cellsPerPoint === undefined;
  if (useCache) {
    const hit = planCache.get(grid.points);
    if (hit && hit.p === grid.p && hit.n === grid.n) return hit;
  }
  const plan = buildPlan(grid, opts);
  if (useCache) planCache.set(grid.points, plan);
  return plan;
}

function buildPlan(grid: GridPoints, opts: PlanOptions): EncodePlan {
  const { p, n } = grid;
  const pts = f32Shared(grid.points);
  for (let i = 0; i < pts.length; i++) {
    if (!Number.isFinite(pts[i]!)) {
      throw new QuantlabError("bad-value", `Grid (${p}, ${n}) holds ${pts[i]} at coordinate ${i}`);
    }
  }
  const a = f64(n * p);
  const c = f64(n);
  let maxAbs = 0;
  let maxNorm2 = 0;
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < p; i++) {
      const g = pts[j * p + i]!;
      a[j * p + i] = 2 * g;
      s += g * g;
      maxAbs = Math.max(maxAbs, Math.abs(g));
    }
    c[j] = s;
    maxNorm2 = Math.max(maxNorm2, s);
  }
  const base: EncodePlan = { kind: "brute", p, n, pts, a, c, maxAbs, maxNorm2 };
  let kind = opts.kind;
  if (kind === undefined) {
    if (p === 1) kind = isStrictlyAscending(pts) ? "sorted1d" : "brute";
    else if (p === 2) kind = n >= 8 ? "cells2d" : "brute";
    else kind = n >= 16 ? "sorted-first" : "brute";
  }
  if (kind === "sorted1d") {
    if (p !== 1 || !isStrictlyAscending(pts)) {
      throw new QuantlabError(
        "bad-argument",
        "Plan sorted1d needs p = 1 and strictly ascending points",
      );
    }
    const mids = f64(n - 1);
    for (let k = 0; k < n - 1; k++) mids[k] = (pts[k]! + pts[k + 1]!) / 2;
    return { ...base, kind, mids };
  }
  if (kind === "cells2d") {
    if (p !== 2) throw new QuantlabError("bad-argument", "Plan cells2d needs p = 2");
    return buildCells2d(base, opts.cellsPerPoint ?? 4);
  }
  if (kind === "sorted-first") {
    const idx = Array.from({ length: n }, (_, j) => j).sort((u, v) =>
      pts[u * p]! - pts[v * p]! || u - v
    );
    const order = u16(n);
    const sorted = f64(n * p);
    idx.forEach((j, k) => {
      order[k] = j;
      for (let i = 0; i < p; i++) sorted[k * p + i] = pts[j * p + i]!;
    });
    return { ...base, kind, order, sorted };
  }
  return base;
}

function isStrictlyAscending(pts: Float32Array): boolean {
  for (let k = 1; k < pts.length; k++) if (!(pts[k]! > pts[k - 1]!)) return false;
  return true;
}

/** Margin of the cell box around the points, as a fraction of their span (outside: brute force). */
const MARGIN = 0.1;

/** Uniform cell grid with conservative per-cell candidate lists. */
function buildCells2d(base: EncodePlan, cellsPerPoint: number): EncodePlan {
  const { n, pts } = base;
  let min0 = Infinity, max0 = -Infinity, min1 = Infinity, max1 = -Infinity;
  for (let j = 0; j < n; j++) {
    const u = pts[2 * j]!, v = pts[2 * j + 1]!;
    min0 = Math.min(min0, u), max0 = Math.max(max0, u);
    min1 = Math.min(min1, v), max1 = Math.max(max1, v);
  }
  const span = Math.max(max0 - min0, max1 - min1, 1e-30);
  const lo0 = min0 - MARGIN * span, hi0 = max0 + MARGIN * span;
  const lo1 = min1 - MARGIN * span, hi1 = max1 + MARGIN * span;
  const area = (hi0 - lo0) * (hi1 - lo1);
  let h = Math.sqrt(area / (cellsPerPoint * n * (1 + 2 * MARGIN) ** 2));
  const nx = Math.max(1, Math.min(2048, Math.ceil((hi0 - lo0) / h)));
  const ny = Math.max(1, Math.min(2048, Math.ceil((hi1 - lo1) / h)));
  h = Math.max((hi0 - lo0) / nx, (hi1 - lo1) / ny);
  const inv = 1 / h;
  const cells = nx * ny;
  // Bucket the points by cell.
  const cellOf = (u: number, v: number): number => {
    const cx = Math.min(nx - 1, Math.max(0, Math.floor((u - lo0) * inv)));
    const cy = Math.min(ny - 1, Math.max(0, Math.floor((v - lo1) * inv)));
    return cy * nx + cx;
  };
  const bucketStart = new Uint32Array(cells + 1);
  for (let j = 0; j < n; j++) bucketStart[cellOf(pts[2 * j]!, pts[2 * j + 1]!) + 1]!++;
  for (let k = 0; k < cells; k++) bucketStart[k + 1]! += bucketStart[k]!;
  const bucket = new Uint32Array(n);
  const fillPos = bucketStart.slice(0, cells);
  for (let j = 0; j < n; j++) bucket[fillPos[cellOf(pts[2 * j]!, pts[2 * j + 1]!)]!++] = j;

  const pad = 1e-9 * (h + Math.abs(lo0) + Math.abs(hi0) + Math.abs(lo1) + Math.abs(hi1));
  const lists: number[][] = new Array(cells);
  let total = 0;
  const maxRing = Math.max(nx, ny);
  for (let cy = 0; cy < ny; cy++) {
    for (let cx = 0; cx < nx; cx++) {
      const x0 = lo0 + cx * h - pad, x1 = lo0 + (cx + 1) * h + pad;
      const y0 = lo1 + cy * h - pad, y1 = lo1 + (cy + 1) * h + pad;
      // 1. D = min over g of dist_max²(cell, g), searching rings of buckets outward.
      let dBest = Infinity;
      for (let r = 0; r <= maxRing; r++) {
        forRing(cx, cy, r, nx, ny, (b) => {
          for (let k = bucketStart[b]!; k < bucketStart[b + 1]!; k++) {
            const j = bucket[k]!;
            const u = pts[2 * j]!, v = pts[2 * j + 1]!;
            const du = Math.max(Math.abs(u - x0), Math.abs(u - x1));
            const dv = Math.max(Math.abs(v - y0), Math.abs(v - y1));
            dBest = Math.min(dBest, du * du + dv * dv);
          }
        });
        // Points in rings > r are at least r·h from the cell.
        if (dBest <= (r * h) * (r * h)) break;
      }
      const dLim = dBest * (1 + 1e-9) + 1e-300;
      // 2. Keep every g with dist_min²(cell, g) ≤ D; such g lie within √D of the cell.
      const reach = Math.min(maxRing, Math.ceil(Math.sqrt(dLim) / h) + 1);
      const list: number[] = [];
      for (let r = 0; r <= reach; r++) {
        forRing(cx, cy, r, nx, ny, (b) => {
          for (let k = bucketStart[b]!; k < bucketStart[b + 1]!; k++) {
            const j = bucket[k]!;
            const u = pts[2 * j]!, v = pts[2 * j + 1]!;
            const du = u < x0 ? x0 - u : u > x1 ? u - x1 : 0;
            const dv = v < y0 ? y0 - v : v > y1 ? v - y1 : 0;
            if (du * du + dv * dv <= dLim) list.push(j);
          }
        });
      }
      list.sort((u, v) => u - v);
      lists[cy * nx + cx] = list;
      total += list.length;
    }
  }
  const cellStart = u32(cells + 1);
  const cellIdx = u16(total);
  const cellData = f64(3 * total);
  let pos = 0;
  for (let k = 0; k < cells; k++) {
    cellStart[k] = pos;
    for (const j of lists[k]!) {
      cellIdx[pos] = j;
      cellData[3 * pos] = base.a[2 * j]!;
      cellData[3 * pos + 1] = base.a[2 * j + 1]!;
      cellData[3 * pos + 2] = base.c[j]!;
      pos++;
    }
  }
  cellStart[cells] = pos;
  return { ...base, kind: "cells2d", lo0, lo1, inv, nx, ny, cellStart, cellIdx, cellData };
}

/** Calls f(bucket) for the cells at Chebyshev distance exactly r from (cx, cy), inside the grid. */
function forRing(
  cx: number,
  cy: number,
  r: number,
  nx: number,
  ny: number,
  f: (b: number) => void,
) {
  if (r === 0) {
    f(cy * nx + cx);
    return;
  }
  for (let y = cy - r; y <= cy + r; y++) {
    if (y < 0 || y >= ny) continue;
    if (y === cy - r || y === cy + r) {
      for (let x = Math.max(0, cx - r); x <= Math.min(nx - 1, cx + r); x++) f(y * nx + x);
    } else {
      if (cx - r >= 0) f(y * nx + cx - r);
      if (cx + r < nx) f(y * nx + cx + r);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Exact arithmetic

/**
 * The sign of the exact sum of `terms` (f64 values), by Shewchuk's expansion sum (no rounding).
 *
 * @example
 * ```ts
 * import { exactSumSign } from "./encode.ts";
 * if (exactSumSign([1e300, 1, -1e300]) !== 1) throw new Error();
 * if (exactSumSign([0.1, 0.2, -0.30000000000000004]) !== -1) throw new Error();
 * ```
 */
export function exactSumSign(terms: ArrayLike<number>): -1 | 0 | 1 {
  const partials: number[] = [];
  for (let t = 0; t < terms.length; t++) {
    let x = terms[t]!;
    let i = 0;
    for (let k = 0; k < partials.length; k++) {
      const y = partials[k]!;
      const hi = x + y;
      const bv = hi - x;
      const lo = (x - (hi - bv)) + (y - bv);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  for (let k = partials.length - 1; k >= 0; k--) {
    const v = partials[k]!;
    if (v !== 0) return v > 0 ? 1 : -1;
  }
  return 0;
}

const termBuf: number[] = [];

/** Sign of Sⱼ − Sₖ = 2⟨x, gⱼ − gₖ⟩ − ‖gⱼ‖² + ‖gₖ‖², exactly (f32 products are exact in f64). */
function compareExact(
  pts: Float32Array,
  p: number,
  x: ArrayLike<number>,
  off: number,
  j: number,
  k: number,
): number {
  termBuf.length = 0;
  for (let i = 0; i < p; i++) {
    const xi = x[off + i]!, gj = pts[j * p + i]!, gk = pts[k * p + i]!;
    termBuf.push(2 * xi * gj, -2 * xi * gk, -gj * gj, gk * gk);
  }
  return exactSumSign(termBuf);
}

/** tol(x): a bound on the error of the difference of two computed scores (f64). */
function tolerance(plan: EncodePlan, x: ArrayLike<number>, off: number): number {
  let n2 = 0, n1 = 0;
  for (let i = 0; i < plan.p; i++) {
    const v = x[off + i]!;
    n2 += v * v;
    n1 += Math.abs(v);
  }
  if (!(n2 < Infinity)) badInput(x, off, plan.p);
  return (plan.p + 4) * 3.552713678800501e-15 * (n2 + n1 * plan.maxAbs + plan.maxNorm2);
}

function badInput(x: ArrayLike<number>, off: number, p: number): never {
  for (let i = 0; i < p; i++) {
    const v = x[off + i]!;
    if (v - v !== 0) {
      throw new QuantlabError(
        "bad-value",
        `Input holds ${v} at index ${off + i} (vector ${
          off / p
        }); only finite vectors can be encoded`,
      );
    }
  }
  throw new QuantlabError("bad-value", `Input vector ${off / p} is not finite`);
}

/**
 * The exact code of the vector at x[off … off+p−1]: all scores, then an exact comparison among
 * those within the error bound of the best. The definition every fast path must match.
 */
function exactNearest(plan: EncodePlan, x: ArrayLike<number>, off: number, tol: number): number {
  const { p, n, a, c, pts } = plan;
  let best = -Infinity;
  for (let j = 0; j < n; j++) {
    let s = -c[j]!;
    for (let i = 0; i < p; i++) s += x[off + i]! * a[j * p + i]!;
    if (s > best) best = s;
  }
  const thr = best - 2 * tol;
  let bi = -1;
  for (let j = 0; j < n; j++) {
    let s = -c[j]!;
    for (let i = 0; i < p; i++) s += x[off + i]! * a[j * p + i]!;
    if (s < thr) continue;
    if (bi < 0 || compareExact(pts, p, x, off, j, bi) > 0) bi = j;
  }
  return bi;
}

// ---------------------------------------------------------------------------------------------
// Encoders

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
 * import { encodePlan, encodeRange } from "./encode.ts";
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
