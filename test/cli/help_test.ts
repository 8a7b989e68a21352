import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/main.ts";
import { COMMON_FLAGS, helpText } from "../../src/cli/command.ts";
import { SHORT_FLAGS } from "../../src/cli/vocabulary.ts";
import { runCli, splitCommandLine } from "./run_cli.ts";

Deno.test("every help page has Examples (1–3) and shows the defaults of its flags", () => {
  for (const cmd of COMMANDS) {
    const text = helpText(cmd);
    assert.match(text, /\nExamples:\n {2}quantlab /, cmd.name);
    const n = cmd.examples?.length ?? 0;
    assert.ok(n >= 1 && n <= 3, `${cmd.name} has ${n} examples`);
    for (const e of cmd.examples!) assert.ok(e.startsWith(`quantlab ${cmd.name}`), e);
    for (const [name, f] of Object.entries(cmd.flags)) {
      if (f.default !== undefined && f.default !== false) {
        assert.ok(text.includes(`(default ${f.default})`), `${cmd.name} --${name}`);
      }
    }
  }
  const q = helpText(COMMANDS.find((c) => c.name === "quantize")!);
  for (const flag of ["bits", "group", "iters", "p", "hadamard"]) {
    const line = q.split("\n").find((l) => l.includes(`--${flag} VALUE`))!;
    assert.match(line, /default/, `quantize --${flag} shows its default`);
  }
});

Deno.test("the option tables: one meaning per short flag, --help everywhere, shared names", async () => {
  const meaning = new Map<string, string>();
  const singleLetterLongs = new Set<string>();
  for (const cmd of COMMANDS) {
    for (const name of Object.keys(cmd.flags)) if (name.length === 1) singleLetterLongs.add(name);
  }
  for (const cmd of COMMANDS) {
    const all = { ...COMMON_FLAGS, ...cmd.flags };
    assert.ok("help" in all, `${cmd.name} lacks --help`);
    const seen = new Set<string>();
    for (const [name, f] of Object.entries(all)) {
      // The shared vocabulary: these names always have the same short (or none).
      if (name in Object.fromEntries(Object.entries(SHORT_FLAGS).map(([s, l]) => [l, s]))) {
        assert.equal(f.short, Object.entries(SHORT_FLAGS).find(([, l]) => l === name)![0], name);
      }
      if (!f.short) continue;
      assert.ok(!seen.has(f.short), `${cmd.name}: -${f.short} is used twice`);
      seen.add(f.short);
      const prev = meaning.get(f.short);
      assert.ok(
        prev === undefined || prev === name,
        `-${f.short} means --${prev} in one command and --${name} in ${cmd.name}`,
      );
      meaning.set(f.short, name);
      assert.ok(!singleLetterLongs.has(f.short), `-${f.short} would read as --${f.short}`);
      assert.equal(SHORT_FLAGS[f.short], name, `-${f.short} is not in the documented vocabulary`);
    }
    for (const [alias, target] of Object.entries(cmd.aliases ?? {})) {
      assert.ok(target in all, `${cmd.name}: alias ${alias} → --${target}, which it lacks`);
    }
    const r = await runCli([cmd.name, "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /--help/);
  }
  for (const name of ["ppl", "sensitivity", "linearity", "demo"]) {
    assert.ok("windows" in COMMANDS.find((c) => c.name === name)!.flags, `${name} --windows`);
  }
  for (const name of ["quantize", "error", "ppl", "generate", "info", "grids"]) {
    assert.ok("json" in COMMANDS.find((c) => c.name === name)!.flags, `${name} --json`);
  }
});

Deno.test("splitCommandLine() keeps double-quoted words together", () => {
  assert.deepEqual(splitCommandLine('quantlab generate m --prompt "The jury" -q'), [
    "quantlab",
    "generate",
    "m",
    "--prompt",
    "The jury",
    "-q",
  ]);
});
