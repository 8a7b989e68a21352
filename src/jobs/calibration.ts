/**
 * The calibration set of a data-aware quantization job (GPTQ): a text (the bytes of a `--calib`
 * source: a Brown split or a file, read by the caller) tokenized with the model's own tokenizer,
 * then `samples` windows of `ctx` tokens drawn with a seed (`src/data/calibration.ts`). What was
 * used — source, text hash, token count, samples, ctx, seed — is recorded with the result so a
 * checkpoint says how it was calibrated.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import {
  type CalibrationDraw,
  checkCalibrationDraw,
  drawCalibrationWindows,
} from "../data/calibration.ts";
import { pathExists } from "../io/atomic.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { joinPath, q } from "../io/paths.ts";
import { sha256 } from "../io/results.ts";
import { loadTokenizer } from "../model/loader.ts";

/** A calibration text and how to draw from it. */
export interface CalibrationSource extends CalibrationDraw {
  /** What the text is, as the user named it (`brown:train`, a file path); recorded. */
  source: string;
  /** The UTF-8 bytes of the text. */
  text: Uint8Array;
}

/** How a calibration set was made (recorded in the checkpoint's `quantization_config`). */
export interface CalibrationRecord extends CalibrationDraw {
  /** The source as named by the user. */
  source: string;
  /** SHA-256 of the text bytes. */
  textSha256: string;
  /** Tokens in the whole text. */
  textTokens: number;
}

/** A drawn calibration set. */
export interface Calibration {
  /** `samples` windows of `ctx` token ids. */
  windows: number[][];
  /** How they were made. */
  record: CalibrationRecord;
}

/**
 * Tokenizes `src.text` with the tokenizer of `modelDir` and draws the windows. Errors: a bad draw
 * or a text shorter than one window (`bad-argument`), a model folder without `tokenizer.json`
 * (`not-found`), each one line naming the value.
 *
 * @example
 * ```ts
 * import { loadCalibration } from "./calibration.ts";
 * const text = new TextEncoder().encode("The jury said it did find that the election ".repeat(20));
 * const c = await loadCalibration("assets/tiny-llama", {
 *   source: "inline", text, samples: 2, ctx: 16, seed: 0,
 * });
 * if (c.windows.length !== 2 || c.windows[0]!.length !== 16) throw new Error();
 * ```
 */
export async function loadCalibration(
  modelDir: string,
  src: CalibrationSource,
): Promise<Calibration> {
  const draw = { samples: src.samples, ctx: src.ctx, seed: src.seed };
  checkCalibrationDraw(draw);
  const dir = await resolveModelPath(modelDir);
  if (!await pathExists(joinPath(dir, "tokenizer.json"))) {
    throw new QuantlabError(
      "not-found",
      `Model ${q(modelDir)} has no tokenizer.json; the calibration text ${q(src.source)} is ` +
        "tokenized with the model's own tokenizer: add it to the folder",
    );
  }
  const ids = (await loadTokenizer(dir)).encode(new TextDecoder().decode(src.text));
  const windows = drawCalibrationWindows(ids, draw, `The calibration text ${q(src.source)}`);
  return {
    windows,
    record: {
      source: src.source,
      textSha256: await sha256(src.text),
      textTokens: ids.length,
      ...draw,
    },
  };
}
