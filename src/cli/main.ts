/**
 * The `quantlab` command line: `quantlab <command> [options]`. Bad arguments print one line and
 * exit 2; other failures print one line and exit 1 (`--debug` adds the stack trace).
 *
 * @module
 */
import { type Command, commandBackend, helpText, parseCommandArgs, UsageError } from "./command.ts";
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
  trainCommand,
];

function usage(): string {
  const lines = [
    "quantlab: data-free LLM weight quantization (HIGGS, HQQ, NF4, RTN) on WebGPU and CPU",
    "",
    "Usage: quantlab <command> [options]     (quantlab <command> --help for its options)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    `  ${"test".padEnd(12)} run the test suite (launcher only)`,
    `  ${"bench".padEnd(12)} run the benchmarks (launcher only)`,
  ];
  return lines.join("\n");
}

/** Runs the CLI on `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd) {
      throw new UsageError(
        `Unknown command "${name}"; use one of ${COMMANDS.map((c) => c.name).join(", ")}`,
      );
    }
    const args = parseCommandArgs(cmd.flags, rest);
    if (args.values.help) {
      console.log(helpText(cmd));
      return 0;
    }
    await commandBackend(cmd, args);
    await cmd.run(args);
    return 0;
  } catch (e) {
    const bad = e instanceof UsageError ||
      (e instanceof QuantlabError && e.code === "bad-argument");
    const msg = e instanceof Error ? e.message : String(e);
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
