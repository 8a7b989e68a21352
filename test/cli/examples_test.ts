import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/main.ts";
import { runCli, splitCommandLine } from "./run_cli.ts";

// Commands whose examples make files other examples read run first.
const FIRST = ["quantize", "sensitivity"];

Deno.test("every example in the help pages runs on the embedded model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-examples-" });
  try {
    const order = [
      ...FIRST.map((n) => COMMANDS.find((c) => c.name === n)!),
      ...COMMANDS.filter((c) => !FIRST.includes(c.name)),
    ];
    for (const cmd of order) {
      for (const example of cmd.examples ?? []) {
        const argv = splitCommandLine(example.replaceAll("/tmp/ql-", `${dir}/ql-`));
        assert.equal(argv.shift(), "quantlab");
        // Quiet, so the test log holds no progress bars (the flag every command takes).
        if (!argv.includes("--help")) argv.push("-q");
        const r = await runCli(argv);
        assert.equal(r.code, 0, `${example}\n${r.err}`);
        assert.ok(r.out.length > 0, `${example} printed nothing`);
        if (argv.includes("--json")) JSON.parse(r.out);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
