/**
 * `quantlab train --out DIR`: trains a Llama on the embedded Brown corpus, or with `--data
 * brown,sotu` on Brown and the State of the Union addresses (`src/jobs/train.ts`): the tiny Llama's shape by default, any other through the shape
 * flags (GQA with `--kv-heads`, untied embeddings with `--untied`); resumable, progress on
 * stderr, a Hugging Face folder and `training.json` (every setting) at the end.
 *
 * @module
 */
import {
  type Command,
  intFlag,
  numberFlag,
  outputMode,
  type ParsedArgs,
  UsageError,
} from "../command.ts";
import { progress } from "../progress.ts";
import type { LlamaConfig } from "../../model/config.ts";
import { trainTinyLlama } from "../../jobs/train.ts";
import { outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";
import { refuseExistingOutputs } from "../../io/output_guard.ts";
import { CORPORA, corpusName } from "../../data/corpus.ts";

/** The model shape from the shape flags (those not given keep the tiny Llama's). */
function shapeFlags(args: ParsedArgs): Partial<LlamaConfig> {
  const shape: Partial<LlamaConfig> = {};
  const int = (flag: string, key: keyof LlamaConfig, max: number) => {
    if (args.values[flag] !== undefined) {
      (shape as Record<string, number>)[key] = intFlag(args, flag, 0, 1, max);
    }
  };
  int("layers", "numLayers", 256);
  int("hidden", "hiddenSize", 65536);
  int("heads", "numHeads", 1024);
  int("kv-heads", "numKvHeads", 1024);
  int("intermediate", "intermediateSize", 262144);
  // GQA defaults to one key/value head per query head.
  if (shape.numHeads !== undefined && shape.numKvHeads === undefined) {
    shape.numKvHeads = shape.numHeads;
  }
  if (args.values.untied) shape.tieWordEmbeddings = false;
  const d = shape.hiddenSize ?? 256, h = shape.numHeads ?? 4, kv = shape.numKvHeads ?? h;
  if (d % h !== 0 || (d / h) % 2 !== 0 || h % kv !== 0) {
    throw new UsageError(
      `--hidden ${d} must be an even multiple of --heads ${h} (head size ${d / h}), and ` +
        `--heads a multiple of --kv-heads ${kv}`,
    );
  }
  return shape;
}

/** The `train` command. */
export const trainCommand: Command = {
  name: "train",
  summary: "train the tiny Llama on the embedded Brown corpus (CPU; resumable)",
  usage: "quantlab train --out DIR [--force | --resume] [--data brown] [--steps 900] [--batch 8] " +
    "[--ctx 256] [--lr 3e-3] " +
    "[--warmup 50] [--weight-decay 0.1] [--grad-clip 1] [--seed 1] [--eval-every 100] " +
    "[--layers 4] [--hidden 256] [--heads 4] [--kv-heads 4] [--intermediate 768] [--untied]",
  examples: ["quantlab train -o /tmp/ql-train --steps 2 --batch 1 --ctx 32 --eval-windows 1"],
  flags: {
    out: {
      type: "string",
      short: "o",
      help: "output folder (model, log, checkpoint); new or empty",
    },
    ...outputModeFlags({
      resumable: true,
      force: "start over in an existing --out (its checkpoint and log are discarded)",
    }),
    data: {
      type: "string",
      default: "brown",
      help: `corpora to train on, comma-separated (${CORPORA.join(", ")}); valid loss on brown`,
    },
    steps: { type: "string", default: "900", help: "optimizer steps" },
    batch: { type: "string", default: "8", help: "sequences per step" },
    ctx: { type: "string", default: "256", help: "tokens per sequence" },
    lr: { type: "string", default: "3e-3", help: "peak learning rate (cosine schedule)" },
    warmup: { type: "string", default: "50", help: "linear warmup steps" },
    "weight-decay": {
      type: "string",
      help: "AdamW decoupled weight decay of the matrices (default 0.1)",
    },
    "grad-clip": {
      type: "string",
      help: "global gradient-norm clip, 0 = none (default 1; a first-trainer checkpoint: none)",
    },
    seed: { type: "string", default: "1", help: "seed of the initialization and batch order" },
    "eval-every": { type: "string", default: "100", help: "steps between validation losses" },
    "eval-windows": { type: "string", default: "32", help: "validation windows of --ctx tokens" },
    "checkpoint-every": { type: "string", default: "25", help: "steps between checkpoints" },
    layers: { type: "string", help: "decoder layers (default 4)" },
    hidden: { type: "string", help: "hidden size (default 256)" },
    heads: { type: "string", help: "attention heads (default 4)" },
    "kv-heads": { type: "string", help: "key/value heads, < --heads for GQA (default --heads)" },
    intermediate: { type: "string", help: "SwiGLU intermediate size (default 768)" },
    untied: { type: "boolean", help: "an LM head of its own (default: tied to the embedding)" },
    ...QUIET_FLAG,
  },
  cpuOnly: "trains on the CPU only",
  async run(args) {
    const out = args.values.out;
    if (typeof out !== "string" || !out) throw new UsageError("--out DIR is required");
    const mode = outputMode(args);
    const steps = intFlag(args, "steps", 900, 1, 10_000_000);
    // Every flag is read before the output is checked: a bad value is named first.
    const settings = {
      out,
      fresh: mode === "force",
      data: String(args.values.data ?? "brown").split(",").map((d) => corpusName(d.trim())),
      steps,
      batch: intFlag(args, "batch", 8, 1, 4096),
      ctx: intFlag(args, "ctx", 256, 2, 4096),
      lr: numberFlag(args, "lr", 3e-3, 1e-6, 1),
      seed: intFlag(args, "seed", 1, 0, 0xffffffff),
      warmup: intFlag(args, "warmup", 50, 0, 10_000_000),
      ...(args.values["weight-decay"] !== undefined
        ? { weightDecay: numberFlag(args, "weight-decay", 0.1, 0, 10) }
        : {}),
      ...(args.values["grad-clip"] !== undefined
        ? { gradClip: numberFlag(args, "grad-clip", 1, 0, 1e6) }
        : {}),
      evalEvery: intFlag(args, "eval-every", 100, 1, 10_000_000),
      evalWindows: intFlag(args, "eval-windows", 32, 1, 1_000_000),
      checkpointEvery: intFlag(args, "checkpoint-every", 25, 1, 10_000_000),
      shape: shapeFlags(args),
    };
    await refuseExistingOutputs([{ path: out, what: "--out" }], mode, { resumable: true });
    // Made at the first step, which tells how many steps a resumed run starts with.
    let bar: ReturnType<typeof progress> | undefined;
    let valid = "";
    const r = await trainTinyLlama({
      ...settings,
      onStep: (s) =>
        (bar ??= progress("train", steps, {
          quiet: Boolean(args.values.quiet),
          startAt: s.step - 1,
        })).tick(1, `loss ${s.loss.toFixed(3)}${valid}, ${s.tokensPerSecond.toFixed(0)} tok/s`),
      onEval: (s) =>
        void (valid = `, valid ${s.validLoss.toFixed(3)}` +
          Object.entries(s.otherValid).map(([d, l]) => ` (${d} ${l.toFixed(3)})`).join("")),
    });
    bar?.done();
    console.log(
      `trained ${r.steps} steps` + (r.resumedSteps ? ` (${r.resumedSteps} resumed)` : "") +
        `: train loss ${r.trainLoss.toFixed(3)}, valid loss ${r.validLoss.toFixed(3)} ` +
        `(perplexity ${r.validPpl.toFixed(2)})` +
        Object.entries(r.otherValidLoss).map(([d, l]) => `, ${d} valid loss ${l.toFixed(3)}`)
          .join("") +
        ` → ${r.out}`,
    );
  },
};
