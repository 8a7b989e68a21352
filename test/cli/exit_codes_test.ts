// Exit codes, as docs/cli.md states them: 2 for what the user fixes by changing the command (a
// bad flag, a missing path, an unsupported option, an existing --out), 1 for bad file contents
// and internal failures; always exactly one line on stderr and no stack trace. Each row runs the
// CLI in-process; a failing quantize also must leave nothing behind.
import assert from "node:assert/strict";
import { main } from "../../src/cli/main.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";

/** Runs the CLI, returning its exit code and its stderr lines. */
async function cli(argv: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(...a.join(" ").split("\n"));
  try {
    return { code: await main(argv), err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const weight = (seed: number, rows = 8, cols = 128): Tensor =>
  Tensor.f32([rows, cols], fillNormal(new Float32Array(rows * cols), seed));

/** Fixture files: good and bad inputs, one existing output. */
async function fixtures(dir: string) {
  const f = {
    good: `${dir}/good.safetensors`,
    quant: `${dir}/quant.safetensors`,
    nan: `${dir}/nan`,
    badConfig: `${dir}/bad-config`,
    noWeights: `${dir}/no-weights`,
    truncated: `${dir}/truncated.safetensors`,
    full: `${dir}/full`,
    existing: `${dir}/existing.safetensors`,
  };
  await writeSafetensors(f.good, { "layers.0.w": weight(1) });
  assert.equal((await cli(["quantize", f.good, "--out", f.quant, "-q"])).code, 0);
  const nan = weight(2);
  (nan.data as Float32Array)[300] = NaN;
  await Deno.mkdir(f.nan);
  await writeSafetensors(`${f.nan}/model.safetensors`, {
    "model.layers.0.mlp.up_proj.weight": nan,
  });
  await Deno.mkdir(f.badConfig);
  await writeSafetensors(`${f.badConfig}/model.safetensors`, { "layers.0.w": weight(3) });
  await Deno.writeTextFile(`${f.badConfig}/config.json`, '{"model_type": "llama",');
  await Deno.mkdir(f.noWeights);
  await writeSafetensors(`${f.noWeights}/model.safetensors`, { "norm.weight": Tensor.zeros([8]) });
  const bytes = await Deno.readFile(f.good);
  await Deno.writeFile(f.truncated, bytes.subarray(0, bytes.length - 100));
  await Deno.mkdir(f.full);
  await Deno.writeTextFile(`${f.full}/keep.txt`, "something of the user's");
  await Deno.writeFile(f.existing, bytes);
  return f;
}

Deno.test("bad command lines exit 2, bad files exit 1, each with one line and nothing left behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = await fixtures(dir);
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const out = `${dir}/out`;
    const rows: [string[], 1 | 2, RegExp][] = [
      [["quantise"], 2, /Unknown command "quantise"; did you mean quantize\?/],
      [["quantize"], 2, /Expected one input/],
      [["quantize", `${dir}/nope`, "--out", out], 2, /MODEL ".*nope" does not exist/],
      [["quantize", f.good, "--out", out, "--bits", "99"], 2, /--bits 99 is not valid/],
      [["quantize", f.good, "--out", out, "--plan", `${dir}/p.json`], 2, /--plan .* not exist/],
      [["quantize", f.good, "--out", f.full], 2, /already exists .*--force.*--resume/],
      [["quantize", f.good, "--out", out, "--force", "--resume"], 2, /contradict/],
      // Shapes against the method are checked before the first tensor.
      [
        ["quantize", f.good, "--out", out, "--method", "rtn", "--group", "100"],
        2,
        /group size 100 does not divide its 128 columns/,
      ],
      [["quantize", f.good, "--out", out, "--axis", "0"], 2, /HIGGS along axis 0/],
      [["quantize", f.good, "--out", dir], 2, /holds .*good\.safetensors.*its own input/],
      [["dequantize", f.quant, "--out", f.quant], 2, /is a file of the input checkpoint/],
      [["dequantize", f.quant, "--out", f.existing], 2, /already exists; add --force/],
      [["dequantize", f.quant, "-o", `${out}.safetensors`, "--backend", "webgpu"], 2, /CPU/],
      [["error", f.good, `${dir}/nope`], 2, /QUANT ".*nope" does not exist/],
      // Every command that writes --out refuses an existing one (before any work).
      [["train", "--out", f.full], 2, /already exists and is not empty; add --force .*--resume/],
      [["allocate", f.existing, "--budget", "3", "--out", f.full], 2, /--out .* add --force/],
      [
        ["ppl", "assets/tiny-llama", "-t", "brown:test", "--out", f.existing],
        2,
        /--out .*existing\.safetensors" already exists; add --force .* or --resume/,
      ],
      [["ppl", `${dir}/nope`, "--text", "brown:test"], 2, /MODEL .* does not exist/],
      [["ppl", "assets/tiny-llama", "--text", `${dir}/t.txt`], 2, /--text .* does not exist/],
      [["info", `${dir}/nope`], 2, /MODEL .* does not exist/],
      [["quantize", f.nan, "--out", out], 1, /holds NaN at index 300 \(row 2, column 44\)/],
      [["quantize", f.badConfig, "--out", out], 1, /config\.json" is not valid JSON/],
      [["quantize", f.noWeights, "--out", out], 1, /holds no tensor to quantize/],
      [["quantize", f.truncated, "--out", out], 1, /truncated\.safetensors/],
      [["info", f.truncated], 1, /truncated\.safetensors/],
    ];
    for (const [argv, code, want] of rows) {
      const r = await cli([...argv, "-q"]);
      const what = argv.join(" ").replaceAll(dir, "DIR");
      assert.equal(r.code, code, `${what}: ${r.err.join(" | ")}`);
      assert.equal(r.err.length, 1, `${what}: ${r.err.join(" | ")}`);
      assert.match(r.err[0]!, want, what);
      assert.doesNotMatch(r.err[0]!, /\bat .*:\d+:\d+/, `${what}: a stack trace`);
      // Nothing written, nothing half-written: the folder holds the fixtures only.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), before, what);
    }
    // --debug adds the stack.
    const d = await cli(["quantize", f.nan, "--out", out, "-q", "--debug"]);
    assert.equal(d.code, 1);
    assert.ok(d.err.length > 1 && d.err.some((l) => /^\s+at /.test(l)), d.err.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
