import assert from "node:assert/strict";
import { parseCommandArgs } from "../../src/cli/command.ts";
import { SHARD_FLAGS, shardFromArgs } from "../../src/cli/shard_flags.ts";
import { QuantlabError } from "../../src/core/errors.ts";

const args = (...argv: string[]) => parseCommandArgs(SHARD_FLAGS, argv);
const fails = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e: unknown) =>
    e instanceof QuantlabError && e.code === "bad-argument" &&
    re.test(e.message));

Deno.test("shard flags: --shard I/N, or --shard-from-env with --shards N; none means a whole run", () => {
  assert.equal(shardFromArgs(args(), {}), null);
  assert.deepEqual(shardFromArgs(args("--shard", "2/3"), {}), { index: 2, count: 3 });
  const env = { SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_MIN: "1", SLURM_ARRAY_TASK_COUNT: "7" };
  assert.deepEqual(shardFromArgs(args("--shard-from-env", "--shards", "7"), env), {
    index: 4,
    count: 7,
  });
  fails(() => shardFromArgs(args("--shard", "0/3"), {}), /--shard 0\/3 is not valid/);
  fails(() => shardFromArgs(args("--shard-from-env"), env), /needs --shards N/);
  fails(() => shardFromArgs(args("--shards", "3"), env), /--shards 3 goes with --shard-from-env/);
  fails(
    () => shardFromArgs(args("--shard", "1/3", "--shard-from-env", "--shards", "3"), env),
    /drop --shard-from-env and --shards, or --shard/,
  );
  fails(
    () => shardFromArgs(args("--shard-from-env", "--shards", "0"), env),
    /--shards 0 is not valid/,
  );
  fails(
    () => shardFromArgs(args("--shard-from-env", "--shards", "3"), env),
    /COUNT=7 tasks but --shards 3/,
  );
});
