// This module is browser compatible.
/**
 * Reading the rows of the linearity check ({@linkcode checkLinearity}): how well measured follows
 * predicted ({@linkcode summarizeLinearity}), and paired differences between two rows measured on
 * the same windows ({@linkcode compareRows}).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fitThroughOrigin } from "./linearity.ts";
import type { LinearityRow } from "./linearity_check.ts";
import { meanSe } from "../eval/paired.ts";

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
 * import { compareRows } from "./linearity_summary.ts";
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
 * import { summarizeLinearity } from "./linearity_summary.ts";
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
