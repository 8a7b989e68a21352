/**
 * `--shard I/N`, `--shard-from-env` and `--shards N`: the flags of the commands whose work splits
 * into shards (`quantize`, `sensitivity`, `linearity`; `quantlab merge` joins them). The partition
 * itself is `src/jobs/shard_plan.ts`; this module turns the flags (and, for `--shard-from-env`,
 * the scheduler's environment) into a {@linkcode Shard}.
 *
 * @module
 */
import {
  type FlagSpec,
  intFlag,
  outAndLog,
  type ParsedArgs,
  prepareResultsOutput,
  UsageError,
} from "./command.ts";
import { shardLogPath, shardResultPath } from "../jobs/result_shards.ts";
import {
  MAX_SHARDS,
  parseShard,
  type Shard,
  shardFromEnv,
  shardLabel,
} from "../jobs/shard_plan.ts";

/** The shard flags, spelled alike in every command that has them. */
export const SHARD_FLAGS: Record<string, FlagSpec> = {
  shard: {
    type: "string",
    help: "run only shard I of N (1 ≤ I ≤ N) into OUT's shard files; quantlab merge OUT joins them",
  },
  "shard-from-env": {
    type: "boolean",
    help: "take I from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX (Kubernetes); needs --shards",
  },
  shards: { type: "string", help: "N for --shard-from-env" },
};

/**
 * The shard this command line runs, or null for a whole run. `env` is the environment that
 * `--shard-from-env` reads (default the process's). Errors: a usage error naming the value.
 *
 * @example
 * ```ts
 * import { shardFromArgs } from "./shard_flags.ts";
 * const s = shardFromArgs({ values: { "shard-from-env": true, shards: "3" }, positionals: [] },
 *   { JOB_COMPLETION_INDEX: "2" });
 * if (s?.index !== 3 || s.count !== 3) throw new Error();
 * ```
 */
export function shardFromArgs(
  args: ParsedArgs,
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
): Shard | null {
  const spec = args.values.shard;
  const fromEnv = Boolean(args.values["shard-from-env"]);
  const shards = args.values.shards;
  if (typeof spec === "string") {
    if (fromEnv || shards !== undefined) {
      throw new UsageError(
        `--shard ${spec} names the shard itself; drop --shard-from-env and --shards, or --shard`,
      );
    }
    return parseShard(spec);
  }
  if (fromEnv) {
    if (shards === undefined) {
      throw new UsageError(
        "--shard-from-env needs --shards N, the number of shards (the array's or the Job's size)",
      );
    }
    return shardFromEnv(env, intFlag(args, "shards", 1, 1, MAX_SHARDS));
  }
  if (shards !== undefined) {
    throw new UsageError(`--shards ${shards} goes with --shard-from-env; or give --shard I/N`);
  }
  return null;
}

/**
 * Refuses a flag that a shard run cannot honour (e.g. `--json`, `--log`) with one line.
 *
 * @example
 * ```ts
 * import { refuseWithShard } from "./shard_flags.ts";
 * refuseWithShard({ values: { json: false }, positionals: [] }, "json", "a shard prints a line");
 * ```
 */
export function refuseWithShard(args: ParsedArgs, flag: string, why: string): void {
  const v = args.values[flag];
  if (v !== undefined && v !== false) {
    throw new UsageError(`--${flag} does not go with --shard: ${why}`);
  }
}

/**
 * The results file and log of a command that may run as a shard (`sensitivity`, `linearity`):
 * `--out` and its log, or, for a shard, its own log and results file beside `--out` (which is the
 * merge's); checks them against the output rules (new, `--force`, `--resume`) before any work.
 */
export async function prepareShardableResults(
  args: ParsedArgs,
  shard: Shard | null,
  logSuffix: string,
): Promise<{ out: string | undefined; log: string | undefined }> {
  const { out, log: wholeLog } = outAndLog(args, logSuffix);
  const log = shard ? shardLogPath(out!, shard, logSuffix) : wholeLog;
  const own = shard
    ? [{ path: shardResultPath(out!, shard), what: `the results of shard ${shardLabel(shard)}` }]
    : [];
  await prepareResultsOutput(args, out, log, own);
  return { out, log };
}
