import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { loadModel, loadTokenizer } from "../../src/model/loader.ts";
import { trainTinyLlama } from "../../src/jobs/train.ts";

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
    const again = await trainTinyLlama(small(out));
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
