/**
 * Grid benchmarks: nearest-point encoding throughput for (2, 256) and (2, 4096) (fast exact CPU,
 * pooled, brute force) with the ratio to brute force and to a copy roofline, and the time to build
 * (2, 256) from scratch to within 0.5 % of the HIGGS reference MSE.
 *
 * `deno bench -A bench/grids_bench.ts` (quick: the build runs once, in setup, with its full timing
 * printed; set GRIDS_BENCH_BUILD=0 to skip it).
 */
import { fillNormal } from "../src/core/prng.ts";
import { buildGrid } from "../src/grids/build.ts";
import { encodeNearest, encodeNearestReference } from "../src/grids/encode.ts";
import { HIGGS_TARGETS } from "../src/grids/grid.ts";
import { loadGrid } from "../src/grids/load.ts";
import { encodeNearestParallel, estimateMse } from "../src/grids/parallel.ts";
import { poolSize } from "../src/cpu/pool.ts";

const M = 1 << 20;
const x = fillNormal(new Float32Array(2 * M), 2024);
const out = new Uint16Array(M);
const grids = { 256: await loadGrid(2, 256), 4096: await loadGrid(2, 4096) };

function rate(f: () => void, vectors: number): number {
  f();
  const t = performance.now();
  let reps = 0;
  while (performance.now() - t < 600) {
    f();
    reps++;
  }
  return (vectors * reps) / ((performance.now() - t) / 1000);
}

// Roofline: copying the input (8 bytes per 2-D vector) with TypedArray.set.
const copyDst = new Float32Array(2 * M);
const copyRate = rate(() => copyDst.set(x), M);
console.log(
  `copy roofline: ${(copyRate / 1e6).toFixed(0)} M vectors/s (${
    (copyRate * 8 / 1e9).toFixed(1)
  } GB/s)`,
);
for (const n of [256, 4096] as const) {
  const g = grids[n];
  const fast = rate(() => encodeNearest(g, x, out), M);
  const bm = n === 256 ? 1 << 15 : 1 << 12;
  const brute = rate(() => encodeNearestReference(g, x.subarray(0, 2 * bm)), bm);
  const t = performance.now();
  await encodeNearestParallel(g, x);
  await encodeNearestParallel(g, x);
  const pooled = (2 * M) / ((performance.now() - t) / 1000);
  console.log(
    `(2, ${n}) encode: fast ${(fast / 1e6).toFixed(2)} M/s = ${
      (fast / brute).toFixed(0)
    }× brute force ` +
      `(${(brute / 1e6).toFixed(3)} M/s), ${(copyRate / fast).toFixed(0)}× below copy; pooled on ` +
      `${poolSize()} workers ${(pooled / 1e6).toFixed(2)} M/s`,
  );
}

if (Deno.env.get("GRIDS_BENCH_BUILD") !== "0") {
  const t = performance.now();
  const g = await buildGrid(2, 256, { seed: 11 });
  const secs = (performance.now() - t) / 1000;
  const check = await estimateMse(g, { samples: 1 << 22, seed: 99 });
  const rel = (check.mse / HIGGS_TARGETS["2,256"]! - 1) * 100;
  console.log(
    `build (2, 256) from scratch on ${poolSize()} workers: ${secs.toFixed(1)} s (goal ≤ 60 s), ` +
      `mse ${check.mse.toPrecision(5)} ± ${check.stdErr.toExponential(1)} = ${
        rel.toFixed(3)
      } % vs the reference`,
  );
}

Deno.bench("encodeNearest (2, 256), 2^20 vectors", { group: "256", baseline: true }, () => {
  encodeNearest(grids[256], x, out);
});
Deno.bench("encodeNearestParallel (2, 256), 2^20 vectors", { group: "256" }, async () => {
  await encodeNearestParallel(grids[256], x);
});
Deno.bench("encodeNearestReference (2, 256), 2^14 vectors", { group: "256b" }, () => {
  encodeNearestReference(grids[256], x.subarray(0, 1 << 15));
});
Deno.bench("encodeNearest (2, 4096), 2^20 vectors", { group: "4096", baseline: true }, () => {
  encodeNearest(grids[4096], x, out);
});
Deno.bench("encodeNearestReference (2, 4096), 2^11 vectors", { group: "4096b" }, () => {
  encodeNearestReference(grids[4096], x.subarray(0, 1 << 12));
});
