import assert from "node:assert/strict";
import { COMMANDS, main } from "../../src/cli/main.ts";
import { helpText, parseCommandArgs } from "../../src/cli/command.ts";

async function capture(
  fn: () => Promise<number>,
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("every command has --help with its flags and the common ones", async () => {
  for (const cmd of COMMANDS) {
    const r = await capture(() => main([cmd.name, "--help"]));
    assert.equal(r.code, 0, cmd.name);
    assert.match(r.out, /Usage: quantlab/);
    assert.match(r.out, /--backend/);
    for (const flag of Object.keys(cmd.flags)) assert.match(r.out, new RegExp(`--${flag}`));
    assert.equal(helpText(cmd), r.out);
  }
});

Deno.test("an unknown command prints one line naming it and exits 2", async () => {
  const r = await capture(() => main(["frobnicate"]));
  assert.equal(r.code, 2);
  assert.match(r.err, /Unknown command "frobnicate"; use one of demo/);
  assert.equal(r.err.split("\n").length, 1);
});

Deno.test("an unknown flag or a bad value prints one line without a stack trace and exits 2", async () => {
  const a = await capture(() => main(["demo", "--nope"]));
  assert.equal(a.code, 2);
  assert.match(a.err, /nope/);
  assert.equal(a.err.split("\n").length, 1);
  const b = await capture(() => main(["demo", "--rows", "zero"]));
  assert.equal(b.code, 2);
  assert.match(b.err, /--rows zero is not valid; use an integer from 1 to 65536/);
  const c = await capture(() => main(["info", "--backend", "cuda"]));
  assert.equal(c.code, 2);
  assert.match(c.err, /--backend cuda is not valid; use one of auto, cpu, webgpu/);
});

Deno.test("quantlab with no command prints the command list", async () => {
  const r = await capture(() => main([]));
  assert.equal(r.code, 2);
  for (const cmd of COMMANDS) assert.match(r.out, new RegExp(`\\b${cmd.name}\\b`));
});

Deno.test("parseCommandArgs() applies defaults and keeps positionals", () => {
  const a = parseCommandArgs({ n: { type: "string", default: "3", help: "" } }, ["pos"]);
  assert.equal(a.values.n, "3");
  assert.equal(a.values.backend, "auto");
  assert.deepEqual(a.positionals, ["pos"]);
});

Deno.test("quantlab demo prints the matrix table and the tiny model's perplexity table", async () => {
  const r = await capture(() => main(["demo", "--rows", "16", "--cols", "256", "--windows", "2"]));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /method\s+bits\/weight\s+rel\. error t²/);
  for (const m of ["higgs \\(2,256\\)", "nf4 g64", "hqq int4 g64", "rtn int4 g64", "af4", "fp4"]) {
    assert.match(r.out, new RegExp(m));
  }
  assert.match(r.out, /method\s+bits\/weight\s+perplexity\s+Δ vs dense \(paired\)/);
  assert.match(r.out, /dense \(f32 compute, bf16 weights\)\s+16\.000\s+[\d.]+ ± [\d.]+/);
  assert.match(r.out, /higgs \(2,256\) h256\s+4\.\d+\s+[\d.]+ ± [\d.]+\s+-?[\d.]+ ± [\d.]+/);
});

Deno.test("commands that cannot use WebGPU refuse --backend webgpu in one line, exit 2", async () => {
  const cpuOnly = COMMANDS.filter((c) => c.cpuOnly !== undefined).map((c) => c.name).sort();
  for (const name of ["dequantize", "error", "train"]) assert.ok(cpuOnly.includes(name), name);
  for (const name of cpuOnly) {
    const r = await capture(() => main([name, "--backend", "webgpu"]));
    assert.equal(r.code, 2, name);
    assert.match(r.err, new RegExp(`^quantlab ${name}: This command .*; use --backend cpu$`));
  }
});
