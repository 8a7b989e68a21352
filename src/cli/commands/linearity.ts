/**
 * `quantlab linearity MODEL --sensitivities s.json (--text FILE | --random) --out r.json`: the
 * check of the linearity model. The whole model is quantized with HIGGS under many grid
 * assignments (each grid everywhere, random mixes, the optimal allocation at `--budgets`), and
 * each measured change of the metric (ΔPPL on the text, or the KL divergence from the dense model
 * on random tokens) is set against the prediction Σ α_l·t_l² from the sensitivities
 * (`src/jobs/linearity_check.ts`; the tables printed are `src/cli/linearity_report.ts`).
 * Resumable: each row goes to `<out>.rows.jsonl`; the results JSON is written atomically at the
 * end.
 *
 * @module
 */
import {
  choiceFlag,
  type Command,
  commandBackend,
  intFlag,
  type ParsedArgs,
  UsageError,
} from "../command.ts";
import { progress } from "../progress.ts";
import { evalWindows, TEXT_CORPORA, textInput } from "../text_source.ts";
import { HIGGS_GRID_FLAGS, metricText, windowFlags } from "../linearity_flags.ts";
import { printLinearityReport } from "../linearity_report.ts";
import { parseGrids } from "./allocate.ts";
import { loadModel } from "../../model/loader.ts";
import { modelHash } from "../../io/model_folder.ts";
import type { LinearKind } from "../../model/types.ts";
import type { LinearityMetric } from "../../jobs/linearity.ts";
import {
  type BaselineMethod,
  higgsGridOptions,
  linearityConfigs,
  type ScaleRule,
} from "../../jobs/linearity_configs.ts";
import { runLinearityJob } from "../../jobs/linearity_run.ts";
import { shardResultPath } from "../../jobs/result_shards.ts";
import { ownedUnits, type Shard, shardLabel } from "../../jobs/shard_plan.ts";
import { readSensitivityFile, type SensitivityFile } from "../../jobs/sensitivity.ts";
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

/** The validated settings of one `quantlab linearity` command line. */
interface LinearitySettings {
  /** The MODEL folder. */
  dir: string;
  /** `--sensitivities`. */
  sensPath: string;
  /** `--text`, or null for `--random` (metric KL). */
  textPath: string | null;
  ctx: number;
  /** `--windows`. */
  count: number;
  hadamard: number;
  mixes: number;
  seed: number;
  budgets: number[];
  grids: [number, number][];
  scaleRule: ScaleRule;
  baselines: BaselineMethod[];
  shard: Shard | null;
  /** The results JSON and the rows' JSONL log (both absent without `--out`). */
  out: string | undefined;
  log: string | undefined;
  quiet: boolean;
}

/**
 * Reads and checks the flags, in the order their errors are reported (usage errors, exit 2), and
 * prepares the output (`--force` / `--resume`).
 */
async function linearitySettings(args: ParsedArgs): Promise<LinearitySettings> {
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
  const ctx = intFlag(args, "ctx", 256, 2, 1 << 20);
  const count = intFlag(args, "windows", 8, 1, 1 << 20);
  const hadamard = intFlag(args, "hadamard", 1024, 64, 32768);
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
  if ((hadamard & (hadamard - 1)) !== 0) {
    throw new UsageError(`--hadamard ${hadamard} is not valid; use a power of two in 64…32768`);
  }
  return {
    dir,
    sensPath,
    textPath,
    ctx,
    count,
    hadamard,
    mixes,
    seed,
    budgets,
    grids,
    scaleRule,
    baselines,
    shard,
    out,
    log,
    quiet,
  };
}

/**
 * The sensitivities file, refused (usage error) unless it was measured with this command line's
 * metric on this very model: a prediction from another model's α means nothing.
 */
async function matchingSensitivities(
  s: Pick<LinearitySettings, "dir" | "sensPath" | "textPath">,
): Promise<{ sens: SensitivityFile; metric: LinearityMetric; hash: string }> {
  const sens = await readSensitivityFile(s.sensPath);
  const metric = s.textPath === null ? "kl" as const : "ppl" as const;
  if (sens.document.result.metric !== metric) {
    throw new UsageError(
      `${s.sensPath} holds ${sens.document.result.metric} sensitivities; check them with ` +
        (sens.document.result.metric === "kl" ? "--random" : "--text FILE"),
    );
  }
  const hash = await modelHash(s.dir);
  if (sens.document.model.hash !== hash) {
    throw new UsageError(
      `${s.sensPath} was measured on another model (hash ${
        String(sens.document.model.hash).slice(0, 12)
      }…, this one ${hash.slice(0, 12)}…)`,
    );
  }
  return { sens, metric, hash };
}

/** The index in `grids` of `--single p:n` (undefined without the flag). */
function singleGridIndex(spec: unknown, grids: [number, number][]): number | undefined {
  if (typeof spec !== "string") return undefined;
  const [sp] = parseGrids(spec);
  const single = grids.findIndex(([p, n]) => p === sp![0] && n === sp![1]);
  if (single < 0) {
    throw new UsageError(
      `--single ${spec} is not one of --grids ${grids.map((g) => g.join(":")).join(",")}`,
    );
  }
  return single;
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
    const s = await linearitySettings(args);
    const { sens, metric, hash } = await matchingSensitivities(s);
    const model = await loadModel(s.dir);
    const c = model.config;
    warnCtx("linearity", s.ctx, c.maxPositionEmbeddings);
    const projections = sens.document.result.projections.map((p) => ({
      layer: p.layer,
      kind: p.kind as LinearKind,
      alpha: p.alpha,
      size: p.size,
    }));
    const options = await higgsGridOptions(s.grids, s.hadamard, s.scaleRule);
    const single = singleGridIndex(args.values.single, s.grids);
    const configs = linearityConfigs(projections, options, {
      mixes: s.mixes,
      budgets: s.budgets,
      seed: s.seed,
      ...(single !== undefined ? { single } : {}),
    });
    // Random tokens from a stream that `quantlab sensitivity` (stream seed + 1) does not use.
    const { windows, textSha256 } = await evalWindows(
      s.dir,
      s.textPath,
      s.count,
      s.ctx,
      c.vocabSize,
      s.seed + 2,
    );
    // What identifies the run: its log resumes only under the same key.
    const key = {
      modelHash: hash,
      sensitivitiesSha256: sens.sha256,
      metric,
      textSha256,
      ctx: s.ctx,
      windows: s.count,
      grids: s.grids,
      hadamard: s.hadamard,
      scaleRule: s.scaleRule,
      baselines: s.baselines,
      mixes: s.mixes,
      budgets: s.budgets,
      seed: s.seed,
      ...(single !== undefined ? { single: s.grids[single] } : {}),
    };
    const total = configs.length + s.baselines.length;
    const mine = s.shard ? ownedUnits(total, s.shard).length : total;
    const bar = progress("linearity", mine, { quiet: s.quiet });
    const r = await runLinearityJob({
      model,
      metric,
      windows,
      projections,
      options,
      hadamard: s.hadamard,
      scaleRule: s.scaleRule,
      configs,
      baselines: s.baselines,
      key,
      ...(s.log ? { logPath: s.log } : {}),
      ...(s.out ? { outPath: s.out } : {}),
      ...(s.shard ? { shard: s.shard } : {}),
      config: { modelPath: s.dir, sensitivitiesPath: s.sensPath, textPath: s.textPath },
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
    if (s.shard) {
      console.log(
        `shard        ${shardLabel(s.shard)}: ${r.rows.length} of ${total} assignments` +
          (r.resumedRows ? ` (${r.resumedRows} resumed from ${s.log})` : "") +
          ` → ${shardResultPath(s.out!, s.shard)}`,
      );
      console.log(
        `next         quantlab merge ${s.out} (once all ${s.shard.count} shards are done)`,
      );
      return;
    }
    printLinearityReport(r.rows, {
      model: `${s.dir} (${c.architecture})`,
      sensPath: s.sensPath,
      metric,
      base: r.base,
      windows: s.count,
      ctx: s.ctx,
      assignments: configs.length,
      grids: options.length,
      baselines: s.baselines.length,
      hadamard: s.hadamard,
      ...(single !== undefined ? { singleGrid: options[single]!.name } : {}),
    });
    if (s.out) console.log(`results      ${s.out}`);
  },
};
