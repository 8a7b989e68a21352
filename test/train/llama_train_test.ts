import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal, randU32 } from "../../src/core/prng.ts";
import { loadBrown } from "../../src/data/brown.ts";
import { BROWN_TOKENIZER_URL } from "../../src/data/brown_tokenizer.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { loadTokenizer } from "../../src/model/loader.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { LINEAR_KINDS } from "../../src/model/types.ts";
import { AdamW, cosineSchedule } from "../../src/train/adamw.ts";
import { initTrainingWeights, LlamaTrainer, parameterCount } from "../../src/train/llama_train.ts";

const small = (tie: boolean) =>
  llamaConfig({
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    vocabSize: 64,
    intermediateSize: 48,
    tieWordEmbeddings: tie,
  });
const B = 2, T = 7;
const tokens = Array.from({ length: B * T }, (_, i) => (i * 17 + 5) % 64);

/** Every parameter tensor of the trainer, by name, with its gradient. */
function tensors(t: LlamaTrainer): [string, Float32Array, Float32Array][] {
  const w = t.weights, g = t.gradWeights;
  const out: [string, Float32Array, Float32Array][] = [
    ["embed", w.embed, g.embed],
    ["norm", w.norm, g.norm],
  ];
  if (!t.config.tieWordEmbeddings) out.push(["lm_head", w.lmHead.weight, g.lmHead.weight]);
  w.layers.forEach((l, i) => {
    const gl = g.layers[i]!;
    out.push([`${i}.inputNorm`, l.inputNorm, gl.inputNorm], [
      `${i}.postNorm`,
      l.postNorm,
      gl.postNorm,
    ]);
    for (const k of LINEAR_KINDS) {
      out.push([`${i}.${k}`, l[k].weight, gl[k].weight]);
    }
  });
  return out;
}

for (const tie of [false, true]) {
  Deno.test(`LlamaTrainer's loss is the runtime model's mean NLL (tied embeddings: ${tie})`, async () => {
    const c = small(tie);
    const t = new LlamaTrainer(c, randomLlamaWeights(c, 3));
    assert.equal(t.params.length, parameterCount(c));
    const loss = t.loss(tokens, B, T);
    const model = LlamaModel.fromWeights(c, t.weights);
    let nll = 0;
    for (let b = 0; b < B; b++) {
      for (const v of await model.nll(tokens.slice(b * T, (b + 1) * T))) nll += v;
    }
    assert.ok(
      Math.abs(loss / (nll / (B * (T - 1))) - 1) < 1e-6,
      `${loss} vs ${nll / (B * (T - 1))}`,
    );
    // forwardBackward returns the same loss.
    assert.equal(t.forwardBackward(tokens, B, T), loss);
  });

  Deno.test(`LlamaTrainer's gradient matches central differences along 16 random directions and 3 coordinates of every tensor (GQA; tied: ${tie})`, () => {
    const c = small(tie);
    const t = new LlamaTrainer(c, randomLlamaWeights(c, 3));
    t.forwardBackward(tokens, B, T);
    const grads = t.grads.slice();
    const names = tensors(t).map(([name]) => name);
    // Every parameter belongs to exactly one tensor of the list (the tied LM head is the embedding).
    assert.equal(tensors(t).reduce((n, [, p]) => n + p.length, 0), t.params.length);
    assert.ok(names.includes("1.k_proj") && (tie || names.includes("lm_head")), names.join());
    let worst = 0, where = "";
    for (const [ti, [name, p, g0]] of tensors(t).entries()) {
      const g = grads.subarray(g0.byteOffset / 4, g0.byteOffset / 4 + g0.length);
      let gn = 0;
      for (const v of g) gn += v * v;
      gn = Math.sqrt(gn);
      const dirs: Float32Array[] = [];
      for (let r = 0; r < 16; r++) {
        const dir = fillNormal(new Float32Array(g.length), 1000 * ti + r);
        let n = 0;
        for (const v of dir) n += v * v;
        dirs.push(dir.map((v) => v / Math.sqrt(n)));
      }
      // The largest gradient entry and two at random (an entry near 0 would measure the O(h²)
      // truncation, not the gradient).
      let big = 0;
      for (let i = 0; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[big]!)) big = i;
      for (const i of [big, randU32(ti, 7) % g.length, randU32(ti, 8) % g.length]) {
        const dir = new Float32Array(g.length);
        dir[i] = 1;
        dirs.push(dir);
      }
      const h = 3e-2;
      for (const [di, dir] of dirs.entries()) {
        let analytic = 0;
        for (let i = 0; i < g.length; i++) analytic += g[i]! * dir[i]!;
        const orig = p.slice();
        for (let i = 0; i < p.length; i++) p[i] = orig[i]! + h * dir[i]!;
        const up = t.loss(tokens, B, T);
        for (let i = 0; i < p.length; i++) p[i] = orig[i]! - h * dir[i]!;
        const down = t.loss(tokens, B, T);
        p.set(orig);
        const numeric = (up - down) / (2 * h);
        // h = 3e-2: the f32 forward's rounding of the loss (~2e-6) over 2h stays near 3e-5 (at
        // 1e-2 it reached 1e-4 on the tied model), the O(h²) truncation under 2 % here.
        const bound = 2e-2 * Math.abs(analytic) + 1e-4;
        if (Math.abs(numeric - analytic) / bound > worst) {
          worst = Math.abs(numeric - analytic) / bound;
          where = `${name} direction ${di}: numeric ${numeric}, analytic ${analytic}`;
        }
        assert.ok(
          Math.abs(numeric - analytic) <= bound,
          `${name} direction ${di}: numeric ${numeric}, analytic ${analytic} (‖g‖ ${gn})`,
        );
      }
    }
    console.log(`worst |numeric − analytic| / bound: ${worst.toFixed(3)} (${where})`);
  });
}

Deno.test("LlamaTrainer refuses bad batches and configs it cannot train", () => {
  const c = small(false);
  const t = new LlamaTrainer(c, randomLlamaWeights(c, 1));
  assert.throws(() => t.loss([1, 2, 3], 2, 2), /2 × 2 tokens \(T ≥ 2\) needs 4 ids; got 3/);
  assert.throws(() => t.loss([1, 2, 3, 64], 2, 2), /Token 64 at 3 is not in \[0, 64\)/);
  const q = llamaConfig({ architecture: "Qwen2ForCausalLM" });
  assert.throws(
    () => new LlamaTrainer(q, randomLlamaWeights(q, 1)),
    (e: unknown) =>
      e instanceof QuantlabError && /without biases or sliding windows/.test(e.message),
  );
});

Deno.test("AdamW with the cosine schedule lowers the loss on Brown text with the project tokenizer", async () => {
  const tok = await loadTokenizer(BROWN_TOKENIZER_URL.pathname);
  const ids = tok.encode((await loadBrown("valid")).slice(0, 40_000), { addSpecialTokens: false });
  const c = llamaConfig({
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    vocabSize: 4096,
    intermediateSize: 128,
    tieWordEmbeddings: true,
  });
  const t = new LlamaTrainer(c, initTrainingWeights(c, 2));
  const opt = new AdamW(t.params.length, { weightDecay: 0 });
  const [bs, len] = [4, 32];
  const batch = (s: number) => ids.slice(s * bs * len, (s + 1) * bs * len);
  const held = ids.slice(ids.length - bs * len);
  const before = t.loss(held, bs, len);
  const steps = 60;
  for (let s = 0; s < steps; s++) {
    t.forwardBackward(batch(s), bs, len);
    opt.step(t.params, t.grads, cosineSchedule(s, steps, 5, 3e-3));
  }
  const after = t.loss(held, bs, len);
  // From near-uniform (ln 4096 ≈ 8.32) the held-out loss must drop clearly.
  assert.ok(Math.abs(before - Math.log(4096)) < 0.05, `initial loss ${before}`);
  assert.ok(after < before - 0.9, `held-out loss ${before.toFixed(3)} → ${after.toFixed(3)}`);
  assert.equal(opt.steps, steps);
});
