/**
 * `quantlab train --out DIR`: trains the project's tiny Llama on the embedded Brown corpus
 * (`src/train/train_job.ts`): resumable, progress on stderr, a Hugging Face folder at the end.
 *
 * @module
 */
import { type Command, intFlag, numberFlag, UsageError } from "../command.ts";
import { progress } from "../progress.ts";
import { trainTinyLlama } from "../../jobs/train.ts";

/** The `train` command. */
export const trainCommand: Command = {
  name: "train",
  summary: "train the tiny Llama on the embedded Brown corpus (CPU; resumable)",
  usage: "quantlab train --out DIR [--steps 900] [--batch 8] [--ctx 256] [--lr 3e-3] [--seed 1]",
  flags: {
    out: { type: "string", short: "o", help: "output folder (model, log, checkpoint)" },
    steps: { type: "string", default: "900", help: "optimizer steps" },
    batch: { type: "string", default: "8", help: "sequences per step" },
    ctx: { type: "string", default: "256", help: "tokens per sequence" },
    lr: { type: "string", default: "3e-3", help: "peak learning rate (cosine schedule)" },
    seed: { type: "string", default: "1", help: "seed of the initialization and batch order" },
    quiet: { type: "boolean", help: "no progress bar" },
  },
  cpuOnly: "trains on the CPU only",
  async run(args) {
    const out = args.values.out;
    if (typeof out !== "string" || !out) throw new UsageError("--out DIR is required");
    const steps = intFlag(args, "steps", 900, 1, 10_000_000);
    const bar = progress("train", steps, { quiet: Boolean(args.values.quiet) });
    let valid = "";
    const r = await trainTinyLlama({
      out,
      steps,
      batch: intFlag(args, "batch", 8, 1, 4096),
      ctx: intFlag(args, "ctx", 256, 2, 4096),
      lr: numberFlag(args, "lr", 3e-3, 1e-6, 1),
      seed: intFlag(args, "seed", 1, 0, 0xffffffff),
      onStep: (s) =>
        bar.tick(1, `loss ${s.loss.toFixed(3)}${valid}, ${s.tokensPerSecond.toFixed(0)} tok/s`),
      onEval: (s) => void (valid = `, valid ${s.validLoss.toFixed(3)}`),
    });
    bar.done();
    console.log(
      `trained ${r.steps} steps` + (r.resumedSteps ? ` (${r.resumedSteps} resumed)` : "") +
        `: train loss ${r.trainLoss.toFixed(3)}, valid loss ${r.validLoss.toFixed(3)} ` +
        `(perplexity ${r.validPpl.toFixed(2)}) → ${r.out}`,
    );
  },
};
