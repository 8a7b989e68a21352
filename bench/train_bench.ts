/**
 * Training throughput of the tiny Llama on the CPU (`src/train/llama_train.ts`): one forward +
 * backward of 8 × 256 tokens (d_model 256, 4 layers, intermediate 768, vocab 4096, tied
 * embeddings), in tokens/s and GFLOP/s (3 × the forward's FLOPs: the backward does two products
 * per forward product), against BLAS sgemm on the step's own GEMM shapes in the same run (the
 * roofline: the same products with nothing else), and the AdamW update against a copy of the
 * parameters' bytes.
 *
 * Run: `deno bench -A bench/train_bench.ts`
 *
 * @module
 */
import { sgemm } from "../src/cpu/matmul.ts";
import { llamaConfig, TINY_LLAMA_SHAPE } from "../src/model/config.ts";
import { llamaForwardFlops } from "../src/model/llama.ts";
import { LINEAR_KINDS, projectionShape } from "../src/model/types.ts";
import { AdamW } from "../src/train/adamw.ts";
import { initTrainingWeights, LlamaTrainer } from "../src/train/llama_train.ts";
import { medianMs } from "./timing.ts";

const B = 8, T = 256, N = B * T;
const config = llamaConfig({ ...TINY_LLAMA_SHAPE, tieWordEmbeddings: true });
const trainer = new LlamaTrainer(config, initTrainingWeights(config, 1));
const tokens = Array.from({ length: N }, (_, i) => (i * 7919 + 13) % config.vocabSize);
const opt = new AdamW(trainer.params.length);

// The step's products: per layer each projection forward (N × out × in) and its two backward
// products, and the LM head likewise; the same count as 3 × the forward's projection FLOPs.
const shapes = [...LINEAR_KINDS.map((k) => projectionShape(config, k))];
const maxIn = Math.max(config.intermediateSize, config.hiddenSize, config.vocabSize);
const a = new Float32Array(N * maxIn).map((_, i) => Math.sin(i) * 0.1);
const c = new Float32Array(N * maxIn);
const ws = shapes.map(([o, i]) => new Float32Array(o * i).map((_, j) => Math.cos(j) * 0.05));
const lm = new Float32Array(config.vocabSize * config.hiddenSize).fill(0.01);
const gw = new Float32Array(config.vocabSize * config.hiddenSize);
function gemms(): void {
  const run = (o: number, i: number, w: Float32Array, g: Float32Array) => {
    sgemm({
      transB: true,
      M: N,
      N: o,
      K: i,
      A: a.subarray(0, N * i),
      B: w,
      C: c.subarray(0, N * o),
    });
    sgemm({ M: N, N: i, K: o, A: c.subarray(0, N * o), B: w, C: a.subarray(0, N * i) });
    sgemm({
      transA: true,
      M: o,
      N: i,
      K: N,
      A: c.subarray(0, N * o),
      B: a.subarray(0, N * i),
      C: g,
    });
  };
  for (let l = 0; l < config.numLayers; l++) {
    shapes.forEach(([o, i], k) => run(o, i, ws[k]!, new Float32Array(o * i)));
  }
  run(config.vocabSize, config.hiddenSize, lm, gw);
}
const gemmFlops = 3 * 2 * N *
  (config.numLayers * shapes.reduce((s, [o, i]) => s + o * i, 0) +
    config.vocabSize * config.hiddenSize);
const stepFlops = 3 * B * llamaForwardFlops(config, T);

const tStep = await medianMs(() => trainer.forwardBackward(tokens, B, T), 5);
const tGemm = await medianMs(gemms, 5);
const grads = trainer.grads.slice();
const tAdam = await medianMs(() => opt.step(trainer.params, grads, 1e-4), 5);
const copy = new Float32Array(trainer.params.length);
const tCopy = await medianMs(() => copy.set(trainer.params), 9);
console.log(
  `train step ${B}×${T} tokens: ${tStep.toFixed(0)} ms = ${(N / tStep * 1000).toFixed(0)} tok/s, ` +
    `${(stepFlops / tStep / 1e6).toFixed(1)} GFLOP/s; sgemm on the same products ` +
    `${(gemmFlops / tGemm / 1e6).toFixed(1)} GFLOP/s → ${
      ((stepFlops / tStep) / (gemmFlops / tGemm)).toFixed(2)
    }× sgemm`,
);
console.log(
  `AdamW on ${trainer.params.length} parameters: ${tAdam.toFixed(1)} ms; copy of the params ` +
    `${tCopy.toFixed(2)} ms → ${
      (tCopy * 3.5 / tAdam).toFixed(2)
    }× copy bandwidth (it reads 4 arrays and writes 3)`,
);
Deno.bench({
  name: "train step 8×256 (tiny Llama)",
  n: 3,
  warmup: 1,
  fn: () => void trainer.forwardBackward(tokens, B, T),
});
