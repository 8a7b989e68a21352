import assert from "node:assert/strict";
import { HIGGS_TARGETS } from "../../src/grids/grid.ts";
import { gaussianMse1d } from "../../src/grids/lloyd_max.ts";
import { loadGrid } from "../../src/grids/load.ts";
import { estimateMse } from "../../src/grids/parallel.ts";

// Fresh samples: a seed no build uses (builds use seed, seed+1, seed+2 with seed = 1).
const SEED = 0x7e57;
const SAMPLES = 1 << 22;

// (2, 4096): the reference value 0.000588 sits ~20 % above Zador's high-resolution estimate for a
// hexagonal lattice warped to N(0, 2I) (G·8π/n = 0.000492); our grid lands near that estimate, so
// for it the check is one-sided: at most 0.5 % worse than the reference.
const ONE_SIDED = new Set(["2,4096"]);

Deno.test("shipped p = 1 grids have the exact Lloyd–Max MSE of higgs.md §2 (by integration)", async () => {
  for (const key of ["1,4", "1,8", "1,16", "1,32", "1,256"]) {
    const [p, n] = key.split(",").map(Number) as [number, number];
    const g = await loadGrid(p, n);
    const mse = gaussianMse1d(g.points);
    const target = HIGGS_TARGETS[key]!;
    assert.ok(Math.abs(mse / target - 1) < 6e-5, `(${key}) exact ${mse} vs ${target}`);
    assert.ok(Math.abs(g.mse / mse - 1) < 1e-12);
  }
});

Deno.test("shipped p ≥ 2 grids are within ±0.5 % of the higgs.md §2 MSE on 2^22 fresh samples", async () => {
  const rows: string[] = [];
  for (const key of Object.keys(HIGGS_TARGETS).filter((k) => !k.startsWith("1,"))) {
    const [p, n] = key.split(",").map(Number) as [number, number];
    const g = await loadGrid(p, n);
    const r = await estimateMse(g, { samples: SAMPLES, seed: SEED });
    const target = HIGGS_TARGETS[key]!;
    const rel = r.mse / target - 1;
    rows.push(
      `(${key}) ${r.mse.toPrecision(6)} ± ${r.stdErr.toExponential(1)} vs ${target}: ${
        (100 * rel).toFixed(3)
      } %`,
    );
    assert.ok(rel <= 0.005, `(${key}) ${r.mse} is more than 0.5 % above ${target}`);
    if (!ONE_SIDED.has(key)) {
      assert.ok(rel >= -0.005, `(${key}) ${r.mse} is more than 0.5 % below ${target}`);
    }
    // The stored estimate agrees with this independent one.
    assert.ok(
      Math.abs(g.mse - r.mse) < 5 * Math.hypot(g.mseStdErr, r.stdErr),
      `(${key}) stored ${g.mse}`,
    );
  }
  console.log(rows.join("\n"));
});
