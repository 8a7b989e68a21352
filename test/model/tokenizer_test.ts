import assert from "node:assert/strict";
import { StreamDecoder, TextTokenizer } from "../../src/model/tokenizer.ts";
import { byteLevelTokenizerJson, tinyTokenizerConfig } from "../../src/data/tiny_tokenizer.ts";

const tok = TextTokenizer.fromJson(byteLevelTokenizerJson(), tinyTokenizerConfig());

Deno.test("TextTokenizer round-trips text through the byte-level BPE, emoji and accents included", () => {
  const text = "The quick brown fox, héllo 😀 world.\nNew line\ttab";
  const ids = tok.encode(text);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), text);
  assert.equal(tok.vocabSize, 458);
  assert.ok(ids.length < new TextEncoder().encode(text).length, "merges shorten the text");
});

Deno.test("TextTokenizer follows the post-processor: BOS with the template, none without", () => {
  const bos = tok.tokenToId("<s>")!;
  assert.equal(tok.encode("hi")[0], bos);
  assert.notEqual(tok.encode("hi", { addSpecialTokens: false })[0], bos);
  assert.deepEqual(tok.addedSpecials(), { prefix: [bos], suffix: [] });
  assert.match(tok.describeSpecials(), /prepends "<s>" \(id 456\)/);
  assert.deepEqual(tok.eosIds, [457]);
  const plain = TextTokenizer.fromJson(byteLevelTokenizerJson({ bos: false }));
  assert.match(plain.describeSpecials(), /adds no special tokens \(no BOS\)/);
  assert.equal(plain.encode("hi").includes(bos), false);
});

Deno.test("StreamDecoder emits text only once UTF-8 sequences are complete", () => {
  const s = new StreamDecoder(tok);
  // "😀" is 4 bytes; the tiny BPE has no merge for it, so it arrives byte by byte.
  const ids = tok.encode("a😀b\nc", { addSpecialTokens: false });
  const pieces = ids.map((id) => s.push(id));
  assert.ok(pieces.every((p) => !p.includes("\uFFFD")));
  assert.equal(pieces.join("") + s.flush(), "a😀b\nc");
});

Deno.test("TextTokenizer.fromJson() rejects a tokenizer.json without a model", () => {
  assert.throws(() => TextTokenizer.fromJson({}), /tokenizer.json has no "model" object/);
});
