/**
 * One-line warnings on stderr, `quantlab CMD: warning: …`: never silent, never on stdout (so a
 * `--json` object stays the only thing there). Tests swap {@linkcode warnings}`.sink`.
 *
 * @module
 */

/** Where warnings go (stderr; tests replace `sink`). */
export const warnings: { sink: (line: string) => void } = {
  sink: (line: string) => console.error(line),
};

/**
 * Prints one warning line for `command`.
 *
 * @example
 * ```ts
 * import { warn, warnings } from "./warn.ts";
 * const got: string[] = [];
 * const old = warnings.sink;
 * warnings.sink = (l) => got.push(l);
 * warn("ppl", "the text is empty");
 * warnings.sink = old;
 * if (got[0] !== "quantlab ppl: warning: the text is empty") throw new Error();
 * ```
 */
export function warn(command: string, message: string): void {
  warnings.sink(`quantlab ${command}: warning: ${message}`);
}

/**
 * Warns when `ctx` is beyond the model's `max_position_embeddings`.
 *
 * @example
 * ```ts
 * import { warnCtx, warnings } from "./warn.ts";
 * const got: string[] = [];
 * const old = warnings.sink;
 * warnings.sink = (l) => got.push(l);
 * warnCtx("ppl", 8192, 4096);
 * warnCtx("ppl", 512, 4096);
 * warnings.sink = old;
 * if (got.length !== 1 || !got[0]!.includes("--ctx 8192 is beyond")) throw new Error();
 * ```
 */
export function warnCtx(command: string, ctx: number, maxPositions: number): void {
  if (ctx <= maxPositions) return;
  warn(
    command,
    `--ctx ${ctx} is beyond the model's context length ${maxPositions} ` +
      "(max_position_embeddings); positions past it were never trained",
  );
}
