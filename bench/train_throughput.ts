/**
 * Training throughput of quantlab's CPU trainer on one shape: `--steps` optimizer steps
 * (forward, backward and AdamW on random tokens, after one warmup step), printed as tokens/s and
 * as one JSON line for scripts (`bench/train_vs_torch.sh` runs it beside PyTorch). The default
 * shape is the embedded tiny Llama's (d 256, 4 layers, 4 heads, SwiGLU 768, vocab 4096, tied),
 * batch 32 × 256.
 *
 * Run: `deno run -A bench/train_throughput.ts [--batch 32] [--ctx 256] [--steps 5]
 * [--layers 4] [--hidden 256] [--heads 4] [--kv-heads 4] [--intermediate 768] [--trainer PATH]`
 * (`--trainer` imports `LlamaTrainer` from another copy of `llama_train.ts`, to compare two
 * versions in one run).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../src/model/config.ts";
import { AdamW } from "../src/train/adamw.ts";
import { initTrainingWeights, LlamaTrainer } from "../src/train/llama_train.ts";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "32" },
    ctx: { type: "string", default: "256" },
    steps: { type: "string", default: "5" },
    layers: { type: "string", default: String(TINY_LLAMA_SHAPE.numLayers) },
    hidden: { type: "string", default: String(TINY_LLAMA_SHAPE.hiddenSize) },
    heads: { type: "string", default: String(TINY_LLAMA_SHAPE.numHeads) },
    "kv-heads": { type: "string" },
    intermediate: { type: "string", default: String(TINY_LLAMA_SHAPE.intermediateSize) },
    trainer: { type: "string" },
  },
});
const B = Number(values.batch), T = Number(values.ctx), steps = Number(values.steps);
const heads = Number(values.heads);
const config = llamaConfig({
  ...TINY_LLAMA_SHAPE,
  numLayers: Number(values.layers),
  hiddenSize: Number(values.hidden),
  numHeads: heads,
  numKvHeads: Number(values["kv-heads"] ?? heads),
  intermediateSize: Number(values.intermediate),
  vocabSize: 4096,
  tieWordEmbeddings: true,
});
const Trainer: typeof LlamaTrainer = values.trainer
  ? (await import(new URL(values.trainer, `file://${Deno.cwd()}/`).href)).LlamaTrainer
  : LlamaTrainer;
const trainer = new Trainer(config, initTrainingWeights(config, 1));
const opt = new AdamW(trainer.params.length);
const tokens = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % config.vocabSize);
const step = () => {
  trainer.forwardBackward(tokens, B, T);
  opt.step(trainer.params, trainer.grads, 1e-4);
};
step();
const t0 = performance.now();
for (let s = 0; s < steps; s++) step();
const seconds = (performance.now() - t0) / 1000;
const tps = (steps * B * T) / seconds;
console.log(
  `quantlab ${values.trainer ?? "trainer"}: ${B}×${T}, ${steps} steps: ${tps.toFixed(0)} tok/s`,
);
console.log(
  JSON.stringify({ impl: "quantlab", batch: B, ctx: T, steps, seconds, tokensPerSecond: tps }),
);
