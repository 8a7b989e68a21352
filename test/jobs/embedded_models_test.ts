import assert from "node:assert/strict";
import { loadBrown } from "../../src/data/brown.ts";
import { EMBEDDED_MODELS } from "../../src/jobs/embedded_models.ts";
import { generate } from "../../src/model/generate.ts";
import { loadModel, loadTokenizer } from "../../src/model/loader.ts";
import { recordUrl, TINY_EVAL, tinyEval, type TinyEvalRecord } from "../../tools/record_eval.ts";

const SHAPE_KEYS = [
  "hiddenSize",
  "numLayers",
  "numHeads",
  "numKvHeads",
  "intermediateSize",
  "vocabSize",
  "tieWordEmbeddings",
] as const;

for (const m of EMBEDDED_MODELS) {
  const dir = m.url.pathname;

  Deno.test(`${m.name}: its config is the documented shape, and its training record matches it`, async () => {
    const model = await loadModel(dir);
    for (const k of SHAPE_KEYS) assert.equal(model.config[k], m.config[k], k);
    const rec = JSON.parse(await Deno.readTextFile(`${dir}training.json`));
    assert.equal(rec.schema, "quantlab.training");
    assert.equal(rec.data.tokenizer, "assets/tokenizer/brown_bpe4096");
    assert.deepEqual(rec.data.corpora ?? ["brown"], m.data);
    for (const k of SHAPE_KEYS) assert.equal(rec.model[k], m.config[k], `training.json ${k}`);
    // The record's perplexity is its valid loss's exponential.
    assert.ok(Math.abs(Math.exp(rec.result.validLoss) / rec.result.validPpl - 1) < 1e-12);
  });

  Deno.test(`${m.name}: its tokenizer round-trips Brown text byte for byte`, async () => {
    const tok = await loadTokenizer(dir);
    const text = (await loadBrown("valid")).slice(0, 4000) + " naïve — “quoted” 3.5%\n";
    const ids = tok.encode(text, { addSpecialTokens: false });
    assert.ok(ids.length > 1000 && ids.every((i) => i >= 0 && i < m.config.vocabSize));
    assert.equal(tok.decode(ids, { skipSpecialTokens: true, cleanUpSpaces: false }), text);
  });

  Deno.test(`${m.name}: NLL per window on Brown test is its record's (1e-4 nats/token; ppl ±2 %)`, async () => {
    // The record is rewritten by `./quantlab deno run --allow-all tools/record_eval.ts` whenever
    // an embedded model is retrained.
    const rec: TinyEvalRecord = JSON.parse(await Deno.readTextFile(recordUrl(m)));
    const now = await tinyEval(m);
    assert.equal(now.test.windowsNll.length, TINY_EVAL.windows);
    assert.deepEqual(
      { split: rec.test.split, ctx: rec.test.ctx, windows: rec.test.windows },
      { ...TINY_EVAL },
    );
    for (const [i, w] of now.test.windowsNll.entries()) {
      const r = rec.test.windowsNll[i]!;
      assert.deepEqual([w.begin, w.end, w.scored], [r.begin, r.end, r.scored], `window ${i}`);
      assert.ok(
        Math.abs(w.meanNll - r.meanNll) <= 1e-4,
        `Window ${i}: mean NLL ${w.meanNll} vs the recorded ${r.meanNll}`,
      );
    }
    assert.ok(
      Math.abs(now.test.ppl / rec.test.ppl - 1) <= 0.02,
      `Test perplexity ${now.test.ppl} vs the recorded ${rec.test.ppl}`,
    );
  });

  Deno.test(`${m.name}: greedy continuation of a prompt is decodable English-like text`, async () => {
    const tok = await loadTokenizer(dir);
    const model = await loadModel(dir);
    const r = await generate(model, tok.encode("The jury said that"), {
      maxNewTokens: 12,
      temperature: 0,
    });
    const text = tok.decode(r.tokens, { skipSpecialTokens: true });
    assert.equal(r.tokens.length, 12);
    assert.match(text, /[a-z]+ [a-z]+/, text);
  });
}
