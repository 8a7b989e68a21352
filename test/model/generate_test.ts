import assert from "node:assert/strict";
import { generate, sampleToken } from "../../src/model/generate.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";

Deno.test("sampleToken() is argmax at temperature 0 and a seeded draw otherwise", () => {
  const logits = new Float32Array([1, 4, 2, 4, 0]);
  assert.equal(sampleToken(logits), 1); // lowest id on ties
  const draws = Array.from(
    { length: 2000 },
    (_, i) => sampleToken(logits, { temperature: 1, seed: 5 }, i),
  );
  assert.deepEqual(
    draws,
    Array.from({ length: 2000 }, (_, i) => sampleToken(logits, { temperature: 1, seed: 5 }, i)),
  );
  // Frequencies follow the softmax.
  const p = [...logits].map((v) => Math.exp(v));
  const z = p.reduce((a, b) => a + b, 0);
  for (let k = 0; k < 5; k++) {
    const f = draws.filter((d) => d === k).length / draws.length;
    assert.ok(Math.abs(f - p[k]! / z) < 0.04, `token ${k}: ${f} vs ${p[k]! / z}`);
  }
  // top-p 0.5 keeps only the two tied best tokens (each ≈ 0.46 of the mass).
  const top = new Set(
    Array.from({ length: 200 }, (_, i) => sampleToken(logits, { temperature: 1, topP: 0.5 }, i)),
  );
  assert.deepEqual([...top].sort(), [1, 3]);
  assert.throws(() => sampleToken(logits, { temperature: -1 }), /Temperature -1/);
  assert.throws(() => sampleToken(logits, { topP: 0 }), /top-p 0/);
});

Deno.test("generate() greedy output equals argmax decoding with full forwards", async () => {
  const c = llamaConfig({ numLayers: 2 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 41));
  const prompt = [3, 9, 27];
  const seen: number[] = [];
  const r = await generate(model, prompt, { maxNewTokens: 6, onToken: (id) => void seen.push(id) });
  assert.deepEqual(seen, r.tokens);
  const seq = [...prompt];
  for (let i = 0; i < 6; i++) {
    const logits = await model.forward(seq, { lastOnly: true });
    seq.push(sampleToken(logits));
  }
  assert.deepEqual(r.tokens, seq.slice(3));
  assert.equal(r.stopReason, "length");
  const stopAt = r.tokens[2]!;
  const s = await generate(model, prompt, { maxNewTokens: 6, stopTokens: [stopAt] });
  assert.deepEqual(s.tokens, r.tokens.slice(0, r.tokens.indexOf(stopAt) + 1));
  assert.equal(s.stopReason, "stop-token");
});

Deno.test("generate() with a seed reproduces its sample", async () => {
  const c = llamaConfig();
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 42));
  const opts = { maxNewTokens: 8, temperature: 1.5, topP: 0.9, seed: 77 };
  const a = await generate(model, [1, 2], opts);
  const b = await generate(model, [1, 2], opts);
  assert.deepEqual(a.tokens, b.tokens);
  // Another seed, temperature or top-p draws another sample.
  const other = async (o: Partial<typeof opts>) =>
    (await generate(model, [1, 2], { ...opts, ...o })).tokens;
  assert.notDeepEqual(await other({ seed: 78 }), a.tokens);
  assert.notDeepEqual(await other({ temperature: 0 }), a.tokens);
  assert.notDeepEqual(await other({ temperature: 100, topP: 1 }), a.tokens);
  await assert.rejects(() => generate(model, [], opts), /The prompt has no tokens/);
});

Deno.test("generate() stops at max_position_embeddings and rejects longer prompts", async () => {
  const c = llamaConfig({ maxPositionEmbeddings: 6 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 43));
  const r = await generate(model, [1, 2, 3], { maxNewTokens: 10 });
  assert.equal(r.tokens.length, 3);
  await assert.rejects(
    () => generate(model, [1, 2, 3, 4, 5, 6, 7], { maxNewTokens: 1 }),
    /The prompt has 7 tokens; the model's context \(max_position_embeddings\) is 6/,
  );
});
