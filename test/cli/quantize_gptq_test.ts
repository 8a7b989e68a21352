/**
 * `quantlab quantize --method gptq` on the embedded tiny Llama: a small run end to end (its
 * output scored by `ppl`), and every bad command line refused with one line before anything is
 * written.
 */
import assert from "node:assert/strict";
import { runCli } from "./run_cli.ts";

const MODEL = "assets/tiny-llama";

Deno.test("quantize --method gptq --json: the run, its calibration and errors; ppl reads it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli([
      "quantize",
      MODEL,
      "-o",
      `${dir}/q`,
      "--method",
      "gptq",
      "--grid",
      "rtn:bits=4,group=64",
      "--calib",
      "brown:test",
      "--calib-samples",
      "2",
      "--calib-ctx",
      "64",
      "--calib-seed",
      "9",
      "--damp",
      "0.05",
      "--act-order",
      "--block",
      "64",
      "--json",
      "-q",
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.method, "gptq");
    assert.equal(j.tensors.quantized, 28);
    assert.deepEqual(
      { ...j.gptq, calibration: { ...j.gptq.calibration, textSha256: "-", textTokens: "-" } },
      {
        grid: "rtn:bits=4,group=64",
        damp: 0.05,
        actOrder: true,
        blockSize: 64,
        calibration: {
          source: "brown:test",
          textSha256: "-",
          textTokens: "-",
          samples: 2,
          ctx: 64,
          seed: 9,
        },
        layers: { quantized: 4, resumed: 0 },
        outputError: { ...j.gptq.outputError, lowerOn: 28, projections: 28 },
      },
    );
    assert.ok(j.gptq.outputError.gptq < j.gptq.outputError.dataFree);
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/q/config.json`)).quantization_config;
    assert.deepEqual(cfg.gptq.act_order, true);
    assert.deepEqual(cfg.gptq.static_groups, true);
    const p = await runCli([
      "ppl",
      `${dir}/q`,
      "--text",
      "brown:test",
      "--windows",
      "1",
      "--ctx",
      "64",
      "-q",
    ]);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /perplexity {3}\d+\.\d{4}/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantize --method gptq: bad command lines are one line, exit 2 or 1, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/short.txt`, "The jury said it did.");
    await Deno.mkdir(`${dir}/notok`);
    await Deno.copyFile(`${MODEL}/config.json`, `${dir}/notok/config.json`);
    await Deno.copyFile(`${MODEL}/model.safetensors`, `${dir}/notok/model.safetensors`);
    const gptq = ["--method", "gptq", "--grid", "higgs:p=2,bits=3", "--calib", "brown:test"];
    const cases: [string[], number, RegExp][] = [
      [
        [MODEL, ...gptq, "--calib-samples", "0"],
        2,
        /--calib-samples 0 is not valid; use an integer from 1/,
      ],
      [
        [MODEL, ...gptq, "--calib", `${dir}/short.txt`, "--calib-ctx", "64"],
        2,
        /calibration text ".*short\.txt" has \d+ tokens; one window of 64 needs 64/,
      ],
      [[MODEL, "--method", "gptq", "--grid", ":bits=3"], 2, /Grid spec ":bits=3": names no format/],
      [[MODEL, "--method", "gptq", "--grid", "int4"], 2, /"int4" is not a format; use one of/],
      [[MODEL, "--method", "gptq"], 2, /--method gptq needs --grid/],
      [
        [MODEL, ...gptq, "--bits", "3"],
        2,
        /--bits does not apply to --method gptq; give the format with --grid/,
      ],
      [[MODEL, ...gptq, "--plan", `${dir}/short.txt`], 2, /--plan does not apply to --method gptq/],
      [[MODEL, ...gptq, "--shard", "1/2"], 2, /--shard does not apply to --method gptq/],
      [
        [MODEL, "--method", "nf4", "--calib", "brown:train"],
        2,
        /--calib applies to --method gptq only/,
      ],
      [[`${dir}/notok`, ...gptq], 1, /has no tokenizer\.json/],
      [[MODEL, ...gptq, "--calib", `${dir}/none.txt`], 2, /--calib ".*none\.txt" does not exist/],
    ];
    for (const [argv, code, re] of cases) {
      const r = await runCli(["quantize", ...argv, "-o", `${dir}/q`, "-q"]);
      assert.equal(r.code, code, `${argv.join(" ")}: ${r.err}`);
      assert.equal(r.err.split("\n").length, 1, r.err);
      assert.match(r.err, re);
      for (const p of [`${dir}/q`, `${dir}/q.quantlab-work`]) {
        assert.equal(await Deno.stat(p).then(() => true, () => false), false, argv.join(" "));
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
