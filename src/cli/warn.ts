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
