import assert from "node:assert/strict";
import { generateCommand } from "../../src/cli/commands/generate.ts";
import { pplCommand } from "../../src/cli/commands/ppl.ts";
import { type Command, parseCommandArgs, UsageError } from "../../src/cli/command.ts";
import { lutNumerics, setLutNumerics } from "../../src/lut/cpu.ts";

const CASES: [Command, string[]][] = [
  [pplCommand, ["--text", "/nonexistent/text.txt"]],
  [generateCommand, ["--prompt", "hi"]],
];

Deno.test("ppl and generate: --kernel selects the LUT numerics and rejects other values", async () => {
  for (const [cmd, rest] of CASES) {
    const run = (kernel: string): Promise<void> =>
      cmd.run(parseCommandArgs(cmd.flags, ["/nonexistent/model", ...rest, "--kernel", kernel]));
    await assert.rejects(run("bogus"), UsageError, cmd.name);
    try {
      // The model folder does not exist: the command fails after setting the numerics.
      await assert.rejects(run("fast"));
      assert.equal(lutNumerics(), "fast", cmd.name);
    } finally {
      setLutNumerics("exact");
    }
  }
});
