/**
 * The shape of a CLI command: one file per command under `src/cli/commands/`, registered in
 * `src/cli/main.ts`. Flags are parsed by `parse_args.ts` (negative numbers are values; an unknown
 * option gets a "did you mean"); a {@linkcode UsageError} (or a `bad-argument` QuantlabError)
 * prints one line and exits with code 2.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { tokenizeArgs } from "./parse_args.ts";
import { type Backend, BACKEND_CHOICES, selectBackend } from "../gpu/backend.ts";
import { type OutputMode, type OutputPath, refuseExistingOutputs } from "../io/output_guard.ts";

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
  /** Flags; `--help`, `--debug`, `--backend` and `--quiet` are added for every command. */
  flags: Record<string, FlagSpec>;
  /**
   * Extra spellings that still work but are not shown in help (`"-p": "prompt"` keeps an old
   * short), by spelling as typed.
   */
  aliases?: Record<string, string>;
  /** Subcommands (the first positional) with one line each, for commands such as `grids`. */
  subcommands?: Record<string, string>;
  /**
   * 1–3 command lines shown under "Examples:" in `--help`, each runnable on the embedded model
   * `assets/tiny-llama` (a test runs them; outputs go under `/tmp/ql-`).
   */
  examples?: readonly string[];
  /**
   * Set when the command cannot use WebGPU: why, completing "This command …" (e.g. "decodes on
   * the CPU only"). `--backend webgpu` is then refused with that line (exit 2).
   */
  cpuOnly?: string;
  /**
   * The files and folders the command line names as inputs, each with how to call it (`MODEL`,
   * `--text`); `main` checks that each exists before running, so a mistyped path is a usage
   * error (exit 2) rather than a failure halfway. Undefined entries (an absent optional flag) are
   * skipped.
   */
  inputs?(args: ParsedArgs): ({ path: string | undefined; what: string })[];
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
  quiet: { type: "boolean", short: "q", help: "no progress bar or notes (warnings still print)" },
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
export function parseCommandArgs(
  flags: Record<string, FlagSpec>,
  argv: string[],
  aliases: Record<string, string> = {},
): ParsedArgs {
  const all = { ...COMMON_FLAGS, ...flags };
  let raw;
  try {
    raw = tokenizeArgs(all, argv, aliases);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const out: ParsedArgs["values"] = {};
  for (const [name, f] of Object.entries(all)) out[name] = raw.values[name] ?? f.default;
  return { values: out, positionals: raw.positionals };
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
  const lines = [`${cmd.summary}`, "", `Usage: ${cmd.usage}`];
  if (cmd.subcommands) {
    lines.push("", "Subcommands:");
    for (const [name, help] of Object.entries(cmd.subcommands)) {
      lines.push(`  ${name.padEnd(26)} ${help}`);
    }
  }
  lines.push("", "Options:");
  for (const [name, f] of Object.entries({ ...cmd.flags, ...COMMON_FLAGS })) {
    const flag = `${f.short ? `-${f.short}, ` : "    "}--${name}${
      f.type === "string" ? " VALUE" : ""
    }`;
    const def = f.default !== undefined && f.default !== false ? ` (default ${f.default})` : "";
    lines.push(`  ${flag.padEnd(26)} ${f.help}${def}`);
  }
  if (cmd.examples && cmd.examples.length > 0) {
    lines.push("", "Examples:", ...cmd.examples.map((e) => `  ${e}`));
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

/**
 * The output mode of `--force` / `--resume` (neither: "new"); both at once is a usage error.
 *
 * @example
 * ```ts
 * import { outputMode } from "./command.ts";
 * if (outputMode({ values: { force: true }, positionals: [] }) !== "force") throw new Error();
 * ```
 */
export function outputMode(args: ParsedArgs): OutputMode {
  const force = Boolean(args.values.force), resume = Boolean(args.values.resume);
  if (force && resume) {
    throw new UsageError(
      "--force and --resume contradict each other: --force starts over, --resume continues; give one",
    );
  }
  return force ? "force" : resume ? "resume" : "new";
}

/**
 * Readies a results file `out` and its resume log `log` for a run: without `--force` or
 * `--resume` both must be absent (exit 2 naming the flags); `--force` removes the log so the run
 * starts over (the results file is replaced atomically when the run ends); `--resume` keeps the
 * log, whose header the job checks against the run's settings. `own` are further files of this
 * run (a shard's results file, beside a shared `out`): refused like the log, removed by `--force`.
 *
 * @example
 * ```ts
 * import { prepareResultsOutput } from "./command.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/r.json.log`, "{}\n");
 * const args = { values: { force: true }, positionals: [] };
 * await prepareResultsOutput(args, `${dir}/r.json`, `${dir}/r.json.log`);
 * const left = [...Deno.readDirSync(dir)].length;
 * await Deno.remove(dir, { recursive: true });
 * if (left !== 0) throw new Error();
 * ```
 */
export async function prepareResultsOutput(
  args: ParsedArgs,
  out: string | undefined,
  log: string | undefined,
  own: readonly OutputPath[] = [],
): Promise<OutputMode> {
  const mode = outputMode(args);
  const startOver = [...(log ? [{ path: log, what: "the resume log" }] : []), ...own];
  await refuseExistingOutputs(
    [...(out ? [{ path: out, what: "--out" }] : []), ...startOver],
    mode,
    { resumable: true },
  );
  if (mode !== "force") return mode;
  for (const { path, what } of startOver) {
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new QuantlabError(
          "bad-file",
          `Cannot remove ${what} ${path}: ${(e as Error).message}`,
        );
      }
    });
  }
  return mode;
}

/**
 * Checks that every input path of a command line exists ({@linkcode Command.inputs}); a missing
 * one is a {@linkcode UsageError} naming it (exit 2).
 *
 * @example
 * ```ts
 * import { checkInputs } from "./command.ts";
 * const cmd = { name: "x", summary: "", usage: "", flags: {}, run: async () => {},
 *   inputs: () => [{ path: "/no/such/model", what: "MODEL" }] };
 * const msg = await checkInputs(cmd, { values: {}, positionals: [] }).catch((e) => e.message);
 * if (!msg.startsWith('MODEL "/no/such/model" does not exist')) throw new Error(msg);
 * ```
 */
export async function checkInputs(cmd: Command, args: ParsedArgs): Promise<void> {
  for (const { path, what } of cmd.inputs?.(args) ?? []) {
    if (path === undefined) continue;
    try {
      await Deno.stat(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`${what} ${JSON.stringify(path)} does not exist; check the path`);
      }
      // Anything else (a permission, a loop of links) is reported by the command itself.
    }
  }
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
