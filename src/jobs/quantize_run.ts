/**
 * The identity and work folder of a quantize run (`quantize_checkpoint.ts`).
 *
 * The run key holds every setting that changes the output — the method's settings with defaults
 * filled (`Quantizer.settings`), per-tensor options, the tensors chosen, the checkpoint format
 * version — and the size and XXH64 of every input file's whole content (`io/content_hash.ts`).
 * Its SHA-256 is the run id stored in every output file. The work folder `OUT.quantlab-work/`
 * (beside the output) holds `progress.jsonl` — a run log (`io/jsonl_log.ts`) whose header is the
 * key, then one record per finished tensor — and the output written in place (`run-ID/` or
 * `run-ID.safetensors`, planned by `quantize_layout.ts`, with the files' birth ids in
 * `run-ID.births/`); `--resume` continues it only when the key is equal field for field.
 *
 * @module
 */
import type { Quantizer, QuantOptions } from "../quant/quantizer.ts";
import {
  QUANT_FORMAT_VERSION,
  type QuantizedTensorDescriptor,
} from "../io/quantized_checkpoint.ts";
import type { FileHash } from "../io/content_hash.ts";
import { openRunLog } from "../io/jsonl_log.ts";
import { type OutputMode, workFolderOf } from "../io/output_guard.ts";
import { ioError } from "../io/safetensors.ts";
import { joinPath, q } from "../io/paths.ts";

/** Schema of the progress log's header. */
export const QUANTIZE_RUN_SCHEMA = "quantlab.quantize.run";
/**
 * Version 3: tensors written in place into planned output files, records with birth ids and
 * descriptors (2: one part file per tensor, assembled; settings with defaults and whole-file
 * content hashes since version 2).
 */
export const QUANTIZE_RUN_VERSION = 3;

/** What identifies a quantize run. */
export interface QuantizeRunKey {
  /** Version of the quantized-checkpoint format written. */
  format: number;
  /** The method. */
  method: string;
  /** Every setting of the method, defaults filled in. */
  settings: Record<string, unknown>;
  /** Settings of the tensors a plan gives their own options, by name (defaults filled in). */
  perTensor: Record<string, Record<string, unknown>>;
  /** The tensors quantized, sorted. */
  tensors: string[];
  /** Size and content hash of every input file, by file name. */
  inputs: Record<string, FileHash>;
}

/** Options as JSON, an unset option spelled "default" (JSON would drop it). */
function asGiven(options: QuantOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify(options, (_k, v) => (v === undefined ? "default" : v)));
}

/**
 * The settings of `quantizer` for `options`, defaults filled in when the method can say them
 * (`Quantizer.settings`), else the options as given.
 *
 * @example
 * ```ts
 * import { methodSettings } from "./quantize_run.ts";
 * import { getQuantizer } from "../quant/registry.ts";
 * const s = methodSettings(getQuantizer("rtn"), { bits: 3 });
 * if (s.groupSize !== 64 || s.symmetric !== false) throw new Error(JSON.stringify(s));
 * ```
 */
export function methodSettings(
  quantizer: Quantizer,
  options: QuantOptions,
): Record<string, unknown> {
  return asGiven((quantizer.settings?.(options) ?? options) as QuantOptions);
}

/** Per-tensor options merged over the run's: their method-specific `extra` adds to the run's. */
export function mergeOptions(options: QuantOptions, own: QuantOptions | undefined): QuantOptions {
  return own ? { ...options, ...own, extra: { ...options.extra, ...own.extra } } : options;
}

/**
 * The key of a run (see the module doc).
 *
 * @example
 * ```ts
 * import { quantizeRunKey } from "./quantize_run.ts";
 * import { getQuantizer } from "../quant/registry.ts";
 * const k = quantizeRunKey(getQuantizer("nf4"), {}, {}, ["w"], {
 *   "m.safetensors": { bytes: 10, xxh64: "xxh64:0000000000000000" },
 * });
 * if (k.settings.groupSize !== 64 || k.tensors[0] !== "w") throw new Error();
 * ```
 */
export function quantizeRunKey(
  quantizer: Quantizer,
  options: QuantOptions,
  perTensor: Readonly<Record<string, QuantOptions>>,
  tensors: Iterable<string>,
  inputs: Record<string, FileHash>,
): QuantizeRunKey {
  const own: Record<string, Record<string, unknown>> = {};
  for (const name of Object.keys(perTensor).sort()) {
    own[name] = methodSettings(quantizer, mergeOptions(options, perTensor[name]));
  }
  return {
    format: QUANT_FORMAT_VERSION,
    method: quantizer.method,
    settings: methodSettings(quantizer, options),
    perTensor: own,
    tensors: [...tensors].sort(),
    inputs,
  };
}

/**
 * The run id stored in every output file: the first 32 hex digits of the key's SHA-256.
 *
 * @example
 * ```ts
 * import { runIdOf } from "./quantize_run.ts";
 * if (!/^[0-9a-f]{32}$/.test(await runIdOf({ a: 1 }))) throw new Error();
 * ```
 */
export async function runIdOf(key: object): Promise<string> {
  const text = JSON.stringify({ schema: QUANTIZE_RUN_SCHEMA, version: QUANTIZE_RUN_VERSION, key });
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].slice(0, 16).map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A tensor done: the birth id of the output file it was written into, and its descriptor. */
export interface TensorRecord {
  /** The source tensor. */
  tensor: string;
  /** Birth id of the planned output file it was written to (`io/planned_file.ts`). */
  birth: string;
  /** Its descriptor, when quantized (a tensor kept as it is has none). */
  descriptor?: QuantizedTensorDescriptor;
}

/** One record of the progress log after its header: a tensor done, or a file's header written. */
export type ProgressRecord = TensorRecord | { file: string };

/** A run's work folder, opened. */
export interface RunWork {
  /** The work folder, `OUT.quantlab-work`, or a shard's folder inside it. */
  dir: string;
  /** Its progress log. */
  logFile: string;
  /**
   * Where the output is written in place (a folder, or one `.safetensors` file), in the run's
   * work folder and named by the run id: a single run and all its shards share it.
   */
  staged: string;
  /** Birth ids of the staged files (`io/planned_file.ts`). */
  births: string;
  /** Tensors an earlier run (or the shards, for the merge) finished. */
  done: Map<string, TensorRecord>;
}

/**
 * Opens (mode `"resume"`) or creates the work folder of run `run`: `"force"` first removes an
 * old one; an existing one must hold a run with the same key, else a `bad-argument` error names
 * the fields that differ. A shard of a sharded run (`quantize_shard.ts`) passes its own folder
 * inside the run's as `shardDir`: it holds the shard's log; the output files are the run's.
 */
export async function openRunWork(
  out: string,
  singleOut: boolean,
  key: QuantizeRunKey,
  run: string,
  mode: OutputMode,
  shardDir?: string,
): Promise<RunWork> {
  const work = workFolderOf(out);
  const dir = shardDir ?? work;
  if (mode === "force") {
    await Deno.remove(dir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw ioError(e, dir, "remove the old work folder");
    });
  }
  const staged = joinPath(work, `run-${run}${singleOut ? ".safetensors" : ""}`);
  for (const d of singleOut ? [dir] : [dir, staged]) {
    await Deno.mkdir(d, { recursive: true }).catch((e) => {
      throw ioError(e, d, "create folder");
    });
  }
  const logFile = joinPath(dir, "progress.jsonl");
  const records = await openRunLog(
    logFile,
    { schema: QUANTIZE_RUN_SCHEMA, schemaVersion: QUANTIZE_RUN_VERSION, key },
    `The unfinished run of --out ${q(out)} (in ${q(dir)})`,
  ) as ProgressRecord[];
  const done = new Map<string, TensorRecord>();
  for (const r of records) if ("tensor" in r) done.set(r.tensor, r);
  return { dir, logFile, staged, births: joinPath(work, `run-${run}.births`), done };
}
