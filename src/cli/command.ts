/**
 * The shape of a CLI command: one file per command under `src/cli/commands/`, registered in
 * `src/cli/main.ts`. Flags are parsed with `node:util` `parseArgs`; a {@linkcode UsageError} (or a
 * `bad-argument` QuantlabError) prints one line and exits with code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { QuantlabError } from "../core/errors.ts";
import { type Backend, BACKEND_CHOICES, selectBackend } from "../gpu/backend.ts";

/** One flag of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** One line for `--help`. */
  help: string;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** A CLI command. */
export interface Command {
  /** The word after `quantlab`, e.g. `demo` or `grids`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage line(s) shown by `--help`, e.g. `quantlab demo [--rows N]`. */
  usage: string;
  /** Flags; `--help`, `--debug` and `--backend` are added for every command. */
  flags: Record<string, FlagSpec>;
  /**
   * Set when the command cannot use WebGPU: why, completing "This command …" (e.g. "decodes on
   * the CPU only"). `--backend webgpu` is then refused with that line (exit 2).
   */
  cpuOnly?: string;
  /** Runs the command (its backend: {@linkcode commandBackend}). */
  run(args: ParsedArgs): Promise<void>;
}

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends QuantlabError {
  /** Creates a usage error with a message naming the value and what would be valid. */
  constructor(message: string) {
    super("bad-argument", message);
    this.name = "UsageError";
  }
}

/** Flags every command accepts. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { type: "boolean", short: "h", help: "show this help" },
  debug: { type: "boolean", help: "print stack traces on errors" },
  backend: { type: "string", default: "auto", help: "auto | cpu | webgpu" },
};

/**
 * Parses `argv` against a command's flags; unknown flags become a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseCommandArgs } from "./command.ts";
 * const a = parseCommandArgs({ n: { type: "string", help: "n" } }, ["--n", "5", "x"]);
 * if (a.values.n !== "5" || a.positionals[0] !== "x") throw new Error("unexpected");
 * ```
 */
export function parseCommandArgs(flags: Record<string, FlagSpec>, argv: string[]): ParsedArgs {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, f] of Object.entries({ ...COMMON_FLAGS, ...flags })) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
    if (f.multiple) options[name]!.multiple = true;
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
    const out: ParsedArgs["values"] = {};
    for (const [name, f] of Object.entries({ ...COMMON_FLAGS, ...flags })) {
      out[name] = (values as Record<string, string | boolean | string[] | undefined>)[name] ??
        f.default;
    }
    return { values: out, positionals };
  } catch (e) {
    // parseArgs messages already name the flag; keep only their first sentence.
    throw new UsageError(String((e as Error).message).split("\n")[0]!);
  }
}

/**
 * Reads an integer flag in [min, max], or throws a {@linkcode UsageError} naming the value.
 *
 * @example
 * ```ts
 * import { intFlag } from "./command.ts";
 * if (intFlag({ values: { n: "8" }, positionals: [] }, "n", 1, 1, 64) !== 8) throw new Error();
 * ```
 */
export function intFlag(
  args: ParsedArgs,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== "string" || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`--${name} ${raw} is not valid; use an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * Reads a number flag in [min, max], or throws a {@linkcode UsageError} naming the value.
 *
 * @example
 * ```ts
 * import { numberFlag } from "./command.ts";
 * if (numberFlag({ values: { t: "0.5" }, positionals: [] }, "t", 1, 0, 2) !== 0.5) throw new Error();
 * ```
 */
export function numberFlag(
  args: ParsedArgs,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`--${name} ${raw} is not valid; use a number from ${min} to ${max}`);
  }
  return v;
}

/**
 * Reads a string flag restricted to `choices`, or throws a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { choiceFlag } from "./command.ts";
 * const b = choiceFlag({ values: { backend: "cpu" }, positionals: [] }, "backend", ["auto", "cpu"]);
 * if (b !== "cpu") throw new Error();
 * ```
 */
export function choiceFlag<T extends string>(
  args: ParsedArgs,
  name: string,
  choices: readonly T[],
): T {
  const raw = args.values[name];
  if (typeof raw !== "string" || !(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} ${raw} is not valid; use one of ${choices.join(", ")}`);
  }
  return raw as T;
}

/**
 * The `--help` text of a command.
 *
 * @example
 * ```ts
 * import { helpText } from "./command.ts";
 * const cmd = { name: "x", summary: "Does x.", usage: "quantlab x", flags: {}, run: async () => {} };
 * if (!helpText(cmd).includes("--backend")) throw new Error();
 * ```
 */
export function helpText(cmd: Command): string {
  const lines = [`${cmd.summary}`, "", `Usage: ${cmd.usage}`, "", "Options:"];
  for (const [name, f] of Object.entries({ ...cmd.flags, ...COMMON_FLAGS })) {
    const flag = `${f.short ? `-${f.short}, ` : "    "}--${name}${
      f.type === "string" ? " VALUE" : ""
    }`;
    const def = f.default !== undefined && f.default !== false ? ` (default ${f.default})` : "";
    lines.push(`  ${flag.padEnd(26)} ${f.help}${def}`);
  }
  return lines.join("\n");
}

/**
 * The `--out` results path and the resume log beside it: `--log` when the command has one and it
 * is given, else `<out><suffix>` (none without `--out`).
 *
 * @example
 * ```ts
 * import { outAndLog } from "./command.ts";
 * const r = outAndLog({ values: { out: "r.json" }, positionals: [] }, ".rows.jsonl");
 * if (r.out !== "r.json" || r.log !== "r.json.rows.jsonl") throw new Error();
 * ```
 */
export function outAndLog(
  args: ParsedArgs,
  suffix: string,
): { out: string | undefined; log: string | undefined } {
  const out = typeof args.values.out === "string" ? args.values.out : undefined;
  const log = typeof args.values.log === "string"
    ? args.values.log
    : out
    ? `${out}${suffix}`
    : undefined;
  return { out, log };
}

const resolved = new WeakMap<ParsedArgs, Promise<Backend>>();

async function resolveBackend(cmd: Command, args: ParsedArgs): Promise<Backend> {
  const choice = choiceFlag(args, "backend", BACKEND_CHOICES);
  if (cmd.cpuOnly !== undefined) {
    if (choice === "webgpu") throw new UsageError(`This command ${cmd.cpuOnly}; use --backend cpu`);
    return { kind: "cpu" };
  }
  return await selectBackend(choice);
}

/**
 * The `Backend` of one command line: the one place where `--backend auto|cpu|webgpu` becomes a
 * CPU or WebGPU backend (`auto` picks WebGPU only for a real adapter). A command marked
 * {@linkcode Command.cpuOnly} gets the CPU and refuses `--backend webgpu` with a usage error.
 * Resolved once per parsed command line (`main` resolves it before running the command; the
 * command's own call returns the same value).
 *
 * @example
 * ```ts
 * import { commandBackend, parseCommandArgs } from "./command.ts";
 * const cmd = { name: "x", summary: "", usage: "", flags: {}, cpuOnly: "decodes on the CPU only",
 *   run: async () => {} };
 * const b = await commandBackend(cmd, parseCommandArgs({}, ["--backend", "auto"]));
 * if (b.kind !== "cpu") throw new Error();
 * const bad = commandBackend(cmd, parseCommandArgs({}, ["--backend", "webgpu"]));
 * if (!(await bad.catch((e) => e.message)).includes("use --backend cpu")) throw new Error();
 * ```
 */
export function commandBackend(cmd: Command, args: ParsedArgs): Promise<Backend> {
  let p = resolved.get(args);
  if (!p) {
    p = resolveBackend(cmd, args);
    resolved.set(args, p);
  }
  return p;
}
