/**
 * `quantlab sensitivity MODEL (--text FILE | --random) --out sens.json`: the per-projection
 * sensitivities α_l of the HIGGS linearity model (`src/jobs/linearity.ts`): Gaussian noise
 * at several levels t² in one projection at a time, α = the slope through the origin of the
 * metric's change on t². With `--text`, the metric is perplexity on the first `--windows`
 * windows of `--ctx` tokens of the text; with `--random` it is the data-free KL divergence from
 * the unperturbed model on random tokens. Resumable: each measurement goes to
 * `<out>.points.jsonl`; a rerun continues from it. `quantlab allocate` reads the results.
 *
 * @module
 */
import { type Command, commandBackend, intFlag, UsageError } from "../command.ts";
import { progress } from "../progress.ts";
import { formatTable } from "../table.ts";
import { evalWindows, TEXT_CORPORA, textInput } from "../text_source.ts";
import { metricText, windowFlags } from "../linearity_flags.ts";
import { loadModel } from "../../model/loader.ts";
import { modelHash } from "../../io/model_folder.ts";
import { LINEAR_KINDS } from "../../model/types.ts";
import { runSensitivityJob } from "../../jobs/sensitivity.ts";
import type { ProjectionRef } from "../../jobs/linearity.ts";
import { outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";
import { warnCtx } from "../warn.ts";
import {
  prepareShardableResults,
  refuseWithShard,
  SHARD_FLAGS,
  shardFromArgs,
} from "../shard_flags.ts";
import { shardResultPath } from "../../jobs/result_shards.ts";
import { ownedUnits, shardLabel } from "../../jobs/shard_plan.ts";

/** Parses "0-3,7" into layer indices below `layers`. */
function parseLayers(spec: string, layers: number): number[] {
  const out = new Set<number>();
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const a = m ? Number(m[1]) : NaN, b = m?.[2] !== undefined ? Number(m[2]) : a;
    if (!m || a > b || b >= layers) {
      throw new UsageError(
        `--layers ${spec} is not valid; use indices or ranges in 0…${layers - 1}, e.g. 0-3,7`,
      );
    }
    for (let l = a; l <= b; l++) out.add(l);
  }
  return [...out].sort((x, y) => x - y);
}

/** Parses "6,5,4,2.5" into levels 4^−6, 4^−5, 4^−4, 4^−2.5. */
function parseLevels(spec: string): number[] {
  const ks = spec.split(",").map((s) => Number(s.trim()));
  if (!ks.length || ks.some((k) => !Number.isInteger(2 * k) || k < 1 || k > 12)) {
    throw new UsageError(
      `--levels ${spec} is not valid; use k in 1…12 in steps of 0.5 (levels t² = 4^-k), ` +
        "e.g. 6,5,4,3,2",
    );
  }
  return ks.map((k) => 4 ** -k);
}

/** The `sensitivity` command. */
export const sensitivityCommand: Command = {
  name: "sensitivity",
  summary: "per-projection sensitivities α of the linearity model (noise injection; PPL or KL)",
  usage: "quantlab sensitivity MODEL (--text FILE | --random) [--ctx 256] [--windows 4] " +
    "[--levels 6,5,4,3,2] [--draws 1 [--antithetic]] [--noise-block 0] [--layers 0-3] [--seed 0] [--out sens.json [--force | --resume] [--shard I/N]]",
  examples: [
    "quantlab sensitivity assets/tiny-llama --random --ctx 32 --windows 1 --levels 4 --layers 0 -o /tmp/ql-sens.json",
    "quantlab sensitivity assets/tiny-llama --random --ctx 32 --windows 1 --levels 4 --layers 0 -o /tmp/ql-sens-sharded.json --shard 1/2",
    "quantlab sensitivity assets/tiny-llama --random --ctx 32 --windows 1 --levels 4 --layers 0 -o /tmp/ql-sens-sharded.json --shard 2/2",
  ],
  flags: {
    ...windowFlags("4", {
      text: `UTF-8 text (or ${TEXT_CORPORA}): the metric is perplexity on it`,
      random: "data-free: KL from the unperturbed model on random tokens",
    }),
    levels: { type: "string", default: "6,5,4,3,2", help: "noise levels t² = 4^-k, as k list" },
    layers: { type: "string", help: "decoder layers to measure, e.g. 0-3,7 (default all)" },
    seed: { type: "string", default: "0", help: "noise seed (and random-token seed)" },
    draws: { type: "string", default: "1", help: "noise draws per level (averages out noise)" },
    "noise-block": {
      type: "string",
      default: "0",
      help: "noise σ ∝ RMS of each run of N columns (like HIGGS blocks); 0 = isotropic",
    },
    antithetic: {
      type: "boolean",
      help: "draw noise in ±ε pairs (cancels the first-order term; needs even --draws)",
    },
    out: { type: "string", short: "o", help: "results JSON (written atomically; enables resume)" },
    log: { type: "string", help: "measurement log for resuming (default: <out>.points.jsonl)" },
    ...outputModeFlags({ resumable: true }),
    ...SHARD_FLAGS,
    ...QUIET_FLAG,
  },
  cpuOnly: "runs the model on the CPU (it swaps layers)",
  inputs: (args) => [{ path: args.positionals[0], what: "MODEL" }, textInput(args)],
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("sensitivity needs exactly one MODEL folder; see --help");
    }
    const shard = shardFromArgs(args);
    if (shard) {
      if (typeof args.values.out !== "string") {
        throw new UsageError(
          `--shard ${shardLabel(shard)} needs --out sens.json: the shard's files go beside it`,
        );
      }
      refuseWithShard(args, "log", "each shard logs to <out>.shard-I-of-N.points.jsonl");
    }
    await commandBackend(sensitivityCommand, args);
    const textPath = metricText(args);
    const random = textPath === null;
    const ctx = intFlag(args, "ctx", 256, 2, 1 << 20);
    const count = intFlag(args, "windows", 4, 1, 1 << 20);
    const levels = parseLevels(String(args.values.levels));
    const seed = intFlag(args, "seed", 0, 0, 0xffffffff);
    const draws = intFlag(args, "draws", 1, 1, 1024);
    const antithetic = Boolean(args.values.antithetic);
    const noiseBlock = intFlag(args, "noise-block", 0, 0, 1 << 20);
    if (antithetic && draws % 2 !== 0) {
      throw new UsageError(`--antithetic needs an even --draws (pairs ±ε); got --draws ${draws}`);
    }
    const { out, log } = await prepareShardableResults(args, shard, ".points.jsonl");
    const quiet = Boolean(args.values.quiet);

    const model = await loadModel(dir);
    const c = model.config;
    warnCtx("sensitivity", ctx, c.maxPositionEmbeddings);
    const layers = typeof args.values.layers === "string"
      ? parseLayers(args.values.layers, c.numLayers)
      : Array.from({ length: c.numLayers }, (_, l) => l);
    const projections: ProjectionRef[] = layers.flatMap((layer) =>
      LINEAR_KINDS.map((kind) => ({ layer, kind }))
    );
    const { windows, textSha256 } = await evalWindows(
      dir,
      textPath,
      count,
      ctx,
      c.vocabSize,
      seed + 1,
    );
    const metric = random ? "kl" as const : "ppl" as const;
    const units = projections.length * levels.length * draws;
    const mine = shard ? ownedUnits(units, shard).length : units;
    const bar = progress("sensitivity", mine, { quiet });
    let last = 0;
    const r = await runSensitivityJob({
      model,
      windows,
      key: {
        // Hashing reads every byte of the weights: only for a run that writes or resumes.
        modelHash: out || log ? await modelHash(dir) : "not computed (no --out)",
        metric,
        textSha256,
        ctx,
        windows: count,
        levels,
        seed,
        draws,
        antithetic,
        noiseBlock,
      },
      projections,
      ...(log ? { logPath: log } : {}),
      ...(out ? { outPath: out } : {}),
      ...(shard ? { shard } : {}),
      config: { modelPath: dir, textPath: random ? null : textPath, layers },
      modelInfo: {
        architecture: c.architecture,
        numLayers: c.numLayers,
        hiddenSize: c.hiddenSize,
        vocabSize: c.vocabSize,
      },
      onProgress: (done) => {
        bar.tick(done - last);
        last = done;
      },
    });
    bar.done();
    if (shard) {
      console.log(
        `shard        ${shardLabel(shard)}: ${mine} of ${units} measurements` +
          (r.resumedPoints ? ` (${r.resumedPoints} resumed from ${log})` : "") +
          ` → ${shardResultPath(out!, shard)}`,
      );
      console.log(`next         quantlab merge ${out} (once all ${shard.count} shards are done)`);
      return;
    }
    const unit = metric === "kl" ? "ΔKL (nats/token)" : "ΔPPL";
    console.log(`model        ${dir} (${c.architecture}, ${layers.length} layers measured)`);
    console.log(
      `metric       ${
        metric === "kl" ? "KL from the unperturbed model, random tokens" : "perplexity"
      }` +
        `, ${count} × ${ctx} tokens, t² = ${
          levels.map((v) => `4^${+(Math.log(v) / Math.log(4)).toFixed(1)}`).join(", ")
        }` + (draws > 1 ? `, ${draws} ${antithetic ? "antithetic " : ""}draws each` : "") +
        (noiseBlock ? `; noise σ ∝ RMS of each ${noiseBlock}-column block` : "; isotropic noise"),
    );
    const sorted = [...r.projections].sort((a, b) => b.alpha - a.alpha);
    console.log(`\nmost sensitive (α = ${unit} per unit t²):`);
    console.log(formatTable(
      ["projection", "α", "fit R²"],
      sorted.slice(0, 10).map((p) => [p.name, p.alpha.toPrecision(4), p.r2.toFixed(4)]),
    ));
    const byKind = LINEAR_KINDS.map((k) => {
      const ps = r.projections.filter((p) => p.kind === k);
      return [k, (ps.reduce((s, p) => s + p.alpha, 0) / ps.length).toPrecision(4)];
    });
    console.log(`\nmean α by projection kind:`);
    console.log(formatTable(["kind", "mean α"], byKind));
    const minR2 = Math.min(...r.projections.map((p) => p.r2));
    console.log(
      `\nlowest fit R² ${minR2.toFixed(4)}` +
        (minR2 < 0.9 ? " (below 0.9: the response is not linear in t² there)" : "") +
        (r.resumedPoints ? `; ${r.resumedPoints} measurements resumed from ${log}` : ""),
    );
    if (out) console.log(`results      ${out}`);
  },
};
