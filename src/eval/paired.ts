// This module is browser compatible.
/**
 * Paired comparison of two models evaluated on the same windows: the per-window NLL
 * differences (b − a), their mean, its standard error and z = mean / SE. Differences between
 * quantized variants (~0.3 % PPL) are far below the standard error of one perplexity (~1 % over
 * 100k tokens), but the paired differences cancel the text's own variance.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { WindowResult } from "./perplexity.ts";

/** The result of {@linkcode pairedCompare}. */
export interface PairedComparison {
  /** Number of windows. */
  n: number;
  /** Mean over windows of (b − a) per-window NLL sums (nats). */
  meanDiff: number;
  /** Standard error of meanDiff (sample SD / √n); null for one window. */
  se: number | null;
  /** meanDiff / se (null when se is null or 0 with a zero mean). */
  z: number | null;
  /** Δ mean NLL per token, Σ(b − a) / Σ scored (when token counts are known). */
  deltaMeanNll: number | null;
  /** Standard error of deltaMeanNll (se · n / Σ scored). */
  deltaMeanNllSe: number | null;
  /** PPL_b − PPL_a (when token counts are known). */
  deltaPpl: number | null;
}

/** One side of a comparison: per-window NLL sums, or a perplexity result with its windows. */
export type PairedSide = readonly number[] | { windows: readonly WindowResult[] };

function unpack(s: PairedSide): { nll: number[]; scored: number[] | null } {
  if (Array.isArray(s)) return { nll: [...(s as number[])], scored: null };
  const w = (s as { windows: readonly WindowResult[] }).windows;
  return { nll: w.map((x) => x.nll), scored: w.map((x) => x.scored) };
}

/**
 * Compares b against a window by window. Each side is an array of per-window NLL sums, or a
 * perplexity result (`{windows}`), in which case the windows must match and per-token deltas are
 * reported too.
 *
 * @example
 * ```ts
 * import { pairedCompare } from "./paired.ts";
 * const r = pairedCompare([10, 12, 11, 13], [10.1, 12.2, 11.1, 13.2]);
 * if (!(r.meanDiff > 0.14 && r.meanDiff < 0.16) || r.z === null || r.z < 2) throw new Error();
 * ```
 */
export function pairedCompare(a: PairedSide, b: PairedSide): PairedComparison {
  const A = unpack(a), B = unpack(b);
  if (A.nll.length !== B.nll.length || A.nll.length === 0) {
    throw new QuantlabError(
      "bad-shape",
      `Paired comparison needs the same non-zero number of windows; got ${A.nll.length} and ` +
        `${B.nll.length}`,
    );
  }
  const scored = A.scored ?? B.scored;
  if (A.scored && B.scored && A.scored.some((v, i) => v !== B.scored![i])) {
    throw new QuantlabError(
      "bad-shape",
      "Paired comparison needs identical windows; the scored token counts differ",
    );
  }
  const n = A.nll.length;
  const d = A.nll.map((v, i) => B.nll[i]! - v);
  const mean = d.reduce((s, v) => s + v, 0) / n;
  let se: number | null = null;
  if (n > 1) {
    const v = d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
    se = Math.sqrt(v / n);
  }
  const z = se === null
    ? null
    : se > 0
    ? mean / se
    : mean === 0
    ? null
    : Math.sign(mean) * Infinity;
  let deltaMeanNll: number | null = null,
    deltaSe: number | null = null,
    deltaPpl: number | null = null;
  if (scored) {
    const tokens = scored.reduce((s, v) => s + v, 0);
    deltaMeanNll = (mean * n) / tokens;
    deltaSe = se === null ? null : (se * n) / tokens;
    const sa = A.nll.reduce((s, v) => s + v, 0) / tokens;
    const sb = B.nll.reduce((s, v) => s + v, 0) / tokens;
    deltaPpl = Math.exp(sb) - Math.exp(sa);
  }
  return { n, meanDiff: mean, se, z, deltaMeanNll, deltaMeanNllSe: deltaSe, deltaPpl };
}

/**
 * Mean of per-window values and its standard error (sample SD / √n; null for one window).
 *
 * @example
 * ```ts
 * import { meanSe } from "./paired.ts";
 * const { mean, se } = meanSe([1, 2, 3]);
 * if (mean !== 2 || Math.abs(se! - 1 / Math.sqrt(3)) > 1e-12) throw new Error();
 * ```
 */
export function meanSe(v: number[]): { mean: number; se: number | null } {
  const n = v.length, mean = v.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, se: null };
  const ss = v.reduce((s, x) => s + (x - mean) ** 2, 0);
  return { mean, se: Math.sqrt(ss / (n - 1) / n) };
}
