/**
 * `quantlab merge OUT`: joins the shards of a run started with `--shard I/N` into the output a
 * single run writes. Which run it was is read from OUT's shard files: a `quantize` output with
 * shard folders in its work folder (`quantize_merge.ts`), or a `sensitivity` or `linearity`
 * results path with `OUT.shard-I-of-N.json` files beside it (`result_shards.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { readJsonl } from "../io/jsonl_log.ts";
import { q } from "../io/paths.ts";
import type { ProgressFactory } from "../core/progress.ts";
import { findQuantizeShards, mergeQuantizeShards, type QuantizeMerge } from "./quantize_merge.ts";
import { LINEARITY_SCHEMA, LINEARITY_SHARD_SCHEMA, mergeLinearityShards } from "./linearity_run.ts";
import { findResultShards } from "./result_shards.ts";
import { SENSITIVITY_SCHEMA, SENSITIVITY_SHARD_SCHEMA } from "./sensitivity.ts";
import { mergeSensitivityShards } from "./sensitivity_shards.ts";

/** What {@linkcode mergeShards} did. */
export interface MergeSummary {
  /** Which command's run was merged. */
  kind: "quantize" | "sensitivity" | "linearity";
  /** The output written. */
  out: string;
  /** Shards joined. */
  shards: number;
  /** Units joined (measurements, assignments). */
  units: number;
  /** Wall time of the merge in seconds. */
  seconds: number;
  /** For a quantize run: what its merge did (tensor bytes each shard read, the summary). */
  quantize?: QuantizeMerge;
}

/** The schema of a shard file or log (null when unreadable). */
async function schemaOf(path: string): Promise<string | null> {
  if (path.endsWith(".jsonl")) {
    const first = (await readJsonl(path))[0] as { schema?: unknown } | undefined;
    return typeof first?.schema === "string" ? first.schema : null;
  }
  try {
    const s = JSON.parse(await Deno.readTextFile(path))?.schema;
    return typeof s === "string" ? s : null;
  } catch {
    return null;
  }
}

/**
 * Merges the shards of the run whose output is `out` (see the module doc). Like a single run, the
 * merge wants `out` absent (or an empty folder); `force` replaces it once the merged output is
 * complete. Errors: an existing `out` without `force` (`bad-argument`); no shard files at `out`,
 * or one missing, unfinished or made with other settings, named (`bad-file`).
 *
 * @example
 * ```ts
 * import { mergeShards } from "./merge.ts";
 * const err = await mergeShards("/no/such/out").catch((e) => e.message);
 * if (!/Nothing to merge/.test(err)) throw new Error(err);
 * ```
 */
export async function mergeShards(
  out: string,
  opts: { progress?: ProgressFactory; force?: boolean } = {},
): Promise<MergeSummary> {
  const t0 = performance.now();
  if (await findQuantizeShards(out)) {
    const m = await mergeQuantizeShards(out, opts);
    const seconds = (performance.now() - t0) / 1000;
    return { kind: "quantize", out, shards: m.shards, units: m.tensors, seconds, quantize: m };
  }
  const found = await findResultShards(out);
  const any = [...found.done.values(), ...found.logs.values()][0];
  if (any === undefined) {
    throw new QuantlabError(
      "bad-file",
      `Nothing to merge at ${q(out)}: no shard files (from quantize, sensitivity or linearity ` +
        `--shard I/N --out ${out})`,
    );
  }
  const schema = await schemaOf(any);
  const seconds = () => (performance.now() - t0) / 1000;
  if (schema === SENSITIVITY_SHARD_SCHEMA || schema === SENSITIVITY_SCHEMA) {
    const m = await mergeSensitivityShards(out, opts);
    return { kind: "sensitivity", out, shards: m.shards, units: m.points, seconds: seconds() };
  }
  if (schema === LINEARITY_SHARD_SCHEMA || schema === LINEARITY_SCHEMA) {
    const m = await mergeLinearityShards(out, opts);
    return { kind: "linearity", out, shards: m.shards, units: m.rows, seconds: seconds() };
  }
  throw new QuantlabError(
    "bad-file",
    `${q(any)} is not a shard file of quantlab sensitivity or linearity (schema ${
      JSON.stringify(schema)
    })`,
  );
}
