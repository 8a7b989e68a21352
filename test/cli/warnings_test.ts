import assert from "node:assert/strict";
import { runCli } from "./run_cli.ts";

const MODEL = "assets/tiny-llama";
const ONE = ["--tensor", "model.layers.0.mlp.up_proj.weight"];

Deno.test("quantize warns about flags the method ignores and a tied lm_head, one line each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-warn-" });
  try {
    const r = await runCli([
      "quantize",
      MODEL,
      "-o",
      `${dir}/q`,
      "--method",
      "nf4",
      "--p",
      "3",
      "--hadamard",
      "256",
      "--include-lm-head",
      ...ONE,
      "-q",
    ]);
    assert.equal(r.code, 0, r.err);
    const lines = r.err.split("\n");
    assert.ok(
      lines.includes(
        "quantlab quantize: warning: --p is ignored by --method nf4 (it applies to --method higgs only)",
      ),
    );
    assert.ok(lines.some((l) => /warning: --hadamard is ignored by --method nf4/.test(l)));
    assert.ok(
      lines.some((l) => /warning: --include-lm-head is ignored: the model ties lm_head/.test(l)),
    );
    const s = await runCli([
      "quantize",
      MODEL,
      "-o",
      `${dir}/s`,
      "--method",
      "nf4",
      "--symmetric",
      ...ONE,
      "-q",
    ]);
    assert.equal(s.code, 2);
    assert.equal(
      s.err,
      "quantlab quantize: --symmetric does not apply to --method nf4; its options are " +
        "--double-quant, --extra doubleQuantGroup=…",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ppl warns about a binary text and a --ctx beyond the model; too few tokens is an error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-warn-" });
  try {
    const bin = new Uint8Array(400).map((_, i) => (i * 37) % 256);
    await Deno.writeFile(`${dir}/bin.txt`, bin);
    const r = await runCli([
      "ppl",
      MODEL,
      "-t",
      `${dir}/bin.txt`,
      "--max-tokens",
      "40",
      "--ctx",
      "8192",
      "-q",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: .*bin\.txt is not valid UTF-8/);
    assert.match(r.err, /warning: .*bin\.txt is mostly not text: \d+% of its characters/);
    assert.match(r.err, /warning: --ctx 8192 is beyond the model's context length 4096/);
    await Deno.writeTextFile(`${dir}/empty.txt`, "");
    const e = await runCli(["ppl", MODEL, "-t", `${dir}/empty.txt`]);
    assert.equal(e.code, 2);
    assert.match(e.err, /warning: .*empty\.txt is empty/);
    assert.match(
      e.err,
      /empty\.txt gives [01] tokens?; perplexity needs at least 2: give a longer text/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate warns that --max-tokens 0 generates nothing", async () => {
  const r = await runCli(["generate", MODEL, "--prompt", "It", "--max-tokens", "0"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: --max-tokens 0: nothing will be generated/);
  assert.match(r.err, /0 tokens, stopped at --max-tokens 0/);
});
