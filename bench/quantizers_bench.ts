// Data-free baselines on the CPU pool: HQQ 4-bit g64 on a 4096×4096 f32 matrix (seconds per
// matrix, goal ≤ 3 s on 2 cores at relative error 0.00758), NF4 and RTN throughput (M weights/s),
// each next to the copy bandwidth of the same matrix measured in the same run (every quantizer
// reads the weights at least twice: statistics, then codes).
import { hqqQuantize } from "../src/quant/hqq.ts";
import { hqqConfig } from "../src/quant/hqq_config.ts";
import { normalFloatConfig, normalFloatQuantize } from "../src/quant/normal_float.ts";
import { rtnConfig, rtnQuantize } from "../src/quant/rtn.ts";
import { decodeRotated } from "../src/quant/decode.ts";
import { fillNormal } from "../src/core/prng.ts";
import { poolSize, sharedF32 } from "../src/cpu/pool.ts";

const ROWS = 4096;
const COLS = 4096;
const N = ROWS * COLS;
const w = fillNormal(sharedF32(N), 1, 0, 0.02);
const scratch = new Float32Array(N);

async function measure(fn: () => Promise<unknown> | unknown, reps: number): Promise<number> {
  await fn();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await fn();
  return (performance.now() - t0) / 1000 / reps;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    e += (a[i]! - b[i]!) ** 2;
    s += a[i]! ** 2;
  }
  return e / s;
}

const copy = await measure(() => scratch.set(w), 20);
const copyGBs = (8 * N) / copy / 1e9;
const hqqCfg = hqqConfig({ nbits: 4, groupSize: 64, axis: 1 });
const hqqS = await measure(() => hqqQuantize(w, ROWS, COLS, hqqCfg), 2);
const hq = await hqqQuantize(w, ROWS, COLS, hqqCfg);
const nf4Cfg = normalFloatConfig("nf4", { groupSize: 64 });
const nf4S = await measure(() => normalFloatQuantize(w, ROWS, COLS, nf4Cfg), 3);
const rtnCfg = rtnConfig({ bits: 4, groupSize: 64 });
const rtnS = await measure(() => rtnQuantize(w, ROWS, COLS, rtnCfg), 3);
const line = (name: string, s: number) =>
  `  ${name.padEnd(28)} ${(N / s / 1e6).toFixed(1).padStart(7)} M weights/s  ` +
  `${((4 * N) / s / 1e9).toFixed(2)} GB/s read  ratio to copy ${
    ((4 * N / s) / (8 * N / copy)).toFixed(3)
  }`;
console.log(
  [
    `quantizers on ${ROWS}×${COLS} f32, ${poolSize()} workers; copy ${
      copyGBs.toFixed(2)
    } GB/s moved`,
    `  HQQ 4-bit g64: ${hqqS.toFixed(2)} s per matrix (goal ≤ 3 s), ${hq.trace.steps} steps, ` +
    `relative error ${relErr(w, decodeRotated(hq.tensor)).toFixed(6)}`,
    line("HQQ 4-bit g64 (20 steps)", hqqS),
    line("NF4 g64", nf4S),
    line("RTN int4 g64 (min–max)", rtnS),
  ].join("\n"),
);

Deno.bench("HQQ 4-bit g64, 4096² f32 (CPU pool)", { n: 3, warmup: 1 }, async () => {
  await hqqQuantize(w, ROWS, COLS, hqqCfg);
});
Deno.bench("NF4 g64, 4096² f32 (CPU pool)", { n: 5, warmup: 1 }, async () => {
  await normalFloatQuantize(w, ROWS, COLS, nf4Cfg);
});
Deno.bench("RTN int4 g64, 4096² f32 (CPU pool)", { n: 5, warmup: 1 }, async () => {
  await rtnQuantize(w, ROWS, COLS, rtnCfg);
});
Deno.bench("copy 64 MiB (Float32Array.set)", { baseline: true, n: 20, warmup: 2 }, () => {
  scratch.set(w);
});
