/**
 * Merging a sharded sensitivity run: the shards' points, put back in the whole run's
 * (projection, level, draw) order and fitted per projection exactly as a single run fits them,
 * give the results a single run writes (the same projections, fits and points; only the
 * provenance — creation time, seconds — is the merge's).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { writeJsonAtomic } from "../io/atomic.ts";
import { refuseExistingOutputs } from "../io/output_guard.ts";
import type { LinearKind } from "../model/types.ts";
import { fitSensitivity, type SensitivityPoint } from "./linearity.ts";
import { interleaveShards, readResultShards } from "./result_shards.ts";
import {
  SENSITIVITY_SHARD_SCHEMA,
  sensitivityDocument,
  type SensitivityRecord,
} from "./sensitivity.ts";

/** A projection as a shard file holds it: its head and the points the shard measured. */
type ShardProjection = Omit<SensitivityRecord, "alpha" | "r2">;

/** What {@linkcode mergeSensitivityShards} did. */
export interface SensitivityMerge {
  /** The results file written. */
  out: string;
  /** Shards joined. */
  shards: number;
  /** Points joined. */
  points: number;
  /** Projections fitted. */
  projections: number;
}

/**
 * Joins the finished shards of `quantlab sensitivity --out OUT --shard I/N` into OUT (atomically;
 * an existing OUT only with `force`, else a `bad-argument` error). Errors (`bad-file`): a shard
 * missing, unfinished, made with other settings, or holding other points than its plan gives it.
 *
 * @example
 * ```ts
 * import { mergeSensitivityShards } from "./sensitivity_shards.ts";
 * const err = await mergeSensitivityShards("/no/such/s.json").catch((e) => e.message);
 * if (!/no shard files/.test(err)) throw new Error(err);
 * ```
 */
export async function mergeSensitivityShards(
  out: string,
  opts: { force?: boolean } = {},
): Promise<SensitivityMerge> {
  const docs = await readResultShards(out, SENSITIVITY_SHARD_SCHEMA, ["config", "model"]);
  await refuseExistingOutputs([{ path: out, what: "--out" }], opts.force ? "force" : "new", {
    resumable: false,
  });
  const first = docs[0]!;
  const heads = (first.projections as ShardProjection[]).map(({ points: _, ...head }) => head);
  const perProjection = first.units / Math.max(1, heads.length);
  // Every shard lists every projection (with the points it owns) in the run's order.
  const owned = docs.map((d) => {
    const ps = d.projections as ShardProjection[];
    if (
      ps.length !== heads.length ||
      ps.some((p, i) => p.layer !== heads[i]!.layer || p.kind !== heads[i]!.kind)
    ) {
      throw new QuantlabError(
        "bad-file",
        `Shard ${d.shard.index}/${d.shard.count} of ${out} lists other projections than shard 1`,
      );
    }
    return ps.flatMap((p) => p.points);
  });
  const points = interleaveShards(owned, first.units, out);
  const projections: SensitivityRecord[] = heads.map((h, r) => {
    const mine: SensitivityPoint[] = points.slice(r * perProjection, (r + 1) * perProjection);
    const { alpha, r2 } = fitSensitivity(mine);
    // The key order of a single run's record: layer, kind, alpha, r2, points, name, size, …
    const { layer, kind, ...rest } = h;
    return { layer, kind: kind as LinearKind, alpha, r2, points: mine, ...rest };
  });
  const document = await sensitivityDocument({
    config: first.config as Record<string, unknown>,
    model: first.model as Record<string, unknown>,
    projections,
    seconds: docs.reduce((s, d) => s + d.seconds, 0),
    resumedPoints: docs.reduce((s, d) => s + d.resumed, 0),
  });
  await writeJsonAtomic(out, document);
  return { out, shards: docs.length, points: points.length, projections: projections.length };
}
