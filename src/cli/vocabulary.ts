/**
 * The flags every command spells the same way (docs/cli.md, "One flag vocabulary"): `-q/--quiet`,
 * `-o/--out`, `-t/--text`, `--json`, `--ctx`, `--windows`. A short flag has one meaning in every
 * command; single-letter long flags (`--p`, `--n`) have no short form.
 *
 * @module
 */
import type { FlagSpec } from "./command.ts";

/** The short flags in use and the one long flag each stands for, in every command. */
export const SHORT_FLAGS: Readonly<Record<string, string>> = {
  h: "help",
  q: "quiet",
  o: "out",
  t: "text",
  s: "sensitivities",
};

/** `-q/--quiet`: no progress bar and no notes on stderr (warnings and errors still print). */
export const QUIET_FLAG: Record<string, FlagSpec> = {
  quiet: { type: "boolean", short: "q", help: "no progress bar or notes (warnings still print)" },
};

/**
 * `--weights auto|f32|16bit` (`ppl`, `generate`): dense bf16 / f16 matrices widened to f32 at load,
 * or kept 16-bit and widened a tile at a time per product (`resolveHalfWeights` in
 * `src/model/loader.ts`).
 */
export const WEIGHTS_FLAG: Record<string, FlagSpec> = {
  weights: {
    type: "string",
    default: "auto",
    help: "bf16/f16 weights: auto (16bit when f32 would not fit in memory) | f32 | 16bit",
  },
};

/**
 * `--json`: one JSON object on stdout, `{"schema": "quantlab.<command>", "schemaVersion": 1, …}`.
 */
export const JSON_FLAG: Record<string, FlagSpec> = {
  json: { type: "boolean", help: "print one JSON object on stdout (shape: docs/cli.md)" },
};

/**
 * `--force` and `--resume`: what to do with an existing `--out` (without either, it must be
 * absent or an empty folder). `--resume` only for commands that can continue a run; `force`
 * words `--force` for a command where it means something else than a replacement at the end.
 *
 * @example
 * ```ts
 * import { outputModeFlags } from "./vocabulary.ts";
 * if (!outputModeFlags({ resumable: true }).resume) throw new Error();
 * ```
 */
export function outputModeFlags(
  opts: { resumable: boolean; force?: string },
): Record<string, FlagSpec> {
  return {
    force: {
      type: "boolean",
      help: opts.force ?? "replace an existing --out (once the new output is complete)",
    },
    ...(opts.resumable
      ? { resume: { type: "boolean", help: "continue an unfinished run with the same settings" } }
      : {}),
  };
}

/**
 * `-o/--out` with a command's own description.
 *
 * @example
 * ```ts
 * import { outFlag } from "./vocabulary.ts";
 * if (outFlag("plan JSON").out!.short !== "o") throw new Error();
 * ```
 */
export function outFlag(help: string): Record<string, FlagSpec> {
  return { out: { type: "string", short: "o", help } };
}
