/**
 * The `--json` output of a command: one object on stdout with a versioned shape,
 * `{"schema": "quantlab.<command>", "schemaVersion": 1, …}` (docs/cli.md documents each). Progress,
 * notes and warnings go to stderr, so `quantlab ppl … --json | jq .perplexity` works.
 *
 * @module
 */

/** The version of every `--json` shape; bumped when a field changes meaning or goes away. */
export const JSON_SCHEMA_VERSION = 1;

/**
 * The JSON object of `command`'s `--json` output, its schema fields first.
 *
 * @example
 * ```ts
 * import { jsonResult } from "./json_output.ts";
 * const o = jsonResult("ppl", { perplexity: 12.5 });
 * if (o.schema !== "quantlab.ppl" || o.schemaVersion !== 1) throw new Error();
 * ```
 */
export function jsonResult(
  command: string,
  body: Record<string, unknown>,
): Record<string, unknown> & { schema: string; schemaVersion: number } {
  return { schema: `quantlab.${command}`, schemaVersion: JSON_SCHEMA_VERSION, ...body };
}

/**
 * Prints `command`'s `--json` object on stdout (one object, indented).
 *
 * @example
 * ```ts
 * import { printJson } from "./json_output.ts";
 * const log = console.log;
 * let got = "";
 * console.log = (s: string) => { got = s; };
 * printJson("info", { a: 1 });
 * console.log = log;
 * if (JSON.parse(got).schema !== "quantlab.info") throw new Error();
 * ```
 */
export function printJson(command: string, body: Record<string, unknown>): void {
  console.log(JSON.stringify(jsonResult(command, body), null, 2));
}
