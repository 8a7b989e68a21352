import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import {
  balanceBySize,
  ownedUnits,
  parseShard,
  parseShardTag,
  roundRobinOwner,
  shardFromEnv,
  shardTag,
} from "../../src/jobs/shard_plan.ts";

const fails = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: unknown) =>
    e instanceof QuantlabError && e.code === "bad-argument" &&
    re.test(e.message) && !e.message.includes("\n"));

Deno.test("--shard I/N: 1 ≤ I ≤ N, whole numbers; each bad value gets one line saying what is valid", () => {
  assert.deepEqual(parseShard("1/1"), { index: 1, count: 1 });
  assert.deepEqual(parseShard("7/7"), { index: 7, count: 7 });
  assert.deepEqual(parseShard(" 3 / 12 "), { index: 3, count: 12 });
  fails(() => parseShard("0/4"), /--shard 0\/4 is not valid; shards count from 1: use 1\/4 … 4\/4/);
  fails(() => parseShard("5/4"), /--shard 5\/4 is not valid; shards count from 1: use 1\/4 … 4\/4/);
  fails(() => parseShard("1/0"), /--shard 1\/0 is not valid; the number of shards is a whole/);
  fails(() => parseShard("1.5/4"), /--shard 1\.5\/4 is not valid; use I\/N with whole numbers/);
  fails(() => parseShard("1/2.0"), /use I\/N with whole numbers/);
  fails(() => parseShard("-1/4"), /use I\/N with whole numbers/);
  fails(() => parseShard("2"), /use I\/N with whole numbers, e\.g\. --shard 1\/4/);
  fails(() => parseShard("1/100001"), /from 1 to 100000/);
});

Deno.test("--shard-from-env: Kubernetes' 0-based JOB_COMPLETION_INDEX, Slurm's array task id from MIN by STEP", () => {
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: "0" }, 4), { index: 1, count: 4 });
  assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: "3" }, 4), { index: 4, count: 4 });
  // --array=0-3 and --array=1-4 name the same four shards; so does --array=10-16:2.
  const slurm = (id: string, min?: string, step?: string, count?: string) =>
    shardFromEnv({
      SLURM_ARRAY_TASK_ID: id,
      ...(min === undefined ? {} : { SLURM_ARRAY_TASK_MIN: min }),
      ...(step === undefined ? {} : { SLURM_ARRAY_TASK_STEP: step }),
      ...(count === undefined ? {} : { SLURM_ARRAY_TASK_COUNT: count }),
    }, 4).index;
  assert.deepEqual([0, 1, 2, 3].map((i) => slurm(String(i), "0", "1", "4")), [1, 2, 3, 4]);
  assert.deepEqual([1, 2, 3, 4].map((i) => slurm(String(i), "1")), [1, 2, 3, 4]);
  assert.deepEqual([10, 12, 14, 16].map((i) => slurm(String(i), "10", "2")), [1, 2, 3, 4]);
  assert.equal(slurm("2"), 3, "without MIN the ids count from 0");

  fails(() => shardFromEnv({}, 4), /neither JOB_COMPLETION_INDEX .* nor SLURM_ARRAY_TASK_ID/);
  fails(
    () => shardFromEnv({ JOB_COMPLETION_INDEX: "0", SLURM_ARRAY_TASK_ID: "0" }, 4),
    /Both JOB_COMPLETION_INDEX .* and SLURM_ARRAY_TASK_ID .* are set/,
  );
  fails(
    () => shardFromEnv({ JOB_COMPLETION_INDEX: "4" }, 4),
    /JOB_COMPLETION_INDEX=4 is shard 5, outside the 4 shards of --shards 4/,
  );
  fails(
    () => shardFromEnv({ JOB_COMPLETION_INDEX: "x" }, 4),
    /JOB_COMPLETION_INDEX=x is not a whole number/,
  );
  fails(() => slurm("5", "1", "1", "5"), /SLURM_ARRAY_TASK_COUNT=5 tasks but --shards 4/);
  fails(() => slurm("5", "1"), /SLURM_ARRAY_TASK_ID=5 \(MIN 1\) is shard 5, outside the 4 shards/);
  fails(
    () => slurm("11", "10", "2"),
    /SLURM_ARRAY_TASK_ID=11 is not MIN=10 plus a multiple of STEP=2/,
  );
  fails(() => shardFromEnv({ JOB_COMPLETION_INDEX: "0" }, 0), /--shards 0 is not valid/);
});

Deno.test("shard tags name shard files and read back", () => {
  assert.equal(shardTag({ index: 3, count: 7 }), "shard-3-of-7");
  assert.deepEqual(parseShardTag("shard-3-of-7"), { index: 3, count: 7 });
  for (const t of ["shard-0-of-7", "shard-8-of-7", "shard-1-of-x", "shard-1-of-7.json"]) {
    assert.equal(parseShardTag(t), null, t);
  }
});

Deno.test("round-robin units: every unit has exactly one owner, shards differ in size by at most one", () => {
  for (const [total, count] of [[0, 3], [1, 1], [5, 7], [70, 3], [12, 12]] as const) {
    const all: number[] = [];
    for (let i = 1; i <= count; i++) {
      const mine = ownedUnits(total, { index: i, count });
      for (const u of mine) assert.equal(roundRobinOwner(u, count), i);
      all.push(...mine);
      assert.ok(Math.abs(mine.length - total / count) < 1, `${total}/${count}: ${mine.length}`);
    }
    assert.deepEqual(all.sort((a, b) => a - b), Array.from({ length: total }, (_, u) => u));
  }
});

Deno.test("tensors balanced by size: largest first onto the lightest shard, ties by name, then lowest shard", () => {
  // Worked by hand: q(16) → 1; k(8) → 2; v(8) → 3; a(4), b(4) → 2, 3 (loads 16, 12, 12);
  // c(2) → 2 (tie 12/12: lowest index); loads 16, 14, 12.
  const units = [
    { name: "v", bytes: 8 },
    { name: "k", bytes: 8 },
    { name: "b", bytes: 4 },
    { name: "q", bytes: 16 },
    { name: "c", bytes: 2 },
    { name: "a", bytes: 4 },
  ];
  const owner = balanceBySize(units, 3);
  assert.deepEqual(Object.fromEntries([...owner].sort()), { a: 2, b: 3, c: 2, k: 2, q: 1, v: 3 });
  // The input's order does not matter.
  assert.deepEqual(balanceBySize([...units].reverse(), 3), owner);
  // One shard owns everything; more shards than units leave some empty.
  assert.ok([...balanceBySize(units, 1).values()].every((s) => s === 1));
  assert.equal(new Set(balanceBySize(units, 7).values()).size, 6);
  fails(
    () => balanceBySize([{ name: "a", bytes: 1 }, { name: "a", bytes: 2 }], 2),
    /"a" appears twice/,
  );
  fails(() => balanceBySize([{ name: "a", bytes: NaN }], 2), /size NaN/);
});
