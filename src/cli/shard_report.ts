/**
 * What a shard of a sharded run prints when it is done: how much it did and what comes next
 * (`quantlab merge OUT` once every shard is done).
 *
 * @module
 */
import type { QuantizeSummary } from "../jobs/quantize_checkpoint.ts";
import { type Shard, shardLabel } from "../jobs/shard_plan.ts";

/** Prints the lines of a finished `quantize --shard I/N`. */
export function printQuantizeShard(s: QuantizeSummary, shard: Shard): void {
  console.log(
    `shard        ${shardLabel(shard)}: quantized ${s.quantized} tensors` +
      (s.resumed ? ` (+${s.resumed} from an earlier run)` : "") +
      `, read ${(s.sourceBytesRead / 2 ** 20).toFixed(2)} MiB of source tensors, in ` +
      `${s.seconds.toFixed(1)} s`,
  );
  console.log(`next         quantlab merge ${s.out} (once all ${shard.count} shards are done)`);
}
