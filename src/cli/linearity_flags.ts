/**
 * Flags shared by the linearity-model commands (`sensitivity`, `allocate`, `linearity`): where
 * the metric is measured (a text for perplexity, or random tokens for KL) and which HIGGS grids
 * are on offer.
 *
 * @module
 */
import { type FlagSpec, type ParsedArgs, UsageError } from "./command.ts";

/** `--text`/`--random`, `--ctx`, `--windows` (its default differs per command). */
export function windowFlags(
  windows: string,
  help: { text: string; random: string },
): Record<string, FlagSpec> {
  return {
    text: { type: "string", short: "t", help: help.text },
    random: { type: "boolean", help: help.random },
    ctx: { type: "string", default: "256", help: "tokens per window" },
    windows: { type: "string", default: windows, help: "number of windows" },
  };
}

/** `--grids`, `--hadamard`, `--scale-rule`. */
export const HIGGS_GRID_FLAGS: Record<string, FlagSpec> = {
  grids: {
    type: "string",
    default: "2:16,2:64,2:256,2:4096",
    help: "HIGGS grids p:n to choose from (shipped grids)",
  },
  hadamard: { type: "string", default: "1024", help: "Hadamard block (one f16 scale each)" },
  "scale-rule": {
    type: "string",
    default: "rms",
    help: "HIGGS scales: rms (the paper's) | unbiased (error orthogonal to W; t²/(1 − t²))",
  },
};

/**
 * The text path of `--text`, or null for `--random`; exactly one must be given.
 *
 * @example
 * ```ts
 * import { metricText } from "./linearity_flags.ts";
 * if (metricText({ values: { random: true }, positionals: [] }) !== null) throw new Error();
 * ```
 */
export function metricText(args: ParsedArgs): string | null {
  const text = args.values.text;
  const random = Boolean(args.values.random);
  if ((typeof text === "string") === random) {
    throw new UsageError("Give exactly one of --text FILE (perplexity) or --random (KL)");
  }
  return random ? null : text as string;
}
