/**
 * `quantlab merge OUT`: joins the shards of a `sensitivity`, `linearity` (or `quantize`) run
 * started with `--shard I/N` (or `--shard-from-env`) into the output a single run writes, after
 * checking that every shard is there, finished and made with the same settings
 * (`src/jobs/merge.ts`). OUT follows the output rules of a single run: it must be absent or an
 * empty folder unless `--force`, which replaces it once the merged output is complete.
 *
 * @module
 */
import { type Command, outputMode, UsageError } from "../command.ts";
import { mergeShards } from "../../jobs/merge.ts";
import { outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";
import { progressBars } from "../progress.ts";

/** The `merge` command. */
export const mergeCommand: Command = {
  name: "merge",
  summary: "join the shards of a run made with --shard I/N into its single-run output",
  usage: "quantlab merge OUT [--force]",
  examples: ["quantlab merge /tmp/ql-sens-sharded.json"],
  flags: {
    ...outputModeFlags({
      resumable: false,
      force: "replace an existing OUT (once the merged output is complete)",
    }),
    ...QUIET_FLAG,
  },
  cpuOnly: "reads and writes files only",
  async run(args) {
    const out = args.positionals[0];
    if (out === undefined || args.positionals.length > 1) {
      throw new UsageError(
        `Expected one OUT (the --out of the sharded run); got ${args.positionals.length}`,
      );
    }
    const force = outputMode(args) === "force";
    const m = await mergeShards(out, { progress: progressBars(Boolean(args.values.quiet)), force });
    const what = m.kind === "quantize"
      ? "tensors"
      : m.kind === "sensitivity"
      ? "measurements"
      : "assignments";
    console.log(
      `merged       ${m.shards} ${m.kind} shards (${m.units} ${what}) → ${m.out} in ` +
        `${m.seconds.toFixed(2)} s`,
    );
    if (m.quantize) {
      const mib = (b: number) => (b / 2 ** 20).toFixed(2);
      console.log(
        `read         ${m.quantize.sourceBytesRead.map(mib).join(" + ")} MiB of source tensors ` +
          `by the shards; ${m.quantize.summary.copied} tensors copied by the merge`,
      );
    }
  },
};
