/**
 * The one line an error prints, in the user's words: Deno's permission errors ("Requires read
 * access to …, run again with the --allow-all flag") lose the Deno flag hint, which a user of the
 * `./quantlab` launcher cannot act on, and say what to do instead.
 *
 * @module
 */

const DENO_HINT =
  /,? (?:run again|specify the required permissions)[^.]*? with the --allow-[\w-]+ flag\.?/;

/**
 * The message printed for error `e`.
 *
 * @example
 * ```ts
 * import { errorLine } from "./error_words.ts";
 * const e = new Deno.errors.NotCapable(
 *   'Requires run access to "git", run again with the --allow-run flag');
 * if (errorLine(e).includes("--allow")) throw new Error(errorLine(e));
 * ```
 */
export function errorLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const denied = e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
  if (!denied && !DENO_HINT.test(msg)) return msg;
  const what = msg.replace(DENO_HINT, "").replace(/^Requires /, "needs ");
  return `quantlab was not allowed to do this: it ${what}; the ./quantlab launcher grants ` +
    "file, environment and FFI access only, so please report the command that led here";
}
