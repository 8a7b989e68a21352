/**
 * `quantlab linearity MODEL --sensitivities s.json (--text FILE | --random) --out r.json`: the
 * check of the linearity model. The whole model is quantized with HIGGS under many grid
 * assignments (each grid everywhere, random mixes, the optimal allocation at `--budgets`), and
 * each measured change of the metric (ΔPPL on the text, or the KL divergence from the dense model
 * on random tokens) is set against the prediction Σ α_l·t_l² from the sensitivities
 * (`src/experiments/linearity_check.ts`). Resumable: each row goes to `<out>.rows.jsonl`; the
 * results JSON is written atomically at the end.
 *
 * @module
 */
import { choiceFlag, type Command, commandBackend, intFlag, UsageError } from "../command.ts";
import { progress } from "../progress.ts";
import { formatTable } from "../table.ts";
import { evalWindows, TEXT_CORPORA, textInput } from "../text_source.ts";
import { HIGGS_GRID_FLAGS, metricText, windowFlags } from "../linearity_flags.ts";
import { parseGrids } from "./allocate.ts";
import { loadModel } from "../../model/loader.ts";
import { modelHash } from "../../io/model_folder.ts";
import type { LinearKind } from "../../model/types.ts";
import {
  type BaselineMethod,
  higgsGridOptions,
  linearityConfigs,
} from "../../jobs/linearity_configs.ts";
import { summarizeLinearity } from "../../jobs/linearity_summary.ts";
import { runLinearityJob } from "../../jobs/linearity_run.ts";
import { shardResultPath } from "../../jobs/result_shards.ts";
import { ownedUnits, shardLabel } from "../../jobs/shard_plan.ts";
import { readSensitivityFile } from "../../jobs/sensitivity.ts";
import type { QuantMethod } from "../../quant/format.ts";
import type { QuantOptions } from "../../quant/quantizer.ts";
import { availableMethods } from "../../quant/registry.ts";
import { outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";
import { warnCtx } from "../warn.ts";
import { prepareShardableResults, SHARD_FLAGS, shardFromArgs } from "../shard_flags.ts";

/** Parses "2.5,3,3.5" into budgets. */
function parseBudgets(spec: string): number[] {
  if (spec.trim() === "") return [];
  return spec.split(",").map((part) => {
    const b = Number(part.trim());
    if (!(Number.isFinite(b) && b > 0 && b <= 32)) {
      throw new UsageError(
        `--budgets ${spec} is not valid; use bits per weight in (0, 32], e.g. 2.5,3,3.5`,
      );
    }
    return b;
  });
}

/**
 * Parses a `--baseline` spec `method[:key=value,…]` (keys bits, group, axis, p, n, hadamard; any
 * other key goes to the method's extra options), e.g. `hqq:bits=3,group=64,axis=0`.
 */
export function parseBaseline(spec: string): BaselineMethod {
  const m = /^([a-z0-9]+)(?::(.*))?$/.exec(spec.trim());
  const bad = (why: string): never => {
    throw new UsageError(
      `--baseline ${spec} is not valid (${why}); use method:key=value,…, e.g. hqq:bits=3,group=64,axis=0`,
    );
  };
  if (!m) return bad("no method");
  const method = m[1]!;
  if (!availableMethods().includes(method as QuantMethod)) {
    bad(`methods: ${availableMethods().join(", ")}`);
  }
  const options: QuantOptions = {};
  const extra: Record<string, string | number | boolean> = {};
  for (const kv of (m[2] ?? "").split(",").filter((x) => x.trim() !== "")) {
    const [k, v] = kv.split("=").map((x) => x.trim());
    if (!k || v === undefined || v === "") bad(`"${kv}" is not key=value`);
    const num = Number(v);
    if (k === "bits") options.bits = num;
    else if (k === "group") options.groupSize = v === "row" ? null : num;
    else if (k === "axis") options.axis = num as 0 | 1;
    else if (k === "p") options.p = num;
    else if (k === "n") options.gridSize = num;
    else if (k === "hadamard") options.hadamard = num;
    else extra[k!] = v === "true" ? true : v === "false" ? false : Number.isFinite(num) ? num : v!;
  }
  if (Object.keys(extra).length) options.extra = extra;
  return { label: spec.trim(), method: method as QuantMethod, options };
}

/** The `linearity` command. */
export const linearityCommand: Command = {
  name: "linearity",
  summary: "check the linearity model: measured vs predicted Σ α·t² over many grid assignments",
  usage: "quantlab linearity MODEL --sensitivities s.json (--text FILE | --random) " +
    "[--ctx 256] [--windows 8] [--grids 2:16,2:64,2:256,2:4096] [--hadamard 1024] " +
    "[--scale-rule rms|unbiased] " +
    "[--mixes 8] [--budgets 2.5,3,3.5] [--baseline method:key=value,…] [--single p:n] " +
    "[--seed 0] [--out r.json [--force | --resume] [--shard I/N]]",
  examples: [
    "quantlab linearity assets/tiny-llama -s /tmp/ql-sens.json --random --ctx 32 --windows 1 --mixes 1 --budgets 3 --hadamard 256",
  ],
  flags: {
    sensitivities: { type: "string", short: "s", help: "results of quantlab sensitivity" },
    ...windowFlags("8", {
      text: `UTF-8 text (or ${TEXT_CORPORA}) for metric ppl; better not the one α used`,
      random: "metric kl: random tokens (a stream α did not use)",
    }),
    ...HIGGS_GRID_FLAGS,
    mixes: { type: "string", default: "8", help: "random grid mixes" },
    single: {
      type: "string",
      help: "also quantize each projection alone with this grid p:n (per-projection check)",
    },
    baseline: {
      type: "string",
      multiple: true,
      help: "also apply another method everywhere, e.g. hqq:bits=3,group=64,axis=0 (repeatable)",
    },
    budgets: {
      type: "string",
      default: "2.5,3,3.5",
      help: "optimal allocations at these bits/weight ('' for none)",
    },
    seed: { type: "string", default: "0", help: "seed of the mixes and of the random tokens" },
    out: { type: "string", short: "o", help: "results JSON (written atomically; enables resume)" },
    ...outputModeFlags({ resumable: true }),
    ...SHARD_FLAGS,
    ...QUIET_FLAG,
  },
  cpuOnly: "runs the model on the CPU (it swaps layers)",
  inputs: (args) => [
    { path: args.positionals[0], what: "MODEL" },
    { path: args.values.sensitivities as string | undefined, what: "--sensitivities" },
    textInput(args),
  ],
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("linearity needs exactly one MODEL folder; see --help");
    }
    const shard = shardFromArgs(args);
    if (shard && typeof args.values.out !== "string") {
      throw new UsageError(
        `--shard ${shardLabel(shard)} needs --out r.json: the shard's files go beside it`,
      );
    }
    const sensPath = args.values.sensitivities;
    if (typeof sensPath !== "string") {
      throw new UsageError("--sensitivities s.json is required (from quantlab sensitivity)");
    }
    await commandBackend(linearityCommand, args);
    const textPath = metricText(args);
    const random = textPath === null;
    const ctx = intFlag(args, "ctx", 256, 2, 1 << 20);
    const count = intFlag(args, "windows", 8, 1, 1 << 20);
    const h = intFlag(args, "hadamard", 1024, 64, 32768);
    const mixes = intFlag(args, "mixes", 8, 0, 10000);
    const seed = intFlag(args, "seed", 0, 0, 0xffffffff);
    const budgets = parseBudgets(String(args.values.budgets));
    const grids = parseGrids(String(args.values.grids));
    const scaleRule = choiceFlag(args, "scale-rule", ["rms", "unbiased"] as const);
    const rawBaselines = args.values.baseline;
    const baselines =
      (Array.isArray(rawBaselines) ? rawBaselines : rawBaselines ? [String(rawBaselines)] : [])
        .map(parseBaseline);
    const { out, log } = await prepareShardableResults(args, shard, ".rows.jsonl");
    const quiet = Boolean(args.values.quiet);
    if ((h & (h - 1)) !== 0) {
      throw new UsageError(`--hadamard ${h} is not valid; use a power of two in 64…32768`);
    }

    const sens = await readSensitivityFile(sensPath);
    const metric = random ? "kl" as const : "ppl" as const;
    if (sens.document.result.metric !== metric) {
      throw new UsageError(
        `${sensPath} holds ${sens.document.result.metric} sensitivities; check them with ` +
          (sens.document.result.metric === "kl" ? "--random" : "--text FILE"),
      );
    }
    const hash = await modelHash(dir);
    if (sens.document.model.hash !== hash) {
      throw new UsageError(
        `${sensPath} was measured on another model (hash ${
          String(sens.document.model.hash).slice(0, 12)
        }…, this one ${hash.slice(0, 12)}…)`,
      );
    }
    const model = await loadModel(dir);
    const c = model.config;
    warnCtx("linearity", ctx, c.maxPositionEmbeddings);
    const projections = sens.document.result.projections.map((p) => ({
      layer: p.layer,
      kind: p.kind as LinearKind,
      alpha: p.alpha,
      size: p.size,
    }));
    const options = await higgsGridOptions(grids, h, scaleRule);
    let single: number | undefined;
    if (typeof args.values.single === "string") {
      const [sp] = parseGrids(args.values.single);
      single = grids.findIndex(([p, n]) => p === sp![0] && n === sp![1]);
      if (single < 0) {
        throw new UsageError(
          `--single ${args.values.single} is not one of --grids ${
            grids.map((g) => g.join(":")).join(",")
          }`,
        );
      }
    }
    const configs = linearityConfigs(projections, options, {
      mixes,
      budgets,
      seed,
      ...(single !== undefined ? { single } : {}),
    });
    // Random tokens from a stream that `quantlab sensitivity` (stream seed + 1) does not use.
    const { windows, textSha256 } = await evalWindows(
      dir,
      textPath,
      count,
      ctx,
      c.vocabSize,
      seed + 2,
    );
    const key = {
      modelHash: hash,
      sensitivitiesSha256: sens.sha256,
      metric,
      textSha256,
      ctx,
      windows: count,
      grids,
      hadamard: h,
      scaleRule,
      baselines,
      mixes,
      budgets,
      seed,
      ...(single !== undefined ? { single: grids[single] } : {}),
    };
    const total = configs.length + baselines.length;
    const mine = shard ? ownedUnits(total, shard).length : total;
    const bar = progress("linearity", mine, { quiet });
    const r = await runLinearityJob({
      model,
      metric,
      windows,
      projections,
      options,
      hadamard: h,
      scaleRule,
      configs,
      baselines,
      key,
      ...(log ? { logPath: log } : {}),
      ...(out ? { outPath: out } : {}),
      ...(shard ? { shard } : {}),
      config: { modelPath: dir, sensitivitiesPath: sensPath, textPath: textPath ?? null },
      modelInfo: {
        hash,
        architecture: c.architecture,
        numLayers: c.numLayers,
        hiddenSize: c.hiddenSize,
      },
      onResumed: (n) => bar.tick(Math.min(n, mine)),
      onRow: () => bar.tick(1),
    });
    bar.done();
    if (shard) {
      console.log(
        `shard        ${shardLabel(shard)}: ${r.rows.length} of ${total} assignments` +
          (r.resumedRows ? ` (${r.resumedRows} resumed from ${log})` : "") +
          ` → ${shardResultPath(out!, shard)}`,
      );
      console.log(`next         quantlab merge ${out} (once all ${shard.count} shards are done)`);
      return;
    }

    const unit = metric === "kl" ? "KL (nats/token)" : "ΔPPL";
    const fmt = (v: number) => v.toPrecision(4);
    console.log(`model        ${dir} (${c.architecture}); sensitivities ${sensPath}`);
    console.log(
      `metric       ${
        metric === "kl" ? "KL from the dense model, random tokens" : `perplexity ${fmt(r.base)}`
      }, ${count} × ${ctx} tokens; ${configs.length} assignments of ${options.length} grids` +
        (baselines.length ? ` + ${baselines.length} other methods` : "") + `, ` +
        `Hadamard ${h}`,
    );
    console.log(formatTable(
      [
        "assignment",
        "bits/weight",
        `predicted ${unit}`,
        "from grid MSE",
        `measured ${unit}`,
        "measured/predicted",
      ],
      r.rows.filter((x) => x.family !== "single").map((x) => [
        x.label,
        x.bitsPerWeight.toFixed(3),
        fmt(x.predicted),
        fmt(x.predictedFromGrid),
        x.measuredSe === null
          ? fmt(x.measured)
          : `${fmt(x.measured)} ± ${x.measuredSe.toPrecision(2)}`,
        (x.measured / x.predicted).toFixed(3),
      ]),
    ));
    const singles = r.rows.filter((x) => x.family === "single");
    if (singles.length) {
      console.log(`\none projection quantized at a time (${options[single!]!.name}):`);
      console.log(formatTable(
        ["projection", "t²", `predicted ${unit}`, `measured ${unit}`, "measured/predicted"],
        singles.map((x) => {
          const i = x.grids.findIndex((g) => g !== "dense");
          return [
            x.label.split(" ")[1]!,
            x.t2[i]!.toFixed(4),
            fmt(x.predicted),
            x.measuredSe === null
              ? fmt(x.measured)
              : `${fmt(x.measured)} ± ${x.measuredSe.toPrecision(2)}`,
            (x.measured / x.predicted).toFixed(2),
          ];
        }),
      ));
      console.log("");
    }
    // The fit is over whole-model rows; single-projection rows are the table above.
    const whole = r.rows.filter((x) => x.family !== "single");
    const s = summarizeLinearity(whole);
    const pct = (v: number | null) => v === null ? "–" : `${(100 * v).toFixed(1)} %`;
    console.log(
      `fit          measured ≈ ${s.slope.toFixed(3)} × predicted (R² ${s.r2.toFixed(4)}); ` +
        `median |measured/predicted − 1| ${pct(s.medianRelativeError)} over the ` +
        `${s.significantRows} rows measured beyond 2 SE; |measured − predicted| ≤ 2 SE in ` +
        `${pct(s.withinTwoSe)} of rows`,
    );
    const byBits = [...new Set(whole.map((x) => Math.floor(x.bitsPerWeight * 2) / 2))]
      .sort((a, b) => a - b);
    console.log(formatTable(
      ["bits/weight ≥", "rows", "slope", "rows > 2 SE", "median |rel. error|", "within 2 SE"],
      byBits.map((b) => {
        const ss = summarizeLinearity(whole, b);
        return [
          b.toFixed(1),
          String(ss.rows),
          ss.slope.toFixed(3),
          String(ss.significantRows),
          pct(ss.medianRelativeError),
          pct(ss.withinTwoSe),
        ];
      }),
    ));
    if (out) console.log(`results      ${out}`);
  },
};
