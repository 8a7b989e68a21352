// This module is browser compatible.
/**
 * The search structure (`EncodePlan`) of one grid that the nearest-point encoders of `encode.ts`
 * walk: the scores' coefficients and, by grid shape, sorted midpoints (p = 1), a uniform cell grid
 * with each cell's candidate points (p = 2), or points sorted by the first coordinate (p ≥ 3).
 * `encode.ts` explains how each is searched exactly.
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
 * import { encodePlan } from "./encode_plan.ts";
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
