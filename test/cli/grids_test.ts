import assert from "node:assert/strict";
import { parseCommandArgs, UsageError } from "../../src/cli/command.ts";
import { gridsCommand } from "../../src/cli/commands/grids.ts";

async function run(argv: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await gridsCommand.run(parseCommandArgs(gridsCommand.flags, argv));
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

Deno.test("grids list prints every shipped grid with its target", async () => {
  const out = await run(["list"]);
  assert.match(out, /\n\s+2\s+256\s+4\.000/);
  assert.match(out, /target 0\.007752/);
});

Deno.test("grids mse re-estimates a shipped grid with a standard error", async () => {
  const out = await run(["mse", "--p", "2", "--n", "16", "--samples", "100000", "--seed", "9"]);
  assert.match(out, /\(2, 16\) mse 0\.10\d+ ± /);
});

Deno.test("grids build writes a grid file and an index", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await run(["build", "--p", "1", "--n", "5", "--out", dir, "--backend", "cpu"]);
    const g = JSON.parse(await Deno.readTextFile(`${dir}/p1_n5.json`));
    assert.equal(g.points.length, 5);
    const index = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
    assert.equal(index.grids[0].n, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("grids rejects bad subcommands and flags with usage errors", async () => {
  await assert.rejects(() => run(["nope"]), UsageError);
  await assert.rejects(() => run(["build"]), /--p P --n N/);
  await assert.rejects(() => run(["mse", "--p", "2", "--n", "1"]), /--n 1 is not valid/);
  await assert.rejects(
    () => run(["mse", "--p", "9", "--n", "5"]),
    /No precomputed grid for \(p, n\) = \(9, 5\)/,
  );
});
