import assert from "node:assert/strict";
import { loadBrown } from "../../src/data/brown.ts";
import { evaluatePerplexity } from "../../src/eval/perplexity.ts";
import { TINY_MODEL_URL } from "../../src/jobs/tiny_ppl.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../../src/model/config.ts";
import { generate } from "../../src/model/generate.ts";
import { loadModel, loadTokenizer } from "../../src/model/loader.ts";

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
  assert.ok(rec.result.validLoss < 6, `recorded valid loss ${rec.result.validLoss}`);
});

Deno.test("the tiny Llama models held-out Brown text far better than chance", async () => {
  const tok = await loadTokenizer(dir);
  const ids = tok.encode(await loadBrown("test")).slice(0, 4 * 256);
  const r = await evaluatePerplexity(await loadModel(dir), ids, { ctx: 256 });
  // Uniform over 4,096 ids would be 4,096; a unigram model of Brown is ~600.
  assert.ok(r.ppl < 400, `test perplexity ${r.ppl}`);
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
