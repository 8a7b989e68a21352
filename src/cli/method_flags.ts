/**
 * Quantization flags in the user's words: which flags a method ignores (a warning, never
 * silent), and method-option errors from the quantizers (which name option keys such as
 * `doubleQuant`) turned into the flags that set them (`--double-quant`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { ParsedArgs } from "./command.ts";
import { UsageError } from "./command.ts";

/** Flags only HIGGS reads; other methods ignore them. */
const HIGGS_ONLY = ["p", "n", "hadamard", "seed"] as const;

/** The flag that sets each method option key. */
const FLAG_OF: Readonly<Record<string, string>> = {
  tableDtype: "--table-dtype",
  scaleRule: "--scale-rule",
  roundZero: "--round-zero",
  iters: "--iters",
  symmetric: "--symmetric",
  clipSearch: "--clip-search",
  doubleQuant: "--double-quant",
};

/**
 * The flag spelling of a method option key: its own flag, else `--extra KEY=…`.
 *
 * @example
 * ```ts
 * import { flagOf } from "./method_flags.ts";
 * if (flagOf("doubleQuant") !== "--double-quant" || flagOf("beta") !== "--extra beta=…") {
 *   throw new Error();
 * }
 * ```
 */
export function flagOf(key: string): string {
  return FLAG_OF[key] ?? `--extra ${key}=…`;
}

/**
 * One warning line per given flag that `method` ignores (`--p`/`--hadamard` with NF4, …).
 *
 * @example
 * ```ts
 * import { ignoredFlagWarnings } from "./method_flags.ts";
 * const w = ignoredFlagWarnings({ values: { p: "3" }, positionals: [] }, "nf4");
 * if (w.length !== 1 || !w[0]!.startsWith("--p is ignored by --method nf4")) throw new Error();
 * ```
 */
export function ignoredFlagWarnings(args: ParsedArgs, method: string): string[] {
  if (method === "higgs") return [];
  return HIGGS_ONLY.filter((f) => args.values[f] !== undefined).map((f) =>
    `--${f} is ignored by --method ${method} (it applies to --method higgs only)`
  );
}

/**
 * A quantizer's "Option "doubleQuant" is not valid for hqq" error, restated with flags; other
 * errors are returned as they are.
 *
 * @example
 * ```ts
 * import { userWordsMethodError } from "./method_flags.ts";
 * import { QuantlabError } from "../core/errors.ts";
 * const e = userWordsMethodError(new QuantlabError("bad-argument",
 *   'Option "symmetric" is not valid for nf4; use doubleQuant, doubleQuantGroup'));
 * if (e.message !== "--symmetric does not apply to --method nf4; its options are " +
 *   "--double-quant, --extra doubleQuantGroup=…") throw new Error(e.message);
 * ```
 */
export function userWordsMethodError<T>(e: T): T | UsageError {
  if (!(e instanceof QuantlabError)) return e;
  const m = /^Option "(\w+)" is not valid for (\w+); use (.*)$/.exec(e.message);
  if (!m) return e;
  const valid = m[3]!.split(", ").filter((k) => k !== "").map(flagOf);
  return new UsageError(
    `${flagOf(m[1]!)} does not apply to --method ${m[2]}; ` +
      (valid.length > 0 ? `its options are ${valid.join(", ")}` : "it takes no options"),
  );
}
