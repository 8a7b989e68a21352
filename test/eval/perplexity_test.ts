import assert from "node:assert/strict";
import {
  evaluatePerplexity,
  scoredBytes,
  stridedWindows,
  summarizeWindows,
} from "../../src/eval/perplexity.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { tokens } from "../model/helpers.ts";

/** The HF loop from the docs, literally: which labels each window scores. */
function hfWindows(L: number, C: number, S: number): [number, number, number[]][] {
  const out: [number, number, number[]][] = [];
  let prevEnd = 0;
  for (let begin = 0; begin < L; begin += S) {
    const end = Math.min(begin + C, L);
    const trgLen = end - prevEnd;
    const labels: number[] = [];
    // labels = ids[begin:end] with the first len − trgLen set to −100; the shift drops label 0.
    for (let i = 1; i < end - begin; i++) if (i >= end - begin - trgLen) labels.push(begin + i);
    out.push([begin, end, labels]);
    prevEnd = end;
    if (end === L) break;
  }
  return out;
}

Deno.test("stridedWindows() matches the HF strided loop for many lengths, contexts and strides", () => {
  for (const L of [2, 3, 7, 16, 17, 50]) {
    for (const C of [2, 4, 8, 16]) {
      for (const S of [1, 2, 3, C]) {
        if (S > C) continue;
        const ours = stridedWindows(L, C, S);
        const hf = hfWindows(L, C, S).filter(([, , l]) => l.length > 0);
        assert.equal(ours.length, hf.length, `L=${L} C=${C} S=${S}`);
        ours.forEach((w, i) => {
          const [b, e, labels] = hf[i]!;
          assert.deepEqual([w.begin, w.end], [b, e]);
          assert.deepEqual(Array.from({ length: w.scored }, (_, k) => w.firstLabel + k), labels);
        });
      }
    }
  }
  assert.throws(() => stridedWindows(10, 4, 5), /Stride 5 is not valid/);
  assert.throws(() => stridedWindows(1, 4), /at least 2 tokens/);
});

Deno.test("stride < ctx scores every token after the first exactly once", async () => {
  const counts = new Uint32Array(101);
  const recorder = {
    nll: (t: ArrayLike<number>, from = 1) => {
      for (let i = from; i < t.length; i++) counts[t[i]!]!++; // ids are positions here
      return Promise.resolve(new Float64Array(t.length - from).fill(1));
    },
  };
  const ids = Array.from({ length: 101 }, (_, i) => i);
  const r = await evaluatePerplexity(recorder, ids, { ctx: 16, stride: 5 });
  assert.equal(r.scoredTokens, 100);
  assert.equal(counts[0], 0);
  assert.ok(counts.subarray(1).every((c) => c === 1));
});

Deno.test("a uniform-logit model has perplexity equal to the vocabulary size", async () => {
  const c = llamaConfig({ vocabSize: 97 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 51));
  model.setLmHead(new DenseLinear(new Float32Array(97 * c.hiddenSize), 97, c.hiddenSize));
  const r = await evaluatePerplexity(model, tokens(40, 97), { ctx: 16, stride: 8 });
  assert.ok(Math.abs(r.ppl - 97) < 1e-9, `${r.ppl}`);
  assert.equal(r.scoredTokens, 39);
  assert.equal(r.meanNllSe, 0);
});

Deno.test("strided evaluation with stride = ctx equals the sum over independent windows", async () => {
  const c = llamaConfig({ vocabSize: 50 });
  const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 52));
  const ids = tokens(45, 50);
  const r = await evaluatePerplexity(model, ids, { ctx: 10 });
  let sum = 0, n = 0;
  for (let b = 0; b < 45; b += 10) {
    const win = ids.slice(b, b + 10);
    const nll = await model.nll(win, 1);
    sum += nll.reduce((a, v) => a + v, 0);
    n += win.length - 1;
  }
  assert.equal(r.scoredTokens, n);
  assert.ok(Math.abs(r.nllSum - sum) < 1e-9);
  assert.equal(r.windows.length, 5);
  assert.ok(Math.abs(r.ppl - Math.exp(sum / n)) < 1e-9);
});

Deno.test("evaluatePerplexity() skips resumed windows and rejects ones from another layout", async () => {
  const fake = {
    nll: (t: ArrayLike<number>, from = 1) =>
      Promise.resolve(new Float64Array(t.length - from).fill(2)),
  };
  const ids = tokens(30, 10);
  const first = await evaluatePerplexity(fake, ids, { ctx: 8, stride: 4 });
  let calls = 0;
  const counting = { nll: (t: ArrayLike<number>, f = 1) => (calls++, fake.nll(t, f)) };
  const again = await evaluatePerplexity(counting, ids, {
    ctx: 8,
    stride: 4,
    done: first.windows.slice(0, 3),
  });
  assert.equal(calls, first.windows.length - 3);
  assert.equal(again.computedWindows, calls);
  assert.deepEqual(again.windows, first.windows);
  await assert.rejects(
    () => evaluatePerplexity(fake, ids, { ctx: 8, stride: 8, done: first.windows.slice(1, 2) }),
    /does not match/,
  );
});

Deno.test("summarizeWindows() gives the ratio-estimator standard error", () => {
  const w = [3, 5, 4, 8].map((nll, index) => ({ index, begin: 0, end: 0, scored: 2, nll }));
  const s = summarizeWindows(w);
  assert.equal(s.meanNll, 20 / 8);
  // Per-window means 1.5, 2.5, 2, 4 (equal sizes): SE = sd / √4.
  const m = [1.5, 2.5, 2, 4];
  const sd = Math.sqrt(m.reduce((a, v) => a + (v - 2.5) ** 2, 0) / 3);
  assert.ok(Math.abs(s.meanNllSe! - sd / 2) < 1e-12);
  assert.ok(Math.abs(s.pplSe! - s.ppl * s.meanNllSe!) < 1e-12);
  assert.equal(summarizeWindows(w.slice(0, 1)).meanNllSe, null);
});

Deno.test("scoredBytes() leaves out the bytes of tokens no window scores", () => {
  const ids = [0, 1, 2, 3, 4, 5, 6];
  const bytes = (t: number[]) => t.reduce((a, v) => a + v + 1, 0); // token v has v + 1 bytes
  assert.equal(scoredBytes(ids, stridedWindows(7, 7), bytes), 28 - 1);
  assert.equal(scoredBytes(ids, stridedWindows(7, 3), bytes), 28 - 1 - 4 - 7); // 0, 3, 6 unscored
  assert.equal(scoredBytes(ids, stridedWindows(7, 3, 1), bytes), 27);
});
