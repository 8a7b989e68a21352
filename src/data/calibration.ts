// This module is browser compatible.
/**
 * Calibration windows for data-aware quantization (GPTQ): `samples` windows of `ctx` consecutive
 * tokens, each starting at an offset drawn uniformly from the token stream with a seed, as GPTQ's
 * reference draws its calibration set (random C4 / WikiText-2 segments; windows may overlap).
 * The draw is counter-based (`randU32(seed, k)` for window k), so a seed names the set exactly
 * and more samples extend it (the first N windows of a larger draw are the N-window draw).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randU32 } from "../core/prng.ts";

/** How a calibration set is drawn. */
export interface CalibrationDraw {
  /** Number of windows (≥ 1). */
  samples: number;
  /** Tokens per window (≥ 2). */
  ctx: number;
  /** Seed of the window offsets (an integer, taken modulo 2^32). */
  seed: number;
}

/**
 * Checks a draw's settings: `bad-argument` naming the value and what is valid.
 *
 * @example
 * ```ts
 * import { checkCalibrationDraw } from "./calibration.ts";
 * checkCalibrationDraw({ samples: 128, ctx: 256, seed: 0 });
 * let msg = "";
 * try { checkCalibrationDraw({ samples: 0, ctx: 256, seed: 0 }); } catch (e) { msg = String(e); }
 * if (!msg.includes("Calibration samples 0")) throw new Error(msg);
 * ```
 */
export function checkCalibrationDraw(d: CalibrationDraw): void {
  if (!Number.isSafeInteger(d.samples) || d.samples < 1) {
    throw new QuantlabError(
      "bad-argument",
      `Calibration samples ${d.samples} is not valid; use an integer ≥ 1 (e.g. 128)`,
    );
  }
  if (!Number.isSafeInteger(d.ctx) || d.ctx < 2) {
    throw new QuantlabError(
      "bad-argument",
      `Calibration window ${d.ctx} is not valid; use an integer ≥ 2 tokens (e.g. 256)`,
    );
  }
  if (!Number.isSafeInteger(d.seed)) {
    throw new QuantlabError(
      "bad-argument",
      `Calibration seed ${d.seed} is not valid; use an integer`,
    );
  }
}

/**
 * Draws `samples` windows of `ctx` tokens from `ids` (see the module doc): window k starts at
 * `randU32(seed, k) mod (ids.length − ctx + 1)`. Errors (`bad-argument`): a bad draw, or a token
 * stream shorter than one window (naming `what`, the text, and both counts).
 *
 * @example
 * ```ts
 * import { drawCalibrationWindows } from "./calibration.ts";
 * const ids = Array.from({ length: 100 }, (_, i) => i);
 * const w = drawCalibrationWindows(ids, { samples: 3, ctx: 10, seed: 1 });
 * if (w.length !== 3 || w[0]!.length !== 10 || w[0]![9]! - w[0]![0]! !== 9) throw new Error();
 * ```
 */
export function drawCalibrationWindows(
  ids: ArrayLike<number>,
  draw: CalibrationDraw,
  what = "The calibration text",
): number[][] {
  checkCalibrationDraw(draw);
  const { samples, ctx, seed } = draw;
  if (ids.length < ctx) {
    throw new QuantlabError(
      "bad-argument",
      `${what} has ${ids.length} token${ids.length === 1 ? "" : "s"}; one window ` +
        `of ${ctx} needs ${ctx}: give a longer text or a shorter window`,
    );
  }
  const starts = ids.length - ctx + 1;
  const out: number[][] = [];
  for (let k = 0; k < samples; k++) {
    const s = randU32(seed, k) % starts;
    out.push(Array.from({ length: ctx }, (_, i) => ids[s + i]!));
  }
  return out;
}
