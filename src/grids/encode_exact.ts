// This module is browser compatible.
/**
 * Exact tie-breaking for the nearest-point encoders (`encode.ts`, "What decides ties"): the error
 * bound tol(x) of two computed scores, and the exact decision — the lowest index whose exact score
 * Sⱼ = 2·⟨x, gⱼ⟩ − ‖gⱼ‖² is maximal — by an exact sign of a sum of f64 products (Shewchuk's
 * expansion sum).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { EncodePlan } from "./encode_plan.ts";

/**
 * The sign of the exact sum of `terms` (f64 values), by Shewchuk's expansion sum (no rounding).
 *
 * @example
 * ```ts
 * import { exactSumSign } from "./encode_exact.ts";
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
export function tolerance(plan: EncodePlan, x: ArrayLike<number>, off: number): number {
  let n2 = 0, n1 = 0;
  for (let i = 0; i < plan.p; i++) {
    const v = x[off + i]!;
    n2 += v * v;
    n1 += Math.abs(v);
  }
  if (!(n2 < Infinity)) badInput(x, off, plan.p);
  return (plan.p + 4) * 3.552713678800501e-15 * (n2 + n1 * plan.maxAbs + plan.maxNorm2);
}

/** Throws the error naming the first non-finite coordinate of the vector at x[off …]. */
export function badInput(x: ArrayLike<number>, off: number, p: number): never {
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
export function exactNearest(
  plan: EncodePlan,
  x: ArrayLike<number>,
  off: number,
  tol: number,
): number {
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
