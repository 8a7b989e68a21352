/**
 * A resumable sensitivity run (see `linearity.ts`): every measurement is appended to a JSONL log
 * whose header identifies the run (model hash, metric, text hash, window length and count,
 * levels, seed); a rerun after a kill reads the log, reuses its points and measures the rest; the
 * results JSON — schema version, configuration, model hash, provenance, and per projection its HF
 * tensor name, size, α, fit R² and points — is written atomically.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { LlamaModel } from "../model/llama.ts";
import { linearName } from "../model/types.ts";
import { gitCommit, machineInfo, sha256 } from "../io/results.ts";
import { appendJsonl, openRunLog } from "../io/jsonl_log.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { roundRobinOwner, type Shard } from "./shard_plan.ts";
import { shardResultPath } from "./result_shards.ts";
import {
  estimateSensitivities,
  type LayerSensitivity,
  type LinearityMetric,
  type ProjectionRef,
  type SensitivityPoint,
} from "./linearity.ts";

/** Schema name of sensitivity results files. */
export const SENSITIVITY_SCHEMA = "quantlab.sensitivity";
/** Schema version of sensitivity results files. */
export const SENSITIVITY_SCHEMA_VERSION = 1;
/**
 * Version of the measurement log's header: 2 keys every setting, defaults included (version 1
 * left draws, antithetic and noiseBlock out at their defaults, so a changed one resumed silently).
 */
export const SENSITIVITY_LOG_VERSION = 2;
/** Schema name of the file a finished shard writes (`quantlab merge` reads it). */
export const SENSITIVITY_SHARD_SCHEMA = "quantlab.sensitivity.shard";

/** What identifies a run; a log is resumed only when every field matches. */
export interface SensitivityRunKey {
  /** Hash of the model folder (`modelHash`: every byte of the weights). */
  modelHash: string;
  /** `"ppl"` or `"kl"`. */
  metric: LinearityMetric;
  /** SHA-256 of the text (metric "ppl"), or null (random tokens). */
  textSha256: string | null;
  /** Tokens per window. */
  ctx: number;
  /** Number of windows. */
  windows: number;
  /** Levels t². */
  levels: number[];
  /** Noise seed (and, for "kl", the seed of the random tokens). */
  seed: number;
  /** Noise draws per level. */
  draws: number;
  /** Antithetic noise pairs. */
  antithetic: boolean;
  /** Columns per noise block (0: isotropic noise). */
  noiseBlock: number;
}

/** Options of {@linkcode runSensitivityJob}. */
export interface SensitivityJobOptions {
  /** The model (CPU). */
  model: LlamaModel;
  /** The token windows (`key.windows` of `key.ctx` tokens). */
  windows: number[][];
  /** Identity of the run. */
  key: SensitivityRunKey;
  /** Projections to measure (default all). */
  projections?: ProjectionRef[];
  /** JSONL log of measurements (resume source); none when omitted. */
  logPath?: string;
  /** Results JSON path; not written when omitted. */
  outPath?: string;
  /**
   * Measure only this shard's points (round-robin over the whole run's (projection, level,
   * draw) order) and write them, when done, to the shard file of `outPath`
   * (`result_shards.ts`) instead of the results: `quantlab merge` joins the shards.
   */
  shard?: Shard;
  /** Recorded under "config". */
  config?: Record<string, unknown>;
  /** Recorded under "model" (the hash is added). */
  modelInfo?: Record<string, unknown>;
  /** Progress callback (measurements done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** One projection in the results file. */
export interface SensitivityRecord extends LayerSensitivity {
  /** Its tensor name in HF checkpoints, e.g. `model.layers.0.self_attn.q_proj`. */
  name: string;
  /** Its number of weights. */
  size: number;
  /** Output features (the weight's rows); absent in files written before it was recorded. */
  rows?: number;
  /** Input features (the weight's columns); absent in files written before it was recorded. */
  cols?: number;
}

/** The results of a job. */
export interface SensitivityJobResult {
  /** Per projection. */
  projections: SensitivityRecord[];
  /** Points taken from the log. */
  resumedPoints: number;
  /** The results document (as written to outPath). */
  document: Record<string, unknown>;
}

/**
 * Runs (or resumes) a sensitivity measurement and writes its results (see the module doc).
 * Errors: `bad-argument` when the log belongs to another run.
 *
 * @example
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { LlamaModel } from "../model/llama.ts";
 * import { randomLlamaWeights } from "../model/random.ts";
 * import { runSensitivityJob } from "./sensitivity.ts";
 * const c = llamaConfig({ hiddenSize: 32, numLayers: 1, vocabSize: 64, intermediateSize: 64 });
 * const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const key = { modelHash: "m", metric: "kl" as const, textSha256: null, ctx: 6, windows: 1,
 *   levels: [1 / 256, 1 / 64], seed: 0, draws: 1, antithetic: false, noiseBlock: 0 };
 * const r = await runSensitivityJob({ model, windows: [[1, 5, 9, 13, 2, 7]], key,
 *   projections: [{ layer: 0, kind: "o_proj" }] });
 * if (r.projections[0]!.name !== "model.layers.0.self_attn.o_proj") throw new Error();
 * ```
 */
export async function runSensitivityJob(
  opts: SensitivityJobOptions,
): Promise<SensitivityJobResult> {
  const { key, model } = opts;
  if (opts.windows.length !== key.windows || opts.windows.some((w) => w.length !== key.ctx)) {
    throw new QuantlabError(
      "bad-argument",
      `The run key says ${key.windows} windows of ${key.ctx} tokens; the windows given differ`,
    );
  }
  const done: SensitivityPoint[] = [];
  if (opts.logPath) {
    const records = await openRunLog(opts.logPath, {
      schema: SENSITIVITY_SCHEMA,
      schemaVersion: SENSITIVITY_LOG_VERSION,
      key,
    });
    for (const p of records) {
      if (p.kind === "point" && typeof p.delta === "number") {
        done.push({
          layer: Number(p.layer),
          kind: p.projection as SensitivityPoint["kind"],
          t2: Number(p.t2),
          realizedT2: Number(p.realizedT2),
          seed: Number(p.seed),
          ...(p.sign === -1 ? { sign: -1 as const } : {}),
          delta: p.delta,
        });
      }
    }
  }
  const t0 = performance.now();
  const shard = opts.shard;
  const sens = await estimateSensitivities(model, {
    metric: key.metric,
    windows: opts.windows,
    levels: key.levels,
    seed: key.seed,
    draws: key.draws,
    antithetic: key.antithetic,
    noiseBlock: key.noiseBlock,
    ...(opts.projections ? { projections: opts.projections } : {}),
    done,
    ...(shard ? { owns: (u: number) => roundRobinOwner(u, shard.count) === shard.index } : {}),
    onPoint: async (p, i, total) => {
      // "kind" names the record type in the log; the projection's kind goes as "projection".
      if (opts.logPath) {
        await appendJsonl(opts.logPath, {
          kind: "point",
          layer: p.layer,
          projection: p.kind,
          t2: p.t2,
          realizedT2: p.realizedT2,
          seed: p.seed,
          ...(p.sign === -1 ? { sign: -1 } : {}),
          delta: p.delta,
        });
      }
      opts.onProgress?.(i + 1, total);
    },
  });
  const projections: SensitivityRecord[] = sens.map((s) => {
    const lin = model.getLinear(s.layer, s.kind);
    return {
      ...s,
      name: linearName(s.layer, s.kind),
      size: lin.inFeatures * lin.outFeatures,
      rows: lin.outFeatures,
      cols: lin.inFeatures,
    };
  });
  const seconds = (performance.now() - t0) / 1000;
  const head = {
    config: { ...key, ...(opts.config ?? {}) },
    model: { hash: key.modelHash, ...(opts.modelInfo ?? {}) },
  };
  const document = shard
    ? {
      schema: SENSITIVITY_SHARD_SCHEMA,
      schemaVersion: SENSITIVITY_SCHEMA_VERSION,
      shard,
      key,
      units: sens.length * key.levels.length * key.draws,
      seconds,
      resumed: done.length,
      ...head,
      // Points only: α and R² need every shard's points (the merge fits them).
      projections: projections.map(({ alpha: _a, r2: _r, ...rest }) => rest),
    }
    : await sensitivityDocument({ ...head, projections, seconds, resumedPoints: done.length });
  if (opts.outPath) {
    await writeJsonAtomic(shard ? shardResultPath(opts.outPath, shard) : opts.outPath, document);
  }
  return { projections, resumedPoints: done.length, document };
}

/**
 * The results document of a sensitivity run (whole, or merged from shards): schema, provenance,
 * the run's config and model, and per projection its fit and points.
 */
export async function sensitivityDocument(parts: {
  config: Record<string, unknown>;
  model: Record<string, unknown>;
  projections: SensitivityRecord[];
  seconds: number;
  resumedPoints: number;
}): Promise<Record<string, unknown>> {
  return {
    schema: SENSITIVITY_SCHEMA,
    schemaVersion: SENSITIVITY_SCHEMA_VERSION,
    createdAt: new Date().toISOString(),
    git: await gitCommit("."),
    machine: machineInfo("cpu"),
    config: parts.config,
    model: parts.model,
    result: {
      metric: parts.config.metric,
      seconds: parts.seconds,
      resumedPoints: parts.resumedPoints,
      projections: parts.projections,
    },
  };
}

/** A sensitivity results file as read back. */
export interface SensitivityFile {
  /** The parsed document. */
  document: {
    config: Record<string, unknown>;
    model: Record<string, unknown>;
    result: { metric: LinearityMetric; projections: SensitivityRecord[] };
  };
  /** SHA-256 of the file's text (identifies it in later results). */
  sha256: string;
}

/**
 * Reads a results file written by {@linkcode runSensitivityJob}. Errors: `not-found` when it
 * cannot be read, `bad-file` when it is not a sensitivity results file.
 *
 * @example
 * ```ts
 * import { readSensitivityFile } from "./sensitivity.ts";
 * const s = await readSensitivityFile("notebooks/results/tiny_sensitivity_kl.json");
 * if (s.document.result.metric !== "kl") throw new Error();
 * ```
 */
export async function readSensitivityFile(path: string): Promise<SensitivityFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new QuantlabError("not-found", `Cannot read ${path}: ${(e as Error).message}`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = null;
  }
  if (doc?.schema !== SENSITIVITY_SCHEMA || !Array.isArray(doc?.result?.projections)) {
    throw new QuantlabError(
      "bad-file",
      `${path} is not a sensitivity results file (schema ${JSON.stringify(doc?.schema)}); ` +
        "make one with quantlab sensitivity",
    );
  }
  return { document: doc, sha256: await sha256(text) };
}
