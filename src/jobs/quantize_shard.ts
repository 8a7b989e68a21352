/**
 * The shard side of `quantlab quantize --shard I/N` (hooks of `quantize_checkpoint.ts`): which
 * tensors a shard owns, where it works, and the manifest it writes when done.
 *
 * A shard makes every check of a whole run, the same run key (`quantize_run.ts`: settings and
 * the content hash of every input file) and the same planned layout (`quantize_layout.ts`), then
 * reads and writes only the tensors it owns — every tensor balanced by its source bytes
 * ({@linkcode balanceBySize}) — at their planned offsets in the run's output files in the work
 * folder `OUT.quantlab-work/run-ID/` (shards running at once write disjoint byte ranges of the
 * same files). Its progress log lives in a folder of its own (`shard-I-of-N/`, headed by the run
 * key, resumable with `--resume` exactly as a whole run's). When every tensor it owns is done it
 * writes its manifest `OUT.quantlab-work/shard-I-of-N.json` atomically — the partial index: its
 * tensors with their descriptors, the run key and id, and the settings to finish the run with.
 * `quantlab merge OUT` (`quantize_merge.ts`) checks the manifests and lets the quantize job write
 * the headers, index and config and rename the output to `OUT` exactly as a single run does.
 *
 * @module
 */
import { writeJsonAtomic } from "../io/atomic.ts";
import { readJsonl } from "../io/jsonl_log.ts";
import { joinPath } from "../io/paths.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import type { QuantizeRunKey, TensorRecord } from "./quantize_run.ts";
import { balanceBySize, type Shard, shardTag } from "./shard_plan.ts";

/** Schema name of a quantize shard's manifest. */
export const QUANTIZE_SHARD_SCHEMA = "quantlab.quantize.shard";
/**
 * Schema version of a quantize shard's manifest (3: tensors written in place, each with the birth
 * id of its output file and its descriptor; 2: the complete run key, in `key`).
 */
export const QUANTIZE_SHARD_SCHEMA_VERSION = 3;

/**
 * The work folder of shard `s` inside the run's work folder `work` (`OUT.quantlab-work`).
 *
 * @example
 * ```ts
 * import { shardWorkFolder } from "./quantize_shard.ts";
 * const dir = shardWorkFolder("q.quantlab-work", { index: 1, count: 2 });
 * if (dir !== "q.quantlab-work/shard-1-of-2") throw new Error(dir);
 * ```
 */
export function shardWorkFolder(work: string, s: Shard): string {
  return joinPath(work, shardTag(s));
}

/**
 * The manifest of shard `s` inside the run's work folder `work`.
 *
 * @example
 * ```ts
 * import { shardManifestPath } from "./quantize_shard.ts";
 * if (shardManifestPath("w", { index: 1, count: 2 }) !== "w/shard-1-of-2.json") throw new Error();
 * ```
 */
export function shardManifestPath(work: string, s: Shard): string {
  return joinPath(work, `${shardTag(s)}.json`);
}

/**
 * The tensors shard `s` owns: every tensor of the source files (`headers`, each file's tensors
 * with their bytes) — quantized or kept as it is, since each shard writes its own into the
 * shared output files — balanced by their size in the source.
 *
 * @example
 * ```ts
 * import { shardTensors } from "./quantize_shard.ts";
 * const infos = new Map([["a", { bytes: 8 }], ["b", { bytes: 4 }], ["n", { bytes: 9 }]]);
 * const mine = shardTensors([{ infos }], { index: 2, count: 2 });
 * if ([...mine].sort().join() !== "a,b") throw new Error([...mine].join());
 * ```
 */
export function shardTensors(
  headers: readonly { infos: ReadonlyMap<string, { bytes: number }> }[],
  s: Shard,
): Set<string> {
  const units = [];
  for (const h of headers) for (const [name, i] of h.infos) units.push({ name, bytes: i.bytes });
  const owner = balanceBySize(units, s.count);
  return new Set([...owner].filter(([, o]) => o === s.index).map(([n]) => n));
}

/** What `quantizeCheckpoint` was called with: the merge finishes the run with the same. */
export interface QuantizeShardSettings {
  /** Method name. */
  method: string;
  /** Method options. */
  options: QuantOptions;
  /** Per-tensor options (an allocation plan). */
  perTensor?: Readonly<Record<string, QuantOptions>>;
  /** Whether lm_head is quantized. */
  includeLmHead: boolean;
  /** An explicit tensor list. */
  tensors: readonly string[];
}

/** A finished shard's manifest (its partial index). */
export interface QuantizeShardManifest {
  /** {@linkcode QUANTIZE_SHARD_SCHEMA}. */
  schema: string;
  /** {@linkcode QUANTIZE_SHARD_SCHEMA_VERSION}. */
  schemaVersion: number;
  /** Which shard. */
  shard: Shard;
  /** The run id (`runIdOf(key)`): every shard's, and the merged output's, is the same. */
  run: string;
  /** The run key: settings with defaults, tensors, size and content hash of every input file. */
  key: QuantizeRunKey;
  /** The source checkpoint, as an absolute path. */
  input: string;
  /** The call's settings. */
  settings: QuantizeShardSettings;
  /** How many tensors the whole run quantizes. */
  selected: number;
  /** How many tensors the output holds (quantized or kept as they are). */
  total: number;
  /** The shard's tensors: the birth id of the file each was written to, and its descriptor. */
  tensors: Record<string, Omit<TensorRecord, "tensor">>;
  /** Tensor bytes the shard's last run read from the source. */
  sourceBytesRead: number;
  /** Tensors quantized by the shard's last run, and found done before it. */
  quantized: number;
  /** … and found done before it. */
  resumed: number;
  /** Wall time of the shard's last run (seconds). */
  seconds: number;
}

/**
 * Writes shard `m.shard`'s manifest into the run's work folder `work` (atomically), its tensors
 * read from the shard's progress log `logFile`.
 */
export async function writeShardManifest(
  work: string,
  logFile: string,
  m: Omit<QuantizeShardManifest, "schema" | "schemaVersion" | "tensors">,
): Promise<void> {
  const tensors: QuantizeShardManifest["tensors"] = {};
  for (const l of (await readJsonl(logFile)) as Partial<TensorRecord>[]) {
    if (typeof l.tensor === "string" && typeof l.birth === "string") {
      tensors[l.tensor] = { birth: l.birth, ...(l.descriptor ? { descriptor: l.descriptor } : {}) };
    }
  }
  const manifest: QuantizeShardManifest = {
    schema: QUANTIZE_SHARD_SCHEMA,
    schemaVersion: QUANTIZE_SHARD_SCHEMA_VERSION,
    ...m,
    tensors,
  };
  await writeJsonAtomic(shardManifestPath(work, m.shard), manifest);
}
