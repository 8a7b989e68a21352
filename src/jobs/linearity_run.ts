/**
 * A resumable linearity-check run (`quantlab linearity`): every measured assignment is appended
 * to a JSONL log keyed by the run's settings; a rerun after a kill reads the log and measures the
 * rest ({@linkcode checkLinearity}); the results JSON — schema, provenance, config, model, grids,
 * projections, and the rows with their summary — is written atomically. With a shard, only the
 * shard's assignments are measured (round-robin over the run's order) and a shard file is
 * written instead; `quantlab merge` joins the shards ({@linkcode mergeLinearityShards}).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Backend } from "../gpu/backend.ts";
import type { LlamaModel } from "../model/llama.ts";
import { linearName } from "../model/types.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { refuseExistingOutputs } from "../io/output_guard.ts";
import { appendJsonl, openRunLog } from "../io/jsonl_log.ts";
import { gitCommit, machineInfo } from "../io/results.ts";
import type { LinearityMetric } from "./linearity.ts";
import { checkLinearity, type LinearityRow } from "./linearity_check.ts";
import type {
  BaselineMethod,
  GridAssignment,
  GridOption,
  ScaleRule,
  SensitiveProjection,
} from "./linearity_configs.ts";
import { type LinearitySummary, summarizeLinearity } from "./linearity_summary.ts";
import { interleaveShards, readResultShards, shardResultPath } from "./result_shards.ts";
import { roundRobinOwner, type Shard } from "./shard_plan.ts";

/** Schema name of linearity-check results files. */
export const LINEARITY_SCHEMA = "quantlab.linearity";
/** Schema version of linearity-check results files (and their logs). */
export const LINEARITY_SCHEMA_VERSION = 1;
/** Schema name of the file a finished shard writes (`quantlab merge` reads it). */
export const LINEARITY_SHARD_SCHEMA = "quantlab.linearity.shard";

/** Options of {@linkcode runLinearityJob}. */
export interface LinearityJobOptions {
  /** The model (CPU). */
  model: LlamaModel;
  /** `"ppl"` or `"kl"`. */
  metric: LinearityMetric;
  /** The token windows. */
  windows: number[][];
  /** The projections with their α. */
  projections: SensitiveProjection[];
  /** The grids. */
  options: GridOption[];
  /** Hadamard block size. */
  hadamard: number;
  /** HIGGS scale rule. */
  scaleRule: ScaleRule;
  /** The assignments. */
  configs: GridAssignment[];
  /** Other methods applied everywhere. */
  baselines: BaselineMethod[];
  /** What identifies the run (its log resumes only under the same key). */
  key: Record<string, unknown>;
  /** JSONL log of rows (resume source); none when omitted. */
  logPath?: string;
  /** Results JSON path; not written when omitted. */
  outPath?: string;
  /** Measure only this shard's assignments, and write its shard file of `outPath`. */
  shard?: Shard;
  /** Recorded under "config" after the key. */
  config?: Record<string, unknown>;
  /** Recorded under "model". */
  modelInfo?: Record<string, unknown>;
  /** Encoder backend. */
  backend?: Backend;
  /** Called with the rows already in the log, before measuring. */
  onResumed?: (rows: number) => void;
  /** Called after each newly measured row. */
  onRow?: () => void;
}

/** What {@linkcode runLinearityJob} measured. */
export interface LinearityJobResult {
  /** The dense model's metric (perplexity, or 0 for KL). */
  base: number;
  /** The rows (of the shard, with a shard), in the run's order. */
  rows: LinearityRow[];
  /** Rows taken from the log. */
  resumedRows: number;
  /** The document written (results, or the shard file). */
  document: Record<string, unknown>;
}

/**
 * Runs (or resumes) a linearity check and writes its results (see the module doc). Errors:
 * `bad-argument` when the log belongs to another run.
 *
 * @example
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * import { runLinearityJob } from "./linearity_run.ts";
 * const c = llamaConfig({ hiddenSize: 64, numLayers: 1, vocabSize: 64, intermediateSize: 128 });
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const options = [{ name: "higgs (2,256)", p: 2, n: 256, bits: 4.25, error: 0.00775 }];
 * const r = await runLinearityJob({
 *   model, metric: "kl", windows: [[1, 5, 9, 13, 2, 7]], options, hadamard: 64,
 *   scaleRule: "rms", baselines: [], key: {},
 *   projections: [{ layer: 0, kind: "down_proj", alpha: 1, size: 64 * 128 }],
 *   configs: [{ label: "u", family: "uniform", budget: null, choice: [0] }],
 * });
 * if (r.rows.length !== 1 || !(r.rows[0]!.measured > 0)) throw new Error();
 * ```
 */
export async function runLinearityJob(opts: LinearityJobOptions): Promise<LinearityJobResult> {
  const done: LinearityRow[] = [];
  if (opts.logPath) {
    const records = await openRunLog(opts.logPath, {
      schema: LINEARITY_SCHEMA,
      schemaVersion: LINEARITY_SCHEMA_VERSION,
      key: opts.key,
    });
    for (const r of records) if (r.kind === "row") done.push(r.row as LinearityRow);
  }
  opts.onResumed?.(done.length);
  const shard = opts.shard;
  const t0 = performance.now();
  const r = await checkLinearity(opts.model, {
    metric: opts.metric,
    windows: opts.windows,
    projections: opts.projections,
    options: opts.options,
    hadamard: opts.hadamard,
    scaleRule: opts.scaleRule,
    configs: opts.configs,
    baselines: opts.baselines,
    done,
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(shard ? { owns: (u: number) => roundRobinOwner(u, shard.count) === shard.index } : {}),
    onRow: async (row) => {
      if (opts.logPath) await appendJsonl(opts.logPath, { kind: "row", row });
      opts.onRow?.();
    },
  });
  const head = {
    config: { ...opts.key, ...(opts.config ?? {}) },
    model: opts.modelInfo ?? {},
    options: opts.options,
    projections: opts.projections.map((p) => ({ name: linearName(p.layer, p.kind), ...p })),
  };
  const seconds = (performance.now() - t0) / 1000;
  const document = shard
    ? {
      schema: LINEARITY_SHARD_SCHEMA,
      schemaVersion: LINEARITY_SCHEMA_VERSION,
      shard,
      key: opts.key,
      units: opts.configs.length + opts.baselines.length,
      seconds,
      resumed: done.length,
      ...head,
      metric: opts.metric,
      base: r.base,
      rows: r.rows,
    }
    : await linearityDocument({
      ...head,
      metric: opts.metric,
      base: r.base,
      seconds,
      resumedRows: done.length,
      rows: r.rows,
    });
  if (opts.outPath) {
    await writeJsonAtomic(shard ? shardResultPath(opts.outPath, shard) : opts.outPath, document);
  }
  return { base: r.base, rows: r.rows, resumedRows: done.length, document };
}

/**
 * The fit summary a results file records: over the whole-model rows (single-projection rows are
 * their own table).
 *
 * @example
 * ```ts
 * import { wholeModelSummary } from "./linearity_run.ts";
 * const row = { family: "uniform", predicted: 1, measured: 1, measuredSe: null, bitsPerWeight: 3 };
 * if (wholeModelSummary([row as never]).slope !== 1) throw new Error();
 * ```
 */
export function wholeModelSummary(rows: readonly LinearityRow[]): LinearitySummary {
  return summarizeLinearity(rows.filter((x) => x.family !== "single"));
}

/** The results document of a linearity check (whole, or merged from shards). */
async function linearityDocument(parts: {
  config: Record<string, unknown>;
  model: Record<string, unknown>;
  options: unknown;
  projections: unknown;
  metric: LinearityMetric;
  base: number;
  seconds: number;
  resumedRows: number;
  rows: LinearityRow[];
}): Promise<Record<string, unknown>> {
  return {
    schema: LINEARITY_SCHEMA,
    schemaVersion: LINEARITY_SCHEMA_VERSION,
    createdAt: new Date().toISOString(),
    git: await gitCommit("."),
    machine: machineInfo("cpu"),
    config: parts.config,
    model: parts.model,
    options: parts.options,
    projections: parts.projections,
    result: {
      metric: parts.metric,
      base: parts.base,
      seconds: parts.seconds,
      resumedRows: parts.resumedRows,
      summary: wholeModelSummary(parts.rows),
      rows: parts.rows,
    },
  };
}

/** What {@linkcode mergeLinearityShards} did. */
export interface LinearityMerge {
  /** The results file written. */
  out: string;
  /** Shards joined. */
  shards: number;
  /** Rows joined. */
  rows: number;
}

/**
 * Joins the finished shards of `quantlab linearity --out OUT --shard I/N` into OUT (atomically;
 * an existing OUT only with `force`, else a `bad-argument` error): the rows in the run's order and
 * their summary, as a single run writes them. Errors
 * (`bad-file`): a shard missing, unfinished, made with other settings, holding other rows than its
 * plan gives it, or measuring another dense baseline (shards on machines whose arithmetic
 * differs).
 *
 * @example
 * ```ts
 * import { mergeLinearityShards } from "./linearity_run.ts";
 * const err = await mergeLinearityShards("/no/such/r.json").catch((e) => e.message);
 * if (!/no shard files/.test(err)) throw new Error(err);
 * ```
 */
export async function mergeLinearityShards(
  out: string,
  opts: { force?: boolean } = {},
): Promise<LinearityMerge> {
  const docs = await readResultShards(out, LINEARITY_SHARD_SCHEMA, [
    "config",
    "model",
    "options",
    "projections",
    "metric",
  ]);
  await refuseExistingOutputs([{ path: out, what: "--out" }], opts.force ? "force" : "new", {
    resumable: false,
  });
  const first = docs[0]!;
  for (const d of docs) {
    if (d.base !== first.base) {
      throw new QuantlabError(
        "bad-file",
        `Shard ${d.shard.index}/${d.shard.count} of ${out} measured the dense model at ${d.base}, ` +
          `shard 1 at ${first.base}: the shards ran on machines whose arithmetic differs; rerun ` +
          "them on one kind of machine",
      );
    }
  }
  const rows = interleaveShards(docs.map((d) => d.rows as LinearityRow[]), first.units, out);
  const document = await linearityDocument({
    config: first.config as Record<string, unknown>,
    model: first.model as Record<string, unknown>,
    options: first.options,
    projections: first.projections,
    metric: first.metric as LinearityMetric,
    base: first.base as number,
    seconds: docs.reduce((s, d) => s + d.seconds, 0),
    resumedRows: docs.reduce((s, d) => s + d.resumed, 0),
    rows,
  });
  await writeJsonAtomic(out, document);
  return { out, shards: docs.length, rows: rows.length };
}
