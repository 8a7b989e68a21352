/**
 * Merging a sharded quantize run (`quantlab quantize … --out OUT --shard I/N`, then
 * `quantlab merge OUT`): checks that `OUT` may be written (absent or empty unless `force`, as for
 * a single run), that every shard's manifest is in the work folder `OUT.quantlab-work/` (a shard
 * folder without one is a shard that has not finished), made by the same run (run key, source,
 * settings) and that together they cover every tensor once; then writes the work folder's
 * progress log (headed by the run key, one record per tensor from the shards' manifests) and
 * finishes the run with the quantize job itself in mode "resume" — which trusts the shards'
 * content hashes of the input (each shard hashed every input byte; the merge checks each file's
 * size only), finds every tensor in place in the output files the shards wrote (same birth id,
 * `io/planned_file.ts`; a lost one names the shards to rerun), writes each file's header, the
 * index and config exactly as a single run does and renames the output to `OUT` (then removes
 * the work folder). No tensor byte is read or copied. A merge killed midway is run again: it
 * continues. See `quantize_shard.ts`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { ProgressFactory } from "../core/progress.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { readJsonl } from "../io/jsonl_log.ts";
import { refuseExistingOutputs, workFolderOf } from "../io/output_guard.ts";
import { describeKeyDifferences } from "../io/run_key.ts";
import { joinPath, q } from "../io/paths.ts";
import { quantizeCheckpoint, type QuantizeSummary } from "./quantize_checkpoint.ts";
import { QUANTIZE_RUN_SCHEMA, QUANTIZE_RUN_VERSION } from "./quantize_run.ts";
import {
  QUANTIZE_SHARD_SCHEMA,
  QUANTIZE_SHARD_SCHEMA_VERSION,
  type QuantizeShardManifest,
  shardManifestPath,
  shardWorkFolder,
} from "./quantize_shard.ts";
import { parseShardTag, type Shard, shardLabel } from "./shard_plan.ts";

/** The shards found in a quantize run's work folder. */
export interface FoundShards {
  /** The run's work folder. */
  work: string;
  /** Shard work folders, by shard label (`I/N`). */
  folders: Map<string, Shard>;
  /** Shard manifests (finished shards), by shard label. */
  manifests: Map<string, Shard>;
  /** The shard counts seen. */
  counts: Set<number>;
}

/**
 * The shard folders and manifests of the quantize run writing `out`, or null when it has none.
 *
 * @example
 * ```ts
 * import { findQuantizeShards } from "./quantize_merge.ts";
 * if ((await findQuantizeShards("/no/such/q")) !== null) throw new Error();
 * ```
 */
export async function findQuantizeShards(out: string): Promise<FoundShards | null> {
  const work = workFolderOf(out);
  const found: FoundShards = { work, folders: new Map(), manifests: new Map(), counts: new Set() };
  try {
    for await (const e of Deno.readDir(work)) {
      const json = e.isFile && e.name.endsWith(".json");
      const s = parseShardTag(json ? e.name.slice(0, -5) : e.name);
      if (!s || !(json || e.isDirectory)) continue;
      (json ? found.manifests : found.folders).set(shardLabel(s), s);
      found.counts.add(s.count);
    }
  } catch {
    return null;
  }
  return found.counts.size ? found : null;
}

function merr(message: string): never {
  throw new QuantlabError("bad-file", message);
}

/** What {@linkcode mergeQuantizeShards} did. */
export interface QuantizeMerge {
  /** Shards joined. */
  shards: number;
  /** Tensors quantized by the shards. */
  tensors: number;
  /** Tensor bytes each shard read from the source (shard 1 first). */
  sourceBytesRead: number[];
  /** The quantize job's summary of the finishing pass (it quantizes nothing). */
  summary: QuantizeSummary;
}

/**
 * Merges the shards of the quantize run writing `out` (see the module doc); `force` replaces an
 * existing `out` once the merged output is complete. Errors (one line naming the shard and the
 * fix): an existing `out` without `force` (`bad-argument`); no shards, shards of two splits, a
 * shard missing or unfinished, made by another run, or whose tensors were lost (`bad-file`).
 *
 * @example
 * ```ts
 * import { mergeQuantizeShards } from "./quantize_merge.ts";
 * const err = await mergeQuantizeShards("/no/such/q").catch((e) => e.message);
 * if (!/no quantize shards/.test(err)) throw new Error(err);
 * ```
 */
export async function mergeQuantizeShards(
  out: string,
  opts: { progress?: ProgressFactory; force?: boolean } = {},
): Promise<QuantizeMerge> {
  const found = await findQuantizeShards(out);
  if (!found) merr(`${q(out)} has no quantize shards to merge (made by quantize --shard I/N)`);
  const { work } = found;
  if (found.counts.size > 1) {
    const ns = [...found.counts].sort((a, b) => a - b).map((n) => `of ${n}`).join(", ");
    merr(
      `${q(work)} holds shards of ${found.counts.size} different splits (${ns}); delete the ` +
        "old split's shard-I-of-N folders and manifests and merge again",
    );
  }
  const count = [...found.counts][0]!;
  const manifests: QuantizeShardManifest[] = [];
  for (let index = 1; index <= count; index++) {
    const s = { index, count }, label = shardLabel(s);
    if (!found.manifests.has(label)) {
      if (!found.folders.has(label)) {
        merr(`Shard ${label} of ${q(out)} is missing; run quantize with --shard ${label}`);
      }
      const log = joinPath(shardWorkFolder(work, s), "progress.jsonl");
      const done = (await readJsonl(log)).filter((l) => (l as { tensor?: unknown }).tensor).length;
      merr(
        `Shard ${label} of ${q(out)} has not finished (${done} tensors done); rerun quantize ` +
          `with --shard ${label} --resume: it continues`,
      );
    }
    const path = shardManifestPath(work, s);
    let m: QuantizeShardManifest;
    try {
      m = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      merr(`Shard ${label} of ${q(out)}: cannot read ${q(path)}: ${(e as Error).message}`);
    }
    if (
      m?.schema !== QUANTIZE_SHARD_SCHEMA || m.shard?.index !== index || m.shard?.count !== count
    ) {
      merr(`${q(path)} is not the manifest of quantize shard ${label}`);
    }
    if (m.schemaVersion !== QUANTIZE_SHARD_SCHEMA_VERSION) {
      merr(
        `${q(path)} was written in version ${JSON.stringify(m.schemaVersion)} of the shard ` +
          `manifest; this build reads version ${QUANTIZE_SHARD_SCHEMA_VERSION}: rerun quantize ` +
          `with --shard ${label} --force`,
      );
    }
    const first = manifests[0];
    if (first) {
      // The run keys name what differs (a setting, an input file's hash); else the source path.
      const diff = describeKeyDifferences(first.key, m.key, 3) ||
        (["run", "input", "settings", "selected"] as const).filter((k) =>
          JSON.stringify(first[k]) !== JSON.stringify(m[k])
        ).map((k) => `${k} differs`).join(", ");
      if (diff) {
        merr(
          `Shard ${label} of ${q(out)} was made by another run than shard 1/${count} (${diff}); ` +
            `rerun it with shard 1's command line and --shard ${label} --force`,
        );
      }
    }
    manifests.push(m);
  }
  // Every tensor once; the job checks each is in place (its output file's birth id).
  const lines: string[] = [];
  const owner = new Map<string, string>();
  for (const m of manifests) {
    const label = shardLabel(m.shard);
    for (const [tensor, r] of Object.entries(m.tensors)) {
      const other = owner.get(tensor);
      if (other) merr(`Shards ${other} and ${label} of ${q(out)} both wrote ${q(tensor)}`);
      owner.set(tensor, label);
      lines.push(JSON.stringify({ tensor, ...r }) + "\n");
    }
  }
  const first = manifests[0]!;
  if (owner.size !== first.total) {
    merr(
      `The ${count} shards of ${q(out)} wrote ${owner.size} tensors; the run has ` +
        `${first.total}: rerun the shards with one command line`,
    );
  }
  // The shards are sound: now OUT, which only --force may replace.
  await refuseExistingOutputs([{ path: out, what: "--out" }], opts.force ? "force" : "new", {
    resumable: false,
  });
  // The run's progress log, as a whole run that wrote every tensor would have left it: its
  // header is the run key (the job resumes it with the hashes the shards recorded).
  const header = {
    kind: "header",
    schema: QUANTIZE_RUN_SCHEMA,
    schemaVersion: QUANTIZE_RUN_VERSION,
    key: first.key,
  };
  await writeFileAtomic(
    joinPath(work, "progress.jsonl"),
    JSON.stringify(header) + "\n" + lines.join(""),
  );
  const st = first.settings;
  const summary = await quantizeCheckpoint(first.input, out, {
    method: st.method,
    options: st.options,
    ...(st.perTensor ? { perTensor: st.perTensor } : {}),
    includeLmHead: st.includeLmHead,
    tensors: st.tensors,
    trustedInputs: first.key.inputs,
    shardOf: owner,
    mode: "resume",
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  return {
    shards: count,
    tensors: first.selected,
    sourceBytesRead: manifests.map((m) => m.sourceBytesRead),
    summary,
  };
}
