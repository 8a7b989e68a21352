import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { bpeTokenizerJson, bytesToUnicode, GPT2_SPLIT, trainBpe } from "../../src/data/bpe.ts";
import { loadBrown } from "../../src/data/brown.ts";
import {
  BROWN_TOKENIZER_URL,
  BROWN_VOCAB_SIZE,
  brownTokenizerJsonText,
} from "../../src/data/brown_tokenizer.ts";
import { loadTokenizer } from "../../src/model/loader.ts";
import { TextTokenizer } from "../../src/model/tokenizer.ts";

/** The specification: recount every pair after every merge (same tie rule, same id reuse). */
function naiveBpe(text: string, vocabSize: number): string[] {
  const b2u = bytesToUnicode();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(GPT2_SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  let words = [...counts].map(([w, n]) => ({ ids: [...new TextEncoder().encode(w)], n }));
  const tokens = [...b2u];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const merges: string[] = [];
  while (tokens.length < vocabSize) {
    const pc = new Map<number, number>();
    for (const { ids: w, n } of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const k = w[i]! * 65536 + w[i + 1]!;
        pc.set(k, (pc.get(k) ?? 0) + n);
      }
    }
    let best = -1, bestN = 0;
    for (const [k, n] of pc) if (n > bestN || (n === bestN && k < best)) [best, bestN] = [k, n];
    if (bestN < 2) break;
    const a = Math.floor(best / 65536), b = best % 65536;
    const s = tokens[a]! + tokens[b]!;
    let id = ids.get(s);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(s);
      ids.set(s, id);
    }
    merges.push(`${tokens[a]} ${tokens[b]}`);
    words = words.map(({ ids: w, n }) => {
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id!);
          i++;
        } else out.push(w[i]!);
      }
      return { ids: out, n };
    });
  }
  return merges;
}

Deno.test("trainBpe() learns the same merges as recounting every pair after every merge", async () => {
  const text = (await loadBrown("valid")).slice(0, 30_000);
  for (const size of [300, 700]) {
    const m = trainBpe(text, size);
    assert.deepEqual(m.merges, naiveBpe(text, size), `vocabulary ${size}`);
    // Ids are contiguous: bytes, then one new id per new token.
    const ids = Object.values(m.vocab).sort((x, y) => x - y);
    assert.deepEqual(ids, ids.map((_, i) => i));
    assert.equal(ids.length, size);
  }
  // A text without repeated pairs stops early; bad sizes are refused.
  assert.equal(trainBpe("ab", 300).merges.length, 0);
  assert.throws(
    () => trainBpe("x", 100),
    (e: unknown) =>
      e instanceof QuantlabError && /size 100 is not an integer in \[256/.test(e.message),
  );
});

Deno.test("a trained BPE round-trips text through the runtime tokenizer, BOS first", () => {
  const text = "Brown's corpus -- 1,014,312 words; “quotes”, tabs\tand emoji 🙂 too.";
  const tok = TextTokenizer.fromJson(bpeTokenizerJson(trainBpe(text.repeat(3), 300)), {});
  const ids = tok.encode(text);
  assert.equal(ids[0], 300, "<s> is the id after the vocabulary");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true, cleanUpSpaces: false }), text);
});

Deno.test("the committed Brown tokenizer is its build's output and compresses held-out text", async () => {
  const committed = await Deno.readTextFile(new URL("tokenizer.json", BROWN_TOKENIZER_URL));
  assert.equal(
    committed,
    await brownTokenizerJsonText(),
    "run `deno run -A tools/build_tokenizer.ts` to rebuild",
  );
  const tok = await loadTokenizer(BROWN_TOKENIZER_URL.pathname);
  const valid = await loadBrown("valid");
  const ids = tok.encode(valid, { addSpecialTokens: false });
  assert.ok(ids.every((i) => i >= 0 && i < BROWN_VOCAB_SIZE - 2));
  const perToken = valid.length / ids.length;
  assert.ok(perToken > 3.3, `${perToken.toFixed(2)} characters per token on valid`);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true, cleanUpSpaces: false }), valid);
});
