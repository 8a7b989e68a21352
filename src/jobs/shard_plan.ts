// This module is browser compatible.
/**
 * How a run splits into shards that a cluster scheduler (a Slurm array, a Kubernetes Indexed Job,
 * `xargs -P`) runs as separate processes, and `quantlab merge` puts back together: which shard
 * this process is (`--shard I/N`, or the scheduler's environment), and a deterministic partition
 * of the work units that every shard and the merge compute alike from the run's settings.
 *
 * Shards count from 1 (`1/N … N/N`). Units are either equal-cost measurements (sensitivity points,
 * linearity assignments: round-robin, {@linkcode roundRobinOwner}) or tensors of different sizes
 * (quantize: greedy largest-first onto the lightest shard, {@linkcode balanceBySize}).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** One shard of a run: `index` of `count`, counting from 1. */
export interface Shard {
  /** 1 … count. */
  index: number;
  /** How many shards the run is split into (≥ 1). */
  count: number;
}

/** The most shards a run may be split into (a sanity bound, far beyond any cluster array). */
export const MAX_SHARDS = 100000;

function bad(message: string): never {
  throw new QuantlabError("bad-argument", message);
}

function checkCount(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) {
    bad(`${what} is not valid; the number of shards is a whole number from 1 to ${MAX_SHARDS}`);
  }
}

/**
 * Parses `--shard I/N` (1 ≤ I ≤ N). Errors: `bad-argument`, one line naming the value and what
 * would be valid.
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard_plan.ts";
 * const s = parseShard("2/7");
 * if (s.index !== 2 || s.count !== 7) throw new Error();
 * ```
 */
export function parseShard(spec: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) bad(`--shard ${spec} is not valid; use I/N with whole numbers, e.g. --shard 1/4`);
  const index = Number(m[1]), count = Number(m[2]);
  checkCount(count, `--shard ${spec}`);
  if (index < 1 || index > count) {
    bad(
      `--shard ${spec} is not valid; shards count from 1: use 1/${count} … ${count}/${count}`,
    );
  }
  return { index, count };
}

/** A whole number from an environment variable, or a usage error naming it. */
function envInt(env: Readonly<Record<string, string | undefined>>, name: string): number {
  const raw = env[name]!;
  if (!/^\s*\d+\s*$/.test(raw)) bad(`${name}=${raw} is not a whole number ≥ 0`);
  return Number(raw);
}

/**
 * The shard of this process from a scheduler's environment (`--shard-from-env --shards N`):
 *
 * - Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` (0 … N−1) is shard index + 1;
 * - Slurm job array: `(SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1`
 *   (MIN 0 and STEP 1 when unset), so `--array=0-6` and `--array=1-7` both give shards 1 … 7;
 *   `SLURM_ARRAY_TASK_COUNT`, when set, must equal N.
 *
 * Errors (`bad-argument`): neither or both set, a count that disagrees with N, an index outside
 * the N shards.
 *
 * @example
 * ```ts
 * import { shardFromEnv } from "./shard_plan.ts";
 * const k8s = shardFromEnv({ JOB_COMPLETION_INDEX: "0" }, 3);
 * const slurm = shardFromEnv({ SLURM_ARRAY_TASK_ID: "7", SLURM_ARRAY_TASK_MIN: "1" }, 7);
 * if (k8s.index !== 1 || slurm.index !== 7) throw new Error();
 * ```
 */
export function shardFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  count: number,
): Shard {
  checkCount(count, `--shards ${count}`);
  const k8s = env.JOB_COMPLETION_INDEX !== undefined;
  const slurm = env.SLURM_ARRAY_TASK_ID !== undefined;
  if (k8s && slurm) {
    bad(
      "Both JOB_COMPLETION_INDEX (Kubernetes) and SLURM_ARRAY_TASK_ID (Slurm) are set; " +
        "--shard-from-env reads one: unset the other, or give --shard I/N",
    );
  }
  let offset: number, source: string;
  if (k8s) {
    offset = envInt(env, "JOB_COMPLETION_INDEX");
    source = `JOB_COMPLETION_INDEX=${offset}`;
  } else if (slurm) {
    const id = envInt(env, "SLURM_ARRAY_TASK_ID");
    const min = env.SLURM_ARRAY_TASK_MIN !== undefined ? envInt(env, "SLURM_ARRAY_TASK_MIN") : 0;
    const step = env.SLURM_ARRAY_TASK_STEP !== undefined ? envInt(env, "SLURM_ARRAY_TASK_STEP") : 1;
    if (env.SLURM_ARRAY_TASK_COUNT !== undefined) {
      const n = envInt(env, "SLURM_ARRAY_TASK_COUNT");
      if (n !== count) {
        bad(
          `The Slurm array has SLURM_ARRAY_TASK_COUNT=${n} tasks but --shards ${count}; ` +
            `submit it with --array of ${count} tasks, or give --shards ${n}`,
        );
      }
    }
    if (step < 1 || (id - min) % step !== 0) {
      bad(`SLURM_ARRAY_TASK_ID=${id} is not MIN=${min} plus a multiple of STEP=${step}`);
    }
    offset = (id - min) / step;
    source = `SLURM_ARRAY_TASK_ID=${id}` + (min ? ` (MIN ${min})` : "");
  } else {
    bad(
      "--shard-from-env found neither JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) nor " +
        "SLURM_ARRAY_TASK_ID (a Slurm job array); give --shard I/N instead",
    );
  }
  if (offset < 0 || offset >= count) {
    bad(`${source} is shard ${offset + 1}, outside the ${count} shards of --shards ${count}`);
  }
  return { index: offset + 1, count };
}

/**
 * `I/N`, as the user writes it.
 *
 * @example
 * ```ts
 * import { shardLabel } from "./shard_plan.ts";
 * if (shardLabel({ index: 2, count: 7 }) !== "2/7") throw new Error();
 * ```
 */
export function shardLabel(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/**
 * `shard-I-of-N`: the part of a shard's file names that says whose they are.
 *
 * @example
 * ```ts
 * import { shardTag } from "./shard_plan.ts";
 * if (shardTag({ index: 2, count: 7 }) !== "shard-2-of-7") throw new Error();
 * ```
 */
export function shardTag(s: Shard): string {
  return `shard-${s.index}-of-${s.count}`;
}

/**
 * Reads a {@linkcode shardTag} back (null when `text` is not one).
 *
 * @example
 * ```ts
 * import { parseShardTag } from "./shard_plan.ts";
 * if (parseShardTag("shard-2-of-7")?.count !== 7 || parseShardTag("x") !== null) throw new Error();
 * ```
 */
export function parseShardTag(text: string): Shard | null {
  const m = /^shard-(\d+)-of-(\d+)$/.exec(text);
  if (!m) return null;
  const index = Number(m[1]), count = Number(m[2]);
  return index >= 1 && index <= count && count <= MAX_SHARDS ? { index, count } : null;
}

/**
 * The shard (1 … count) that owns unit `unit` (0-based) of equal-cost units: round-robin, so
 * every shard gets a mix of early and late units (for sensitivities: of layers, whose cost
 * differs).
 *
 * @example
 * ```ts
 * import { roundRobinOwner } from "./shard_plan.ts";
 * if ([0, 1, 2, 3].map((u) => roundRobinOwner(u, 3)).join() !== "1,2,3,1") throw new Error();
 * ```
 */
export function roundRobinOwner(unit: number, count: number): number {
  return (unit % count) + 1;
}

/**
 * The units (0-based, ascending) of `total` that shard `s` owns under {@linkcode roundRobinOwner}.
 *
 * @example
 * ```ts
 * import { ownedUnits } from "./shard_plan.ts";
 * if (ownedUnits(7, { index: 2, count: 3 }).join() !== "1,4") throw new Error();
 * ```
 */
export function ownedUnits(total: number, s: Shard): number[] {
  const out: number[] = [];
  for (let u = s.index - 1; u < total; u += s.count) out.push(u);
  return out;
}

/** A unit of work with a size (a tensor and its bytes). */
export interface SizedUnit {
  /** Unique name (ties between equal sizes go by name). */
  name: string;
  /** Its cost, e.g. bytes read. */
  bytes: number;
}

/**
 * The shard (1 … count) of every unit, balancing total size: units largest first (ties by name,
 * in code-unit order), each onto the shard with the smallest total so far (ties to the lowest
 * index) — the greedy "longest processing time" rule, within 4/3 of the best split. Errors:
 * `bad-argument` for a repeated name or a size that is not a finite number ≥ 0.
 *
 * @example
 * ```ts
 * import { balanceBySize } from "./shard_plan.ts";
 * const owner = balanceBySize(
 *   [{ name: "a", bytes: 5 }, { name: "b", bytes: 4 }, { name: "c", bytes: 3 }, { name: "d", bytes: 3 }],
 *   2,
 * );
 * // a → 1; b → 2; c (tie with d, by name) → 2 (4 < 5); d → 1 (5 < 7): totals 8 and 7.
 * if ([..."abcd"].map((n) => owner.get(n)).join() !== "1,2,2,1") throw new Error();
 * ```
 */
export function balanceBySize(units: readonly SizedUnit[], count: number): Map<string, number> {
  checkCount(count, `${count} shards`);
  const seen = new Set<string>();
  for (const u of units) {
    if (seen.has(u.name)) bad(`Unit ${JSON.stringify(u.name)} appears twice in a shard plan`);
    if (!(Number.isFinite(u.bytes) && u.bytes >= 0)) {
      bad(`Unit ${JSON.stringify(u.name)} has size ${u.bytes}; sizes are finite numbers ≥ 0`);
    }
    seen.add(u.name);
  }
  const order = [...units].sort((a, b) =>
    b.bytes - a.bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const load = new Array<number>(count).fill(0);
  const owner = new Map<string, number>();
  for (const u of order) {
    let best = 0;
    for (let k = 1; k < count; k++) if (load[k]! < load[best]!) best = k;
    load[best]! += u.bytes;
    owner.set(u.name, best + 1);
  }
  return owner;
}
