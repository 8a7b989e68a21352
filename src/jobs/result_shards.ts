/**
 * The files of a sharded results run (`sensitivity` / `linearity --shard I/N --out r.json`) and
 * the checks `quantlab merge r.json` makes before joining them. Shard I of N logs its
 * measurements to `r.json.shard-I-of-N<log suffix>` (the resumable JSONL log, keyed like a whole
 * run's) and, once it has measured every unit it owns, writes `r.json.shard-I-of-N.json`
 * atomically: its settings key, the results head (config, model) and its own measurements. A
 * shard file therefore means a finished shard; a log without one, an unfinished shard.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { readJsonl } from "../io/jsonl_log.ts";
import { describeKeyDifferences } from "../io/run_key.ts";
import { baseName, joinPath } from "../io/paths.ts";
import { ownedUnits, parseShardTag, type Shard, shardLabel, shardTag } from "./shard_plan.ts";

/**
 * Where shard `s` of the run writing `out` puts its finished results.
 *
 * @example
 * ```ts
 * import { shardResultPath } from "./result_shards.ts";
 * if (shardResultPath("r/s.json", { index: 2, count: 3 }) !== "r/s.json.shard-2-of-3.json") {
 *   throw new Error();
 * }
 * ```
 */
export function shardResultPath(out: string, s: Shard): string {
  return `${out}.${shardTag(s)}.json`;
}

/**
 * Where shard `s` of the run writing `out` logs its measurements (`suffix` as a whole run's log,
 * e.g. `.points.jsonl`).
 *
 * @example
 * ```ts
 * import { shardLogPath } from "./result_shards.ts";
 * if (shardLogPath("s.json", { index: 1, count: 3 }, ".points.jsonl") !== "s.json.shard-1-of-3.points.jsonl") {
 *   throw new Error();
 * }
 * ```
 */
export function shardLogPath(out: string, s: Shard, suffix: string): string {
  return `${out}.${shardTag(s)}${suffix}`;
}

/** What a finished shard wrote (the common fields; each kind adds its own). */
export interface ShardDocument {
  /** `quantlab.<kind>.shard`. */
  schema: string;
  /** Schema version (the kind's). */
  schemaVersion: number;
  /** Which shard. */
  shard: Shard;
  /** The run's settings key (the one its resumable log is keyed by). */
  key: Record<string, unknown>;
  /** Units of the whole run (the shard owns those {@linkcode ownedUnits} gives it). */
  units: number;
  /** Wall time of the shard's last run (seconds). */
  seconds: number;
  /** Units taken from the shard's log. */
  resumed: number;
  /** Anything else the kind records (config, model, results). */
  [field: string]: unknown;
}

/** The shard files found beside a results path. */
export interface ResultShardFiles {
  /** Finished shards: shard file by `I/N` label. */
  done: Map<string, string>;
  /** Logs (finished or not) by `I/N` label. */
  logs: Map<string, string>;
  /** The shard counts N seen. */
  counts: Set<number>;
}

/**
 * Lists the shard files of `out` (none when its folder cannot be read).
 *
 * @example
 * ```ts
 * import { findResultShards } from "./result_shards.ts";
 * if ((await findResultShards("/no/such/r.json")).counts.size !== 0) throw new Error();
 * ```
 */
export async function findResultShards(out: string): Promise<ResultShardFiles> {
  const i = out.lastIndexOf("/");
  const dir = i < 0 ? "." : out.slice(0, i) || "/";
  const base = baseName(out);
  const found: ResultShardFiles = { done: new Map(), logs: new Map(), counts: new Set() };
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) entries.push(e);
  } catch {
    return found;
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.startsWith(`${base}.shard-`)) continue;
    const rest = e.name.slice(base.length + 1);
    const m = /^(shard-\d+-of-\d+)(\..+)$/.exec(rest);
    const s = m ? parseShardTag(m[1]!) : null;
    if (!m || !s) continue;
    const path = i < 0 ? e.name : joinPath(dir, e.name);
    if (m[2] === ".json") found.done.set(shardLabel(s), path);
    else if (m[2]!.endsWith(".jsonl")) found.logs.set(shardLabel(s), path);
    else continue;
    found.counts.add(s.count);
  }
  return found;
}

function merr(message: string): never {
  throw new QuantlabError("bad-file", message);
}

/**
 * Reads and checks every shard of the run that wrote `out` with `schema`: one shard count N, all
 * N shards finished, the same settings key and the same `sameFields` (e.g. config, model), and
 * the unit count each shard's plan gives. Errors (`bad-file`, one line naming the shard and how
 * to fix it): a missing, unfinished or mismatched shard, or shards of two different splits.
 * Returns the shard documents by index (1 … N, at 0 … N−1).
 *
 * @example
 * ```ts
 * import { readResultShards } from "./result_shards.ts";
 * const err = await readResultShards("/no/such/r.json", "x", []).catch((e) => e.message);
 * if (!/no shard files/.test(err)) throw new Error(err);
 * ```
 */
export async function readResultShards(
  out: string,
  schema: string,
  sameFields: readonly string[],
): Promise<ShardDocument[]> {
  const files = await findResultShards(out);
  if (files.counts.size === 0) {
    merr(`${out}: no shard files to merge (${baseName(out)}.shard-I-of-N.json)`);
  }
  if (files.counts.size > 1) {
    const ns = [...files.counts].sort((a, b) => a - b).map((n) => `of ${n}`).join(", ");
    merr(
      `${out} has shard files of ${files.counts.size} different splits (${ns}); delete those ` +
        "of the old split and merge again",
    );
  }
  const count = [...files.counts][0]!;
  const docs: ShardDocument[] = [];
  for (let index = 1; index <= count; index++) {
    const s = { index, count }, label = shardLabel(s);
    const path = files.done.get(label);
    if (path === undefined) {
      const log = files.logs.get(label);
      if (log === undefined) {
        merr(
          `Shard ${label} of ${out} is missing: no ${
            baseName(shardResultPath(out, s))
          } nor its log; run it with --shard ${label}`,
        );
      }
      const n = (await readJsonl(log)).length - 1;
      merr(
        `Shard ${label} of ${out} has not finished (its log ${baseName(log)} holds ${
          Math.max(0, n)
        } measurements); rerun it with --shard ${label} --resume: it continues from the log`,
      );
    }
    let doc: ShardDocument;
    try {
      doc = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      merr(`Shard ${label} of ${out}: cannot read ${path}: ${(e as Error).message}`);
    }
    if (
      doc?.schema !== schema || doc.shard?.index !== index || doc.shard?.count !== count ||
      typeof doc.key !== "object" || !Number.isInteger(doc.units)
    ) {
      merr(
        `${path} is not shard ${label} of a ${schema.split(".")[1]} run (schema ${
          JSON.stringify(doc?.schema)
        })`,
      );
    }
    const first = docs[0];
    if (first) {
      // The resume keys name the setting and both values; else the other recorded fields.
      const diff = describeKeyDifferences(first.key, doc.key, 3) ||
        [...sameFields, "units"].filter((f) => JSON.stringify(first[f]) !== JSON.stringify(doc[f]))
          .map((f) => `${f} differs`).join(", ");
      if (diff) {
        merr(
          `Shard ${label} of ${out} was made with other settings than shard 1/${count} (${diff}); ` +
            `rerun it with shard 1's command line and --shard ${label} --force`,
        );
      }
    }
    docs.push(doc);
  }
  return docs;
}

/**
 * Joins per-shard lists of owned units back into the whole run's order: unit u comes from shard
 * `roundRobinOwner(u)`'s list, in order. Errors (`bad-file`) when a shard's list is not as long
 * as its plan says.
 *
 * @example
 * ```ts
 * import { interleaveShards } from "./result_shards.ts";
 * if (interleaveShards([["a", "c"], ["b"]], 3, "r.json").join("") !== "abc") throw new Error();
 * ```
 */
export function interleaveShards<T>(perShard: readonly T[][], total: number, out: string): T[] {
  const count = perShard.length;
  for (let k = 0; k < count; k++) {
    const want = ownedUnits(total, { index: k + 1, count }).length;
    if (perShard[k]!.length !== want) {
      merr(
        `Shard ${k + 1}/${count} of ${out} holds ${perShard[k]!.length} results where its plan ` +
          `gives it ${want}; rerun it with --shard ${k + 1}/${count} --force`,
      );
    }
  }
  return Array.from({ length: total }, (_, u) => perShard[u % count]![Math.floor(u / count)]!);
}
