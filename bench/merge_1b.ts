/**
 * What `quantlab merge` costs next to the work it joins: on the synthetic Llama-3.2-1B-shaped bf16
 * checkpoint of `quantize_1b.ts` (random weights; `--params` scales it down), times a
 * single-process `quantizeCheckpoint`, then the N shards of the same run one after another (as N
 * machines would run them at once) and the merge, in the same process; prints the merge time as a
 * share of the single run (goal ≤ 5 %), each shard's time and the tensor bytes each read against
 * those it owns, and checks that the merged folder equals the single run's byte for byte. Every
 * shard and the merge hash the whole input for the run key, as a single run does; that pass is in
 * their times.
 *
 *     deno run -A bench/merge_1b.ts [--params 1.24e9] [--shards 4] [--method higgs] [--bits 4]
 *                                   [--p 2] [--keep DIR]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { generate, llamaShapes } from "./quantize_1b.ts";
import { quantizeCheckpoint } from "../src/jobs/quantize_checkpoint.ts";
import { mergeShards } from "../src/jobs/merge.ts";
import { poolSize } from "../src/cpu/pool.ts";

/** Every file of `dir` (not recursing): name → bytes. */
async function folderBytes(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) out.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
    else out.set(`${e.name}/`, new Uint8Array());
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      params: { type: "string", default: "1.24e9" },
      shards: { type: "string", default: "4" },
      method: { type: "string", default: "higgs" },
      bits: { type: "string", default: "4" },
      p: { type: "string", default: "2" },
      keep: { type: "string" },
    },
  });
  const params = Number(values.params), count = Number(values.shards);
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "quantlab-merge-" });
  const src = `${dir}/src`;
  try {
    await Deno.stat(`${src}/model.safetensors.index.json`);
  } catch {
    await Deno.mkdir(src, { recursive: true });
    await generate(src, params);
  }
  const { shapes } = llamaShapes(params);
  const weights = shapes.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const opts = {
    method: values.method,
    options: { bits: Number(values.bits), p: Number(values.p) },
  };
  const time = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const r = await f();
    return [r, (performance.now() - t0) / 1000];
  };
  for (const o of ["single", "sharded", "single.quantlab-work", "sharded.quantlab-work"]) {
    await Deno.remove(`${dir}/${o}`, { recursive: true }).catch(() => {});
  }
  const [, single] = await time(() => quantizeCheckpoint(src, `${dir}/single`, opts));
  const shardTimes: number[] = [];
  for (let index = 1; index <= count; index++) {
    const [s, t] = await time(() =>
      quantizeCheckpoint(src, `${dir}/sharded`, { ...opts, shard: { index, count } })
    );
    shardTimes.push(t);
    const m = JSON.parse(
      await Deno.readTextFile(`${dir}/sharded.quantlab-work/shard-${index}-of-${count}.json`),
    );
    console.log(
      `shard ${index}/${count}        ${t.toFixed(1)} s, ${s.quantized} tensors, read ${
        (s.sourceBytesRead / 2 ** 20).toFixed(1)
      } MiB (its tensors: ${Object.keys(m.tensors).length})`,
    );
  }
  const [m, merge] = await time(() => mergeShards(`${dir}/sharded`));
  const [a, b] = [await folderBytes(`${dir}/single`), await folderBytes(`${dir}/sharded`)];
  const identical = a.size === b.size &&
    [...a].every(([k, v]) => b.has(k) && sameBytes(v, b.get(k)!));
  const read = m.quantize!.sourceBytesRead.reduce((x, y) => x + y, 0);
  console.log(`threads               ${poolSize()} (figures under whatever load the machine has)`);
  console.log(`weights               ${(weights / 1e6).toFixed(1)} M, method ${values.method}`);
  console.log(`single process        ${single.toFixed(1)} s`);
  console.log(
    `${count} shards            ${shardTimes.map((t) => t.toFixed(1)).join(" + ")} s; ` +
      `slowest ${Math.max(...shardTimes).toFixed(1)} s`,
  );
  console.log(
    `merge                 ${merge.toFixed(2)} s = ${(100 * merge / single).toFixed(1)} % ` +
      `of the single run (goal ≤ 5 %)`,
  );
  console.log(`shards read           ${(read / 2 ** 20).toFixed(1)} MiB of source tensors in all`);
  console.log(`merged = single       ${identical ? "yes, byte for byte" : "NO"}`);
  if (!values.keep) await Deno.remove(dir, { recursive: true });
  if (!identical) Deno.exit(1);
}
