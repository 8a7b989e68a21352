import assert from "node:assert/strict";
import { TINY_MODEL_URL } from "../../src/jobs/tiny_ppl.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../../src/model/config.ts";
import { generate } from "../../src/model/generate.ts";
import { loadModel, loadTokenizer } from "../../src/model/loader.ts";
import {
  TINY_EVAL,
  TINY_RECORD_URL,
  tinyEval,
  type TinyEvalRecord,
} from "../../tools/record_eval.ts";

const dir = TINY_MODEL_URL.pathname;

Deno.test("the embedded tiny Llama has the documented shape and its training record", async () => {
  const model = await loadModel(dir);
  const want = llamaConfig({ ...TINY_LLAMA_SHAPE, tieWordEmbeddings: true });
  for (
    const k of ["hiddenSize", "numLayers", "numHeads", "intermediateSize", "vocabSize"] as const
  ) {
    assert.equal(model.config[k], want[k], k);
  }
  const rec = JSON.parse(await Deno.readTextFile(`${dir}training.json`));
  assert.equal(rec.schema, "quantlab.training");
  assert.equal(rec.data.tokenizer, "assets/tokenizer/brown_bpe4096");
  // The record's perplexity is its loss's exponential; README states both (5.13, 169).
  assert.ok(Math.abs(Math.exp(rec.result.validLoss) / rec.result.validPpl - 1) < 1e-12);
  assert.ok(rec.result.validLoss < 6, `recorded valid loss ${rec.result.validLoss}`);
});

Deno.test("the tiny Llama's NLL per window on Brown test is its record's (1e-4 nats/token; ppl ±2 %)", async () => {
  // The record is regenerated with `./quantlab deno run --allow-all tools/record_eval.ts` whenever
  // the embedded model is retrained.
  const rec: TinyEvalRecord = JSON.parse(await Deno.readTextFile(TINY_RECORD_URL));
  const now = await tinyEval();
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
  // The record itself: far better than a unigram model of Brown (~600) or chance (4,096).
  assert.ok(rec.test.ppl < 400, `recorded test perplexity ${rec.test.ppl}`);
});

Deno.test("the tiny Llama continues a prompt with decodable English-like text", async () => {
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
