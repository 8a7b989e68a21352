import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/command.ts";
import type { Command } from "../../src/cli/command.ts";
import { allocateCommand } from "../../src/cli/commands/allocate.ts";
import { quantizeCommand } from "../../src/cli/commands/quantize.ts";
import { linearityCommand } from "../../src/cli/commands/linearity.ts";
import { sensitivityCommand } from "../../src/cli/commands/sensitivity.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { checkpointError } from "../../src/jobs/checkpoint_error.ts";
import { totalError } from "../../src/quant/error_metrics.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { writeHfFolder } from "../../src/model/loader.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

async function run(cmd: Command, argv: string[]): Promise<string> {
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    await cmd.run(parseCommandArgs(cmd.flags, argv));
  } finally {
    console.log = log;
  }
  return out.join("\n");
}

const rejects = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (e: unknown) => e instanceof QuantlabError && re.test(e.message));

/** A 2-layer random Llama folder with the byte-level tokenizer, and a text file. */
async function fixture(dir: string): Promise<{ model: string; text: string }> {
  const c = llamaConfig({ vocabSize: 458, numLayers: 2, hiddenSize: 64, intermediateSize: 128 });
  const model = `${dir}/model`;
  await writeHfFolder(model, c, llamaTensors(c, randomLlamaWeights(c, 5)), {
    tokenizer: byteLevelTokenizerJson(),
    tokenizerConfig: tinyTokenizerConfig(),
  });
  const text = `${dir}/text.txt`;
  await Deno.writeTextFile(text, "Every sequence of tokens has a probability. ".repeat(40));
  return { model, text };
}

Deno.test("sensitivity → allocate → quantize --plan: α per projection, a plan within budget, per-tensor grids", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { model } = await fixture(dir);
    const sens = `${dir}/sens.json`;
    const argv = [model, "--random", "--ctx", "16", "--windows", "2", "--out", sens, "--quiet"];
    const printed = await run(sensitivityCommand, argv);
    assert.match(printed, /most sensitive \(α = ΔKL/);
    assert.match(printed, /mean α by projection kind/);
    const doc = JSON.parse(await Deno.readTextFile(sens));
    assert.equal(doc.schema, "quantlab.sensitivity");
    assert.equal(doc.result.projections.length, 14);
    for (const p of doc.result.projections) {
      assert.ok(p.alpha > 0 && p.r2 > 0.9, `${p.name}: α ${p.alpha}, R² ${p.r2}`);
      assert.equal(p.points.length, 5);
    }
    assert.match(doc.model.hash, /^[0-9a-f]{64}$/);
    // A rerun needs --resume; it resumes every measurement from the log and gives the same α.
    await rejects(run(sensitivityCommand, argv), /already exists; add --force .* or --resume/);
    // A setting at its default is in the key too: changing it is refused, naming only it.
    await rejects(
      run(sensitivityCommand, [...argv, "--resume", "--noise-block", "64"]),
      /used other settings: noiseBlock was 0, now 64; add --force/,
    );
    const again = await run(sensitivityCommand, [...argv, "--resume"]);
    assert.match(again, /70 measurements resumed/);
    const doc2 = JSON.parse(await Deno.readTextFile(sens));
    assert.deepEqual(
      doc2.result.projections.map((p: { alpha: number }) => p.alpha),
      doc.result.projections.map((p: { alpha: number }) => p.alpha),
    );

    const plan = `${dir}/plan.json`;
    const a = await run(allocateCommand, [
      sens,
      "--budget",
      "3.5",
      "--scale-rule",
      "rms",
      "--out",
      plan,
    ]);
    assert.match(a, /budget\s+3\.5 bits\/weight → 3\.\d+ used/);
    const pl = JSON.parse(await Deno.readTextFile(plan));
    assert.equal(pl.scaleRule, "rms");
    assert.ok(pl.result.bitsPerWeight <= 3.5);
    assert.ok(pl.result.predictedIncrease <= pl.result.uniform.predictedIncrease);
    const grids = new Set(Object.values(pl.tensors).map((t) => JSON.stringify(t)));
    assert.ok(grids.size >= 2, "a 3.5-bit budget mixes 3- and 4-bit grids");

    const q = `${dir}/q`;
    await run(quantizeCommand, [model, "--plan", plan, "--out", q, "--quiet"]);
    const ck = await QuantizedCheckpoint.open(q);
    try {
      for (const [name, t] of Object.entries(pl.tensors) as [string, { gridSize: number }][]) {
        const qt = await ck.read(name);
        assert.equal(2 ** qt.codeBits, t.gridSize, name);
        // --hadamard auto: the largest power of two ≤ 1024 dividing the width (64 or 128 here).
        assert.equal(qt.rotation.kind === "hadamard" && qt.rotation.size, qt.shape[1], name);
      }
    } finally {
      ck.close();
    }
    // Unbiased scales, allocate's default: the plan carries the rule per tensor, the checkpoint
    // records it.
    const planU = `${dir}/plan_u.json`;
    await run(allocateCommand, [sens, "--budget", "3.5", "--out", planU]);
    const plU = JSON.parse(await Deno.readTextFile(planU));
    assert.equal(plU.scaleRule, "unbiased");
    assert.ok(plU.result.predictedIncrease > pl.result.predictedIncrease, "t²/(1 − t²) > t²");
    const qU = `${dir}/qu`;
    await run(quantizeCommand, [
      model,
      "--plan",
      planU,
      "--table-dtype",
      "F32",
      "--out",
      qU,
      "--quiet",
    ]);
    const ckU = await QuantizedCheckpoint.open(qU);
    try {
      for (const name of Object.keys(plU.tensors)) {
        const qt = await ckU.read(name);
        assert.equal(qt.params.scaleRule, "unbiased", name);
        assert.equal(qt.tableDtype, "F32", `${name}: the run's extra options stay`);
      }
    } finally {
      ckU.close();
    }
    await rejects(
      run(quantizeCommand, [model, "--plan", plan, "--method", "nf4", "--out", `${dir}/x`]),
      /The plan is for --method higgs; got --method nf4/,
    );
    await rejects(
      run(quantizeCommand, [model, "--plan", plan, "--hadamard", "256", "--out", `${dir}/x`]),
      /assume --hadamard auto; got --hadamard 256/,
    );
    await rejects(
      run(allocateCommand, [sens, "--budget", "3", "--hadamard", "300"]),
      /--hadamard 300 is not valid; use auto, max=N, one of 64, 128/,
    );
    // The plan keeps its budget as quantlab error counts it (codes, scales, padding, table).
    for (const budget of [2.5, 3, 3.5]) {
      const pb = `${dir}/plan_${budget}.json`;
      await run(allocateCommand, [sens, "--budget", String(budget), "--out", pb]);
      const qb = `${dir}/q_${budget}`;
      await run(quantizeCommand, [model, "--plan", pb, "--out", qb, "--quiet"]);
      const measured = totalError(await checkpointError(model, qb)).bitsPerWeight;
      const promised = JSON.parse(await Deno.readTextFile(pb)).result.bitsPerWeight;
      assert.ok(measured <= budget, `budget ${budget}: measured ${measured}`);
      assert.ok(Math.abs(measured - promised) < 1e-9, `promised ${promised}, measured ${measured}`);
    }
    const bogus = `${dir}/bogus.json`;
    await Deno.writeTextFile(
      bogus,
      JSON.stringify({ ...pl, tensors: { "nope.weight": { p: 1 } } }),
    );
    await rejects(
      run(quantizeCommand, [model, "--plan", bogus, "--out", `${dir}/x`]),
      /Per-tensor options name "nope\.weight", which this run does not quantize/,
    );
    await rejects(run(allocateCommand, [plan, "--budget", "3"]), /not a sensitivity results file/);
    await rejects(run(allocateCommand, [sens, "--budget", "1"]), /below the cheapest option/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sensitivity on a text measures perplexity on its windows; bad flags are named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { model, text } = await fixture(dir);
    const out = `${dir}/s.json`;
    const printed = await run(sensitivityCommand, [
      model,
      "--text",
      text,
      "--ctx",
      "24",
      "--windows",
      "3",
      "--layers",
      "1",
      "--levels",
      "4,3",
      "--out",
      out,
      "--quiet",
    ]);
    assert.match(printed, /α = ΔPPL per unit t²/);
    const doc = JSON.parse(await Deno.readTextFile(out));
    assert.equal(doc.result.metric, "ppl");
    assert.match(doc.config.textSha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(
      doc.result.projections.map((p: { name: string }) => p.name).slice(0, 2),
      ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj"],
    );
    await rejects(run(sensitivityCommand, [model]), /exactly one of --text FILE .* or --random/);
    await rejects(
      run(sensitivityCommand, [model, "--text", text, "--ctx", "4096", "--windows", "2"]),
      /2 windows of 4096 need 8192/,
    );
    await rejects(run(sensitivityCommand, [model, "--random", "--levels", "0"]), /--levels 0/);
    await rejects(run(sensitivityCommand, [model, "--random", "--layers", "2"]), /in 0…1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sensitivity --draws --antithetic pairs ±ε; linearity checks Σ α·t² against the quantized model, resumably", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { model, text } = await fixture(dir);
    const sens = `${dir}/s.json`;
    await run(sensitivityCommand, [
      model,
      "--text",
      text,
      "--ctx",
      "24",
      "--windows",
      "2",
      "--layers",
      "0",
      "--levels",
      "3,2.5",
      "--draws",
      "2",
      "--antithetic",
      "--noise-block",
      "64",
      "--out",
      sens,
      "--quiet",
    ]);
    const doc = JSON.parse(await Deno.readTextFile(sens));
    for (const p of doc.result.projections) {
      assert.equal(p.points.length, 4);
      // Each level's pair shares its seed and realizes ±ε (the same |ε|: equal t² up to W·ε).
      const [a, b] = [
        p.points.filter((x: { sign?: number }) => x.sign !== -1),
        p.points.filter((x: { sign?: number }) => x.sign === -1),
      ];
      assert.deepEqual(
        a.map((x: { seed: number }) => x.seed),
        b.map((x: { seed: number }) => x.seed),
      );
    }
    assert.equal(doc.config.antithetic, true);
    assert.equal(doc.config.noiseBlock, 64);
    await rejects(
      run(sensitivityCommand, [model, "--random", "--draws", "3", "--antithetic"]),
      /--antithetic needs an even --draws/,
    );

    // The data-free check on all projections.
    const kl = `${dir}/kl.json`;
    await run(sensitivityCommand, [
      model,
      "--random",
      "--ctx",
      "16",
      "--windows",
      "2",
      "--out",
      kl,
      "--quiet",
    ]);
    const out = `${dir}/lin.json`;
    const argv = [
      model,
      "--sensitivities",
      kl,
      "--random",
      "--ctx",
      "16",
      "--windows",
      "2",
      "--hadamard",
      "64",
      "--mixes",
      "2",
      "--budgets",
      "3",
      "--scale-rule",
      "unbiased",
      "--baseline",
      "nf4:group=64",
      "--baseline",
      "rtn:bits=3,group=32,symmetric=true",
      "--single",
      "2:64",
      "--out",
      out,
      "--quiet",
    ];
    const printed = await run(linearityCommand, argv);
    assert.match(printed, /uniform higgs \(2,16\) unbiased/);
    assert.match(printed, /fit\s+measured ≈ [\d.]+ × predicted \(R² [\d.]+\)/);
    assert.match(printed, /one projection quantized at a time \(higgs \(2,64\) unbiased\)/);
    assert.match(printed, /model\.layers\.1\.mlp\.down_proj\s+0\.0\d+/);
    const lin = JSON.parse(await Deno.readTextFile(out));
    assert.equal(lin.schema, "quantlab.linearity");
    assert.equal(lin.result.rows.length, 4 + 2 + 14 + 1 + 2);
    assert.equal(lin.result.resumedRows, 0);
    const [nf4, rtn] = lin.result.rows.slice(21);
    assert.equal(nf4.label, "uniform nf4:group=64");
    assert.equal(nf4.family, "baseline");
    assert.equal(nf4.predictedFromGrid, nf4.predicted);
    // 4 + 16/64 and 3 + 16/32 bits, plus the lookup tables amortized over small matrices.
    assert.ok(nf4.bitsPerWeight > 4.25 && nf4.bitsPerWeight < 4.4, `nf4 g64: ${nf4.bitsPerWeight}`);
    assert.ok(
      rtn.bitsPerWeight > 3.5 && rtn.bitsPerWeight < 3.6,
      `rtn int3 g32: ${rtn.bitsPerWeight}`,
    );
    for (const r of lin.result.rows) {
      assert.equal(r.t2.length, 14);
      assert.ok(r.measured > 0 && r.predicted > 0, r.label);
    }
    const again = await run(linearityCommand, [...argv, "--resume"]);
    assert.equal(JSON.parse(await Deno.readTextFile(out)).result.resumedRows, 23);
    assert.equal(again, printed.replace(/\n?results\s+.*$/, "") + `\nresults      ${out}`);
    await rejects(
      run(linearityCommand, [model, "--sensitivities", kl, "--text", text]),
      /holds kl sensitivities; check them with --random/,
    );
    await rejects(
      run(linearityCommand, [model, "--random"]),
      /--sensitivities s\.json is required/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--backend", "webgpu"]),
      /runs the model on the CPU \(it swaps layers\); use --backend cpu/,
    );
    const foreign = `${dir}/foreign.json`;
    const kd = JSON.parse(await Deno.readTextFile(kl));
    await Deno.writeTextFile(
      foreign,
      JSON.stringify({ ...kd, model: { ...kd.model, hash: "f".repeat(64) } }),
    );
    await rejects(
      run(linearityCommand, [model, "-s", foreign, "--random"]),
      /was measured on another model \(hash ffffffffffff…, this one [0-9a-f]{12}…\)/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--single", "2:32"]),
      /--single 2:32 is not one of --grids 2:16,2:64,2:256,2:4096/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--budgets", "3,x"]),
      /--budgets 3,x is not valid/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--baseline", "gptq:bits=4"]),
      /--baseline gptq:bits=4 is not valid \(methods: higgs, hqq/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--baseline", "hqq:bits"]),
      /"bits" is not key=value/,
    );
    await rejects(
      run(linearityCommand, [model, "-s", kl, "--random", "--scale-rule", "mean"]),
      /--scale-rule/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
