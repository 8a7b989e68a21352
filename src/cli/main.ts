/**
 * The `quantlab` command line: `quantlab <command> [options]`. What the user fixes by changing
 * the command — a bad flag or value, an input path that does not exist (`Command.inputs`, checked
 * before the command runs), an unsupported option, an existing `--out` — prints one line and exits
 * 2 (a `UsageError` or a `bad-argument` QuantlabError); bad file contents and internal failures
 * print one line and exit 1. `--debug` adds the stack trace.
 *
 * @module
 */
import {
  checkInputs,
  type Command,
  commandBackend,
  helpText,
  parseCommandArgs,
  UsageError,
} from "./command.ts";
import { didYouMean } from "./suggest.ts";
import { versionText } from "./version.ts";
import { errorLine } from "./error_words.ts";
import { QuantlabError } from "../core/errors.ts";
import { demoCommand } from "./commands/demo.ts";
import { infoCommand } from "./commands/info.ts";
import { gridsCommand } from "./commands/grids.ts";
import { generateCommand } from "./commands/generate.ts";
import { pplCommand } from "./commands/ppl.ts";
import { quantizeCommand } from "./commands/quantize.ts";
import { dequantizeCommand } from "./commands/dequantize.ts";
import { errorCommand } from "./commands/error.ts";
import { sensitivityCommand } from "./commands/sensitivity.ts";
import { allocateCommand } from "./commands/allocate.ts";
import { linearityCommand } from "./commands/linearity.ts";
import { trainCommand } from "./commands/train.ts";
import { mergeCommand } from "./commands/merge.ts";

/** Every registered command, in the order `quantlab --help` lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  infoCommand,
  quantizeCommand,
  dequantizeCommand,
  errorCommand,
  gridsCommand,
  generateCommand,
  pplCommand,
  sensitivityCommand,
  allocateCommand,
  linearityCommand,
  mergeCommand,
  trainCommand,
];

function usage(): string {
  const lines = [
    "quantlab: data-free LLM weight quantization (HIGGS, HQQ, NF4, RTN) on WebGPU and CPU",
    "",
    "Usage: quantlab <command> [options]     (quantlab help <command> for its options)",
    "       quantlab --version",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    `  ${"test".padEnd(12)} run the test suite (launcher only)`,
    `  ${"bench".padEnd(12)} run the benchmarks (launcher only)`,
  ];
  return lines.join("\n");
}

/** Checks the subcommand of a command that has them; a usage error names the valid ones. */
function checkSubcommand(cmd: Command, positionals: readonly string[]): void {
  if (!cmd.subcommands) return;
  const names = Object.keys(cmd.subcommands);
  const sub = positionals[0];
  const list = names.map((n) => `${n} (${cmd.subcommands![n]})`).join(", ");
  if (sub === undefined) {
    throw new UsageError(`Expected a subcommand: ${list}`);
  }
  if (!names.includes(sub)) {
    throw new UsageError(
      `Unknown ${cmd.name} subcommand "${sub}"` +
        didYouMean(sub, names, (s) => s, `; use one of ${names.join(", ")}`),
    );
  }
}

/**
 * Runs the CLI on `argv` and returns the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const log = console.log;
 * console.log = () => {};
 * const code = await main(["--version"]);
 * console.log = log;
 * if (code !== 0) throw new Error();
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  let [name, ...rest] = argv;
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(await versionText());
    return 0;
  }
  if (name === "help" && rest.length > 0) {
    // quantlab help CMD [SUB] ≡ quantlab CMD --help
    [name, ...rest] = [rest[0]!, "--help"];
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd) {
      const names = COMMANDS.map((c) => c.name);
      throw new UsageError(
        `Unknown command "${name}"` +
          didYouMean(name, names, (s) => s, `; use one of ${names.join(", ")}`),
      );
    }
    const args = parseCommandArgs(cmd.flags, rest, cmd.aliases);
    if (args.values.help) {
      console.log(helpText(cmd));
      return 0;
    }
    checkSubcommand(cmd, args.positionals);
    await checkInputs(cmd, args);
    await commandBackend(cmd, args);
    await cmd.run(args);
    return 0;
  } catch (e) {
    const bad = e instanceof UsageError ||
      (e instanceof QuantlabError && e.code === "bad-argument");
    // One line, always: a message that spans lines is joined.
    const msg = errorLine(e).replace(/\s*\n\s*/g, " ");
    console.error(`quantlab${cmd ? ` ${cmd.name}` : ""}: ${msg}`);
    if (debug && e instanceof Error && e.stack) console.error(e.stack);
    return bad ? 2 : 1;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  // Workers and GPU devices may keep the event loop alive; the CLI is done.
  Deno.exit(code);
}
