import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../../src/model/config.ts";
import { loadModel, loadTokenizer } from "../../src/model/loader.ts";
import { trainTinyLlama } from "../../src/jobs/train.ts";
import { readTrainState, writeTrainState } from "../../src/io/train_state.ts";

const SHAPE = { hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, intermediateSize: 32 };
const small = (out: string, steps = 4) => ({
  out,
  steps,
  batch: 2,
  ctx: 16,
  evalWindows: 2,
  evalEvery: 2,
  checkpointEvery: 2,
  warmup: 1,
  shape: SHAPE,
});

Deno.test("trainTinyLlama() writes a loadable model folder and resumes from its checkpoint", async () => {
  const out = await Deno.makeTempDir();
  try {
    let evals = 0;
    const r = await trainTinyLlama({ ...small(out), onEval: () => void evals++ });
    assert.equal(r.steps, 4);
    assert.equal(r.resumedSteps, 0);
    assert.ok(r.validLoss > 0 && Number.isFinite(r.trainLoss));
    assert.equal(evals, 2, "one validation midway (step 2) and one at the end");
    const log = (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n");
    assert.equal(log.filter((l) => l.includes('"loss"')).length, 4);
    // The folder loads as a runtime model whose loss on the valid split is what training said.
    const model = await loadModel(out);
    assert.equal(model.config.vocabSize, 4096);
    assert.equal(model.config.tieWordEmbeddings, true);
    const tok = await loadTokenizer(out);
    assert.equal(tok.encode("the")[0], 4094, "BOS first");
    const doc = JSON.parse(await Deno.readTextFile(`${out}/training.json`));
    assert.equal(doc.schema, "quantlab.training");
    assert.equal(doc.result.steps, 4);
    // A rerun finds every step done: it trains nothing and writes the same weights.
    const before = await Deno.readFile(`${out}/model.safetensors`);
    // Steps a killed run logged after its last checkpoint (and a half line) leave the record.
    await Deno.writeTextFile(`${out}/train_log.jsonl`, '{"step":5,"loss":1}\n{"step":6,"lo', {
      append: true,
    });
    const again = await trainTinyLlama(small(out));
    assert.deepEqual(
      (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n"),
      log,
      "the log as the first run left it",
    );
    assert.equal(again.resumedSteps, 4);
    assert.equal(again.trainLoss, r.trainLoss);
    assert.deepEqual(await Deno.readFile(`${out}/model.safetensors`), before);
    // Another configuration in the same folder is refused.
    await assert.rejects(
      () => trainTinyLlama(small(out, 6)),
      (e: unknown) =>
        e instanceof QuantlabError && /belongs to another training run/.test(e.message),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** The losses of a run's log, in step order. */
async function losses(out: string): Promise<number[]> {
  return (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => typeof r.loss === "number").map((r) => r.loss);
}

Deno.test("a two-step run reproduces its losses and weights bit for bit from its seed (GQA, untied)", async () => {
  const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    const opts = (out: string) => ({
      ...small(out, 2),
      seed: 7,
      shape: { ...SHAPE, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: false },
    });
    await trainTinyLlama(opts(a));
    await trainTinyLlama(opts(b));
    const [la, lb] = [await losses(a), await losses(b)];
    assert.equal(la.length, 2);
    assert.deepEqual(la, lb);
    assert.deepEqual(
      await Deno.readFile(`${a}/train_state.bin`),
      await Deno.readFile(`${b}/train_state.bin`),
    );
    // Another seed starts elsewhere.
    await Deno.remove(b, { recursive: true });
    await trainTinyLlama({ ...opts(b), seed: 8 });
    assert.notEqual((await losses(b))[0], la[0]);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

Deno.test("training.json records every setting and the model's shape (GQA, untied)", async () => {
  const out = await Deno.makeTempDir();
  try {
    const shape = { ...SHAPE, numLayers: 2, numHeads: 4, numKvHeads: 2, tieWordEmbeddings: false };
    await trainTinyLlama({ ...small(out, 2), shape, weightDecay: 0.05, gradClip: 0.5, warmup: 3 });
    const doc = JSON.parse(await Deno.readTextFile(`${out}/training.json`));
    const cfg = doc.config;
    assert.deepEqual(
      [cfg.steps, cfg.batch, cfg.ctx, cfg.lr, cfg.warmup, cfg.seed, cfg.weightDecay, cfg.gradClip],
      [2, 2, 16, 3e-3, 3, 1, 0.05, 0.5],
    );
    assert.deepEqual(
      [cfg.evalEvery, cfg.evalWindows, cfg.checkpointEvery, cfg.stateVersion, cfg.kernels],
      [2, 2, 2, 2, "wasm"],
    );
    assert.deepEqual([cfg.beta1, cfg.beta2, cfg.eps], [0.9, 0.95, 1e-8]);
    assert.deepEqual(
      [doc.model.numLayers, doc.model.numKvHeads, doc.model.tieWordEmbeddings],
      [2, 2, false],
    );
    const model = await loadModel(out);
    assert.equal(model.config.numKvHeads, 2);
    assert.equal(model.config.tieWordEmbeddings, false);
    const log = (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l)).filter((r) => typeof r.loss === "number");
    assert.ok(log.every((r) => r.gradNorm > 0), "every step logs its gradient norm");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a version-1 checkpoint (the first trainer's) resumes without clipping and stays version 1", async () => {
  const [a, b] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    // An uninterrupted 4-step run of the version-1 recipe (weight decay 0.1, no clipping).
    await trainTinyLlama({ ...small(a), gradClip: 0 });
    // The same run stopped after its step-2 checkpoint, rewritten as the first trainer wrote it.
    await assert.rejects(() =>
      trainTinyLlama({
        ...small(b),
        gradClip: 0,
        onStep: (s) => {
          if (s.step === 3) throw new Error("stop"); // after the step-2 checkpoint
        },
      })
    );
    const p = `${b}/train_state.bin`;
    const s = await readTrainState(p, await paramCount(p));
    assert.equal(s!.version, 2);
    assert.equal(s!.step, 2);
    const c = llamaConfig({
      ...TINY_LLAMA_SHAPE,
      tieWordEmbeddings: true,
      ...SHAPE,
      vocabSize: 4096,
      bosTokenId: 4094,
      eosTokenIds: [4095],
    });
    const key = JSON.stringify({ c, B: 2, T: 16, peak: 3e-3, warmup: 1, seed: 1, steps: 4 });
    await writeTrainState(p, { ...s!, version: 1, key });
    // Clipping cannot be switched on for it; without the flag it resumes and matches.
    await assert.rejects(
      () => trainTinyLlama({ ...small(b), gradClip: 1 }),
      (e: unknown) => e instanceof QuantlabError && /version-1 checkpoint/.test(e.message),
    );
    const r = await trainTinyLlama(small(b));
    assert.equal(r.resumedSteps, 2);
    assert.deepEqual((await losses(b)).slice(-2), (await losses(a)).slice(-2));
    assert.equal((await readTrainState(p, await paramCount(p)))!.version, 1);
    const doc = JSON.parse(await Deno.readTextFile(`${b}/training.json`));
    assert.deepEqual([doc.config.stateVersion, doc.config.gradClip], [1, 0]);
  } finally {
    await Deno.remove(a, { recursive: true });
    await Deno.remove(b, { recursive: true });
  }
});

/** The parameter count of a checkpoint file (its payload is three f32 arrays). */
async function paramCount(path: string): Promise<number> {
  const buf = await Deno.readFile(path);
  const keyLen = new DataView(buf.buffer).getUint32(8, true);
  return (buf.length - Math.ceil((12 + keyLen) / 4) * 4) / 12;
}

Deno.test("--data brown,sotu trains on both train splits, logs both valid losses, and keys the resume", async () => {
  const out = await Deno.makeTempDir();
  try {
    const opts = {
      ...small(out, 2),
      evalEvery: 1,
      data: ["sotu", "brown"] as ("brown" | "sotu")[],
    };
    const r = await trainTinyLlama(opts);
    const log = (await Deno.readTextFile(`${out}/train_log.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    const evals = log.filter((e) => "validLoss" in e);
    assert.equal(evals.length, 1, "step 1 (the end's is not logged)");
    assert.ok(evals[0].validLoss > 0 && evals[0].sotuValidLoss > 0, JSON.stringify(evals[0]));
    assert.ok(r.validLoss > 0 && r.otherValidLoss.sotu! > 0);
    const doc = JSON.parse(await Deno.readTextFile(`${out}/training.json`));
    // Brown-BPE token counts of the train splits (docs/tiny-model.md), Brown's tokens first.
    assert.deepEqual(doc.data.corpora, ["brown", "sotu"]);
    assert.deepEqual(doc.data.trainTokensPerCorpus, { brown: 1383967, sotu: 2219723 });
    assert.equal(doc.data.trainTokens, 3603690);
    assert.deepEqual(doc.data.otherValidTokens, { sotu: 317994 });
    // The same folder with Brown alone is another run, and the refusal names the field.
    await assert.rejects(
      () => trainTinyLlama({ ...opts, data: ["brown"] }),
      (e: unknown) =>
        e instanceof QuantlabError && /another training run \(data differs\)/.test(e.message),
    );
    await assert.rejects(
      () => trainTinyLlama({ ...opts, data: ["brown", "brown"] }),
      (e: unknown) => e instanceof QuantlabError && /must name each corpus once/.test(e.message),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
