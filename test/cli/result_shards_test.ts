// Sharded sensitivity and linearity runs (--shard I/N) merged by `quantlab merge` give the results
// a single run gives; a missing, unfinished or mismatched shard is one line naming it; shards and
// the merge follow the output rules (existing files need --force or --resume, exit 2).
import assert from "node:assert/strict";
import { runCli } from "./run_cli.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { writeHfFolder } from "../../src/model/loader.ts";
import { llamaTensors, randomLlamaWeights } from "../../src/model/random.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

/** A 2-layer random Llama folder (14 projections) with the byte-level tokenizer. */
async function fixture(dir: string): Promise<string> {
  const c = llamaConfig({ vocabSize: 458, numLayers: 2, hiddenSize: 64, intermediateSize: 128 });
  const model = `${dir}/model`;
  await writeHfFolder(model, c, llamaTensors(c, randomLlamaWeights(c, 5)), {
    tokenizer: byteLevelTokenizerJson(),
    tokenizerConfig: tinyTokenizerConfig(),
  });
  return model;
}

async function ok(argv: string[]): Promise<string> {
  const r = await runCli([...argv, "-q"]);
  assert.equal(r.code, 0, `${argv.join(" ")}\n${r.err}`);
  return r.out;
}

/** A merge that fails with exit 1 and one line matching `re`. */
async function mergeFails(out: string, re: RegExp): Promise<void> {
  const r = await runCli(["merge", out]);
  assert.equal(r.code, 1, r.err);
  assert.equal(r.err.split("\n").length, 1, r.err);
  assert.match(r.err, re);
}

/** A command line refused with exit 2 and one line matching `re`. */
async function usageFails(argv: string[], re: RegExp): Promise<void> {
  const r = await runCli([...argv, "-q"]);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.err.split("\n").length, 1, r.err);
  assert.match(r.err, re);
}

/**
 * The document without what differs between any two runs of the same settings: when it was made,
 * how long it took, and how much came from a resumed log.
 */
function results(path: string): string {
  const doc = JSON.parse(Deno.readTextFileSync(path));
  delete doc.createdAt;
  delete doc.result.seconds;
  delete doc.result.resumedPoints;
  delete doc.result.resumedRows;
  return JSON.stringify(doc, null, 2);
}

Deno.test("sensitivity and linearity --shard I/N, merged, equal a single run for N = 1, 2, 3, 7", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = await fixture(dir);
    // 14 projections × 2 levels × 2 antithetic draws = 56 measurements.
    const sens = [model, "--random", "--ctx", "12", "--windows", "2", "--levels", "4,3"];
    sens.push("--draws", "2", "--antithetic", "--seed", "3");
    await ok(["sensitivity", ...sens, "--out", `${dir}/s.json`]);
    // 2 uniform + 2 random mixes + 1 optimal + 1 baseline = 6 assignments (so 7 shards leave
    // one with nothing to do).
    const lin = [model, "-s", `${dir}/s.json`, "--random", "--ctx", "12", "--windows", "2"];
    lin.push("--grids", "2:16,2:256", "--hadamard", "64", "--mixes", "2", "--budgets", "3");
    lin.push("--baseline", "rtn:bits=4");
    await ok(["linearity", ...lin, "--out", `${dir}/l.json`]);
    const single = { s: results(`${dir}/s.json`), l: results(`${dir}/l.json`) };
    assert.match(single.l, /"label": "uniform rtn:bits=4"/);

    for (const n of [1, 2, 3, 7]) {
      const s = `${dir}/s${n}.json`, l = `${dir}/l${n}.json`;
      for (let i = 1; i <= n; i++) {
        const printed = await ok(["sensitivity", ...sens, "--out", s, "--shard", `${i}/${n}`]);
        assert.match(printed, new RegExp(`shard +${i}/${n}: \\d+ of 56 measurements`));
        await ok(["linearity", ...lin, "--out", l, "--shard", `${i}/${n}`]);
      }
      assert.match(await ok(["merge", s]), new RegExp(`merged +${n} sensitivity shards \\(56 `));
      assert.equal(results(s), single.s, `sensitivity, ${n} shards`);
      assert.match(await ok(["merge", l]), new RegExp(`merged +${n} linearity shards \\(6 `));
      assert.equal(results(l), single.l, `linearity, ${n} shards`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("merge names the missing, unfinished or mismatched shard; a killed shard rerun alone completes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = await fixture(dir);
    const sens = [model, "--random", "--ctx", "12", "--windows", "1", "--levels", "4,3"];
    await ok(["sensitivity", ...sens, "--out", `${dir}/s.json`]);
    const s = `${dir}/s3.json`;
    await mergeFails(
      s,
      /Nothing to merge at ".*s3\.json": no shard files \(from quantize, sensitivity or linearity/,
    );
    await ok(["sensitivity", ...sens, "--out", s, "--shard", "1/3"]);
    await mergeFails(s, /Shard 2\/3 of .*s3\.json is missing: .* run it with --shard 2\/3/);
    await ok(["sensitivity", ...sens, "--out", s, "--shard", "2/3"]);
    await ok(["sensitivity", ...sens, "--out", s, "--shard", "3/3"]);
    // A finished shard run again without --resume or --force is refused, naming its files.
    await usageFails(
      ["sensitivity", ...sens, "--out", s, "--shard", "3/3"],
      /the resume log ".*s3\.json\.shard-3-of-3\.points\.jsonl" already exists; add --force .* or --resume/,
    );
    await ok(["merge", s]);
    const single = results(`${dir}/s.json`);
    assert.equal(results(s), single);
    // OUT exists now: merging again needs --force (exit 2, nothing written).
    await usageFails(["merge", s], /--out ".*s3\.json" already exists; add --force to replace it/);

    // Shard 2 killed midway: its shard file never written, its log cut inside a line.
    const log = `${s}.shard-2-of-3.points.jsonl`;
    const lines = (await Deno.readTextFile(log)).split("\n");
    await Deno.writeTextFile(log, lines.slice(0, 4).join("\n") + "\n" + lines[4]!.slice(0, 20));
    await Deno.remove(`${s}.shard-2-of-3.json`);
    await mergeFails(
      s,
      /Shard 2\/3 of .*s3\.json has not finished \(its log s3\.json\.shard-2-of-3\.points\.jsonl holds 3 measurements\); rerun it with --shard 2\/3/,
    );
    const rerun = await ok(["sensitivity", ...sens, "--out", s, "--shard", "2/3", "--resume"]);
    assert.match(rerun, /shard +2\/3: 9 of 28 measurements \(3 resumed from /);
    await ok(["merge", s, "--force"]);
    assert.equal(results(s), single);

    // Shard 3 rerun with another seed (--force: it starts over) no longer fits shards 1 and 2.
    await ok(["sensitivity", ...sens, "--seed", "1", "--out", s, "--shard", "3/3", "--force"]);
    await mergeFails(
      s,
      /Shard 3\/3 of .*s3\.json was made with other settings than shard 1\/3 \(seed was 0, now 1\); rerun it with shard 1's command line and --shard 3\/3 --force/,
    );
    // A shard of another split beside them.
    await ok(["sensitivity", ...sens, "--out", s, "--shard", "1/2", "--force"]);
    await mergeFails(
      s,
      /has shard files of 2 different splits \(of 2, of 3\); delete those/,
    );

    // Bad shard flags: one line, exit 2.
    for (
      const [flags, re] of [
        [["--shard", "0/3"], /--shard 0\/3 is not valid; shards count from 1: use 1\/3 … 3\/3/],
        [["--shard", "4/3"], /--shard 4\/3 is not valid; shards count from 1/],
        [["--shard", "1/0"], /--shard 1\/0 is not valid; the number of shards is a whole number/],
        [["--shard", "1.5/3"], /--shard 1\.5\/3 is not valid; use I\/N with whole numbers/],
        [["--shard-from-env"], /--shard-from-env needs --shards N/],
        [["--shard", "1/3", "--log", `${dir}/x.jsonl`], /--log does not go with --shard/],
      ] as const
    ) {
      const r = await runCli(["sensitivity", ...sens, "--out", `${dir}/x.json`, ...flags]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
    }
    const r = await runCli(["sensitivity", ...sens, "--shard", "1/3"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--shard 1\/3 needs --out sens\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
