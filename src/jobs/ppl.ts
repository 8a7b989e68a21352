/**
 * A resumable perplexity run: every finished window is appended to a JSONL log (a header line
 * identifies the run: model hash, text hash, ctx, stride, token count); a rerun after a kill
 * reads the log, skips the windows in it and finishes the rest; the final results JSON is
 * written atomically with its schema version, configuration, model hash and provenance.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { CausalLM } from "../model/types.ts";
import {
  evaluatePerplexity,
  type PerplexityRun,
  scoredBytes,
  stridedWindows,
  type WindowResult,
} from "../eval/perplexity.ts";
import { gitCommit, machineInfo } from "../io/results.ts";
import { appendJsonl, openRunLog } from "../io/jsonl_log.ts";
import { writeJsonAtomic } from "../io/atomic.ts";

/** Schema name of perplexity results files. */
export const PPL_SCHEMA = "quantlab.perplexity";
/** Schema version of perplexity results files (and their logs). */
export const PPL_SCHEMA_VERSION = 1;

/** What identifies a run; a log is resumed only when every field matches. */
export interface PerplexityRunKey {
  /** Hash of the model (e.g. `modelHash(dir)`). */
  modelHash: string;
  /** SHA-256 of the evaluated text. */
  textSha256: string;
  /** Window length. */
  ctx: number;
  /** Window step. */
  stride: number;
  /** Tokens evaluated (after --max-tokens). */
  tokens: number;
  /** Where the model runs ("cpu", "webgpu"): results differ in the last digits between them. */
  backend?: string;
  /** CPU LUT kernels ("exact" | "fast"): "fast" changes the NLL. */
  kernel?: string;
}

/** Options of {@linkcode runPerplexityJob}. */
export interface PerplexityJobOptions {
  /** The model. */
  model: Pick<CausalLM, "nll">;
  /** Token ids to evaluate (already truncated to --max-tokens). */
  ids: readonly number[];
  /** Identity of the run. */
  key: PerplexityRunKey;
  /** JSONL log of finished windows (resume source); none when omitted. */
  logPath?: string;
  /** Results JSON path; not written when omitted. */
  outPath?: string;
  /** UTF-8 length of decoded ids, for bits per byte (omit to report null). */
  bytesOf?: (ids: number[]) => number;
  /** Recorded in the results file under "config" (paths, backend, BOS policy, …). */
  config?: Record<string, unknown>;
  /** Recorded under "model" (architecture, sizes, …); the hash is added. */
  modelInfo?: Record<string, unknown>;
  /** Recorded under "text". */
  textInfo?: Record<string, unknown>;
  /** Backend description for the machine record. */
  backend?: string;
  /** Progress callback (windows done, total). */
  onProgress?: (done: number, total: number) => void;
  /** Called after each window is logged (tests use it to simulate a kill). */
  afterWindow?: (w: WindowResult) => void | Promise<void>;
}

/** The results of a job. */
export interface PerplexityJobResult {
  /** The evaluation. */
  run: PerplexityRun;
  /** Windows taken from the log. */
  resumedWindows: number;
  /** UTF-8 bytes of the scored text (null without bytesOf). */
  scoredBytes: number | null;
  /** Bits per byte (null without bytesOf). */
  bitsPerByte: number | null;
  /** The results document (what was written to outPath). */
  document: Record<string, unknown>;
}

/**
 * Runs (or resumes) a strided perplexity evaluation with a window log and an atomic results file.
 *
 * @example
 * ```ts
 * import { runPerplexityJob } from "./ppl.ts";
 * const dir = await Deno.makeTempDir();
 * const model = { nll: (t: ArrayLike<number>, from = 1) =>
 *   Promise.resolve(new Float64Array(t.length - from).fill(Math.log(10))) };
 * const key = { modelHash: "m", textSha256: "t", ctx: 8, stride: 8, tokens: 40 };
 * const ids = Array.from({ length: 40 }, (_, i) => i % 10);
 * const r = await runPerplexityJob({ model, ids, key, logPath: `${dir}/log.jsonl`, outPath: `${dir}/r.json` });
 * await Deno.remove(dir, { recursive: true });
 * if (Math.abs(r.run.ppl - 10) > 1e-9) throw new Error("unexpected");
 * ```
 */
export async function runPerplexityJob(opts: PerplexityJobOptions): Promise<PerplexityJobResult> {
  const { key, ids } = opts;
  if (ids.length !== key.tokens) {
    throw new QuantlabError(
      "bad-argument",
      `The run key says ${key.tokens} tokens but ${ids.length} ids were given`,
    );
  }
  const done: WindowResult[] = [];
  if (opts.logPath) {
    const records = await openRunLog(opts.logPath, {
      schema: PPL_SCHEMA,
      schemaVersion: PPL_SCHEMA_VERSION,
      key,
    });
    for (const w of records) {
      if (w.kind === "window" && typeof w.nll === "number") {
        done.push({
          index: Number(w.index),
          begin: Number(w.begin),
          end: Number(w.end),
          scored: Number(w.scored),
          nll: w.nll,
        });
      }
    }
  }
  // Keep one record per window (a window logged twice by overlapping runs counts once).
  const unique = new Map<number, WindowResult>();
  for (const w of done) unique.set(w.index, w);
  const run = await evaluatePerplexity(opts.model, ids, {
    ctx: key.ctx,
    stride: key.stride,
    done: unique.values(),
    onWindow: async (w) => {
      if (opts.logPath) await appendJsonl(opts.logPath, { kind: "window", ...w });
      await opts.afterWindow?.(w);
    },
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  let bytes: number | null = null, bpb: number | null = null;
  if (opts.bytesOf) {
    bytes = scoredBytes(ids, stridedWindows(ids.length, key.ctx, key.stride), opts.bytesOf);
    bpb = bytes > 0 ? run.nllSum / Math.LN2 / bytes : null;
  }
  const document: Record<string, unknown> = {
    schema: PPL_SCHEMA,
    schemaVersion: PPL_SCHEMA_VERSION,
    createdAt: new Date().toISOString(),
    git: await gitCommit("."),
    machine: machineInfo(opts.backend ?? "unknown"),
    config: { ctx: key.ctx, stride: key.stride, tokens: key.tokens, ...(opts.config ?? {}) },
    model: { hash: key.modelHash, ...(opts.modelInfo ?? {}) },
    text: { sha256: key.textSha256, ...(opts.textInfo ?? {}) },
    result: {
      ppl: run.ppl,
      pplSe: run.pplSe,
      meanNll: run.meanNll,
      meanNllSe: run.meanNllSe,
      scoredTokens: run.scoredTokens,
      nllSum: run.nllSum,
      bitsPerByte: bpb,
      scoredBytes: bytes,
      windowCount: run.windowCount,
      resumedWindows: unique.size,
      computedWindows: run.computedWindows,
      processedTokens: run.processedTokens,
      seconds: run.seconds,
      tokensPerSecond: run.tokensPerSecond,
    },
    windows: run.windows.map((w) => ({ ...w })),
  };
  if (opts.outPath) await writeJsonAtomic(opts.outPath, document);
  return { run, resumedWindows: unique.size, scoredBytes: bytes, bitsPerByte: bpb, document };
}
