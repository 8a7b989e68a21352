// This module is browser compatible.
/**
 * Perplexity with Hugging Face's strided sliding window. Windows start every `stride` tokens and
 * span up to `ctx` tokens; each window scores only the labels no earlier window scored (the first
 * window every token after the first), and a window's first token is never a label. With
 * stride = ctx the windows are independent. Every token after the first is scored exactly once
 * (HF's example subtracts one label per window from its count even when that label was already
 * excluded; here the count is exact).
 *
 * Results keep the per-window NLL sums, so two models can be compared paired
 * (`paired.ts`) and a run can resume from a log of finished windows.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { CausalLM } from "../model/types.ts";

/** One window of a strided evaluation. */
export interface StridedWindow {
  /** Index in evaluation order. */
  index: number;
  /** First token (inclusive). */
  begin: number;
  /** One past the last token. */
  end: number;
  /** First scored label (absolute position; ≥ begin + 1). */
  firstLabel: number;
  /** Labels scored: `end − firstLabel`. */
  scored: number;
}

/**
 * The windows of HF strided evaluation over `numTokens` tokens:
 * `begin = 0, S, 2S, …` while `begin < numTokens`, `end = min(begin + ctx, numTokens)`, labels
 * `[max(begin + 1, prevEnd), end)`, stopping after the window that reaches the end.
 *
 * @example
 * ```ts
 * import { stridedWindows } from "./perplexity.ts";
 * const w = stridedWindows(10, 4, 2);
 * if (w.map((x) => `${x.begin}-${x.end}:${x.scored}`).join(" ") !== "0-4:3 2-6:2 4-8:2 6-10:2") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function stridedWindows(
  numTokens: number,
  ctx: number,
  stride: number = ctx,
): StridedWindow[] {
  if (!Number.isInteger(ctx) || ctx < 2) {
    throw new QuantlabError(
      "bad-argument",
      `Context length ${ctx} is not valid; use an integer ≥ 2`,
    );
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > ctx) {
    throw new QuantlabError(
      "bad-argument",
      `Stride ${stride} is not valid; use an integer from 1 to the context length ${ctx}`,
    );
  }
  if (!Number.isInteger(numTokens) || numTokens < 2) {
    throw new QuantlabError(
      "bad-argument",
      `Perplexity needs at least 2 tokens; the text has ${numTokens}`,
    );
  }
  const out: StridedWindow[] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < numTokens; begin += stride) {
    const end = Math.min(begin + ctx, numTokens);
    const firstLabel = Math.max(begin + 1, prevEnd);
    if (end > firstLabel) {
      out.push({ index: out.length, begin, end, firstLabel, scored: end - firstLabel });
    }
    prevEnd = end;
    if (end === numTokens) break;
  }
  return out;
}

/** The outcome of one window. */
export interface WindowResult {
  /** Window index. */
  index: number;
  /** First token. */
  begin: number;
  /** One past the last token. */
  end: number;
  /** Labels scored. */
  scored: number;
  /** Sum of the scored labels' NLL (nats). */
  nll: number;
}

/** Perplexity statistics over windows. */
export interface PerplexityStats {
  /** Labels scored. */
  scoredTokens: number;
  /** Total NLL (nats). */
  nllSum: number;
  /** nllSum / scoredTokens. */
  meanNll: number;
  /** exp(meanNll). */
  ppl: number;
  /**
   * Standard error of meanNll with windows as the sampling unit (ratio estimator); null for one
   * window.
   */
  meanNllSe: number | null;
  /** ppl · meanNllSe (delta method); null for one window. */
  pplSe: number | null;
  /** Number of windows. */
  windowCount: number;
}

/**
 * PPL, mean NLL and their standard errors from per-window NLL sums.
 *
 * @example
 * ```ts
 * import { summarizeWindows } from "./perplexity.ts";
 * const s = summarizeWindows([
 *   { index: 0, begin: 0, end: 4, scored: 3, nll: 3 * Math.log(8) },
 *   { index: 1, begin: 4, end: 8, scored: 3, nll: 3 * Math.log(8) },
 * ]);
 * if (Math.abs(s.ppl - 8) > 1e-9 || s.meanNllSe !== 0) throw new Error("unexpected");
 * ```
 */
export function summarizeWindows(windows: readonly WindowResult[]): PerplexityStats {
  let n = 0, sum = 0;
  for (const w of windows) {
    n += w.scored;
    sum += w.nll;
  }
  const mean = n > 0 ? sum / n : NaN;
  const W = windows.length;
  let se: number | null = null;
  if (W > 1) {
    // Var of a ratio estimator: Σ (nll_w − mean·n_w)² / (W (W − 1)) / (mean n_w)².
    let ss = 0;
    for (const w of windows) ss += (w.nll - mean * w.scored) ** 2;
    se = Math.sqrt(ss / (W * (W - 1))) / (n / W);
  }
  const ppl = Math.exp(mean);
  return {
    scoredTokens: n,
    nllSum: sum,
    meanNll: mean,
    ppl,
    meanNllSe: se,
    pplSe: se === null ? null : ppl * se,
    windowCount: W,
  };
}

/** Options of {@linkcode evaluatePerplexity}. */
export interface EvaluateOptions {
  /** Window length. */
  ctx: number;
  /** Window step (default ctx). */
  stride?: number;
  /** Windows already computed (resumed from a log); they are not recomputed. */
  done?: Iterable<WindowResult>;
  /** Called after each computed window (e.g. to append it to a log). */
  onWindow?: (w: WindowResult) => void | Promise<void>;
  /** Called after each window with (windows finished, total). */
  onProgress?: (done: number, total: number) => void;
}

/** The outcome of {@linkcode evaluatePerplexity}. */
export interface PerplexityRun extends PerplexityStats {
  /** Every window in order. */
  windows: WindowResult[];
  /** Windows computed in this call (the rest were resumed). */
  computedWindows: number;
  /** Tokens fed to the model in this call. */
  processedTokens: number;
  /** Seconds spent in this call. */
  seconds: number;
  /** processedTokens / seconds. */
  tokensPerSecond: number;
}

/**
 * Strided perplexity of `model` on `ids` (see the module doc). Windows listed in `opts.done`
 * are taken as they are (after checking they match this window layout).
 *
 * @example
 * ```ts
 * import { evaluatePerplexity } from "./perplexity.ts";
 * // A model whose logits are all equal has perplexity = vocabulary size.
 * const uniform = { nll: (t: ArrayLike<number>, from = 1) =>
 *   Promise.resolve(new Float64Array(t.length - from).fill(Math.log(50))) };
 * const r = await evaluatePerplexity(uniform, Array.from({ length: 100 }, (_, i) => i % 50), {
 *   ctx: 16,
 *   stride: 8,
 * });
 * if (Math.abs(r.ppl - 50) > 1e-9 || r.scoredTokens !== 99) throw new Error("unexpected");
 * ```
 */
export async function evaluatePerplexity(
  model: Pick<CausalLM, "nll">,
  ids: ArrayLike<number>,
  opts: EvaluateOptions,
): Promise<PerplexityRun> {
  const plan = stridedWindows(ids.length, opts.ctx, opts.stride ?? opts.ctx);
  const results: (WindowResult | undefined)[] = new Array(plan.length);
  for (const w of opts.done ?? []) {
    const p = plan[w.index];
    if (!p || p.begin !== w.begin || p.end !== w.end || p.scored !== w.scored) {
      throw new QuantlabError(
        "bad-argument",
        `Resumed window ${w.index} [${w.begin}, ${w.end}) does not match this evaluation's ` +
          "windows; the log belongs to another text, context or stride",
      );
    }
    results[w.index] = w;
  }
  const t0 = performance.now();
  let computed = 0, processed = 0;
  let finished = results.filter((r) => r !== undefined).length;
  opts.onProgress?.(finished, plan.length);
  const arr = Array.from(ids);
  for (const w of plan) {
    if (results[w.index]) continue;
    const nll = await model.nll(arr.slice(w.begin, w.end), w.firstLabel - w.begin);
    let sum = 0;
    for (const v of nll) sum += v;
    const r: WindowResult = {
      index: w.index,
      begin: w.begin,
      end: w.end,
      scored: w.scored,
      nll: sum,
    };
    results[w.index] = r;
    computed++;
    processed += w.end - w.begin;
    await opts.onWindow?.(r);
    opts.onProgress?.(++finished, plan.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  const windows = results as WindowResult[];
  return {
    ...summarizeWindows(windows),
    windows,
    computedWindows: computed,
    processedTokens: processed,
    seconds,
    tokensPerSecond: seconds > 0 ? processed / seconds : 0,
  };
}

/**
 * UTF-8 bytes of the scored text, for bits per byte: the bytes of the evaluated tokens' text
 * minus those of tokens never scored (the first token, and a window's first token when
 * stride = ctx). `bytesOf(ids)` gives the UTF-8 length of the decoded ids (special tokens: 0).
 *
 * @example
 * ```ts
 * import { scoredBytes, stridedWindows } from "./perplexity.ts";
 * const ids = [0, 1, 2, 3, 4, 5];
 * const n = scoredBytes(ids, stridedWindows(6, 3), (t) => t.length); // one byte per token
 * if (n !== 4) throw new Error("unexpected"); // tokens 0 and 3 start windows
 * ```
 */
export function scoredBytes(
  ids: ArrayLike<number>,
  windows: readonly StridedWindow[],
  bytesOf: (ids: number[]) => number,
): number {
  const arr = Array.from(ids);
  const last = windows.length ? windows[windows.length - 1]!.end : 0;
  const scored = new Uint8Array(last);
  for (const w of windows) scored.fill(1, w.firstLabel, w.end);
  let total = bytesOf(arr.slice(0, last));
  for (let t = 0; t < last; t++) if (!scored[t]) total -= bytesOf([arr[t]!]);
  return Math.max(0, total);
}
