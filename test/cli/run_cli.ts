/**
 * Test helper: runs `quantlab ARGS` in-process and captures what it prints (stdout lines,
 * generated text, stderr lines).
 *
 * @module
 */
import { main } from "../../src/cli/main.ts";
import { generateOutput } from "../../src/cli/commands/generate.ts";

/** What one CLI run returned and printed. */
export interface CliRun {
  code: number;
  /** console.log output and generated text. */
  out: string;
  /** console.error output (warnings, notes, errors). */
  err: string;
}

/** Runs the CLI on `argv`, capturing its output. */
export async function runCli(argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log, error = console.error, write = generateOutput.write;
  console.log = (...a: unknown[]) => void out.push(a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  generateOutput.write = (s: string) => void out.push(s);
  try {
    const code = await main(argv);
    return { code, out: out.join(""), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    generateOutput.write = write;
  }
}

/**
 * Splits a command line as a shell would for the simple quoting the help examples use
 * (double-quoted words).
 */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2]!);
  return out;
}
