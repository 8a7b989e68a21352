// Dense GEMM/GEMV: OpenBLAS (FFI) against the TypeScript fallback, in the same run.
// Prints a summary first (GFLOP/s, TS/BLAS ratio; GEMV GB/s against copy bandwidth measured on
// the same bytes with Float32Array.prototype.set), then the Deno.bench table.
// Run: deno bench -A bench/gemm_bench.ts
import { fillNormal } from "../src/core/prng.ts";
import { loadBlas } from "../src/cpu/blas.ts";
import { gemmBlocked, gemv } from "../src/cpu/gemm.ts";

const blas = loadBlas();
const defaultThreads = blas?.getThreads() ?? 1;

/** Best seconds per call over at least `reps` calls and ~`minMs` of running, after a warm-up. */
function best(fn: () => void, reps = 3, minMs = 200): number {
  fn();
  let bestS = Infinity;
  const t0 = performance.now();
  for (let r = 0; r < reps || performance.now() - t0 < minMs; r++) {
    const t = performance.now();
    fn();
    bestS = Math.min(bestS, (performance.now() - t) / 1000);
  }
  return bestS;
}

function withThreads<T>(n: number, fn: () => T): T {
  blas?.setThreads(n);
  try {
    return fn();
  } finally {
    blas?.setThreads(defaultThreads);
  }
}

// Square GEMM, the nn.Linear layout (C = A·Bᵀ, B stored N×K).
const S = 512;
const A = fillNormal(new Float32Array(S * S), 1);
const B = fillNormal(new Float32Array(S * S), 2);
const C = new Float32Array(S * S);
const flops = 2 * S * S * S;
const blasGemm = (): void => blas!.sgemm({ transB: true, M: S, N: S, K: S, A, B, C });
const tsGemm = (): void => void gemmBlocked(S, S, S, A, B, C, true);

// A decode-sized linear layer: Y[16, 4096] = X[16, 4096] · W[4096, 4096]ᵀ.
const L = 4096, batch = 16;
const W = fillNormal(new Float32Array(L * L), 3);
const X = fillNormal(new Float32Array(batch * L), 4);
const Y = new Float32Array(batch * L);
const linFlops = 2 * batch * L * L;
const blasLinear = (): void =>
  blas!.sgemm({ transB: true, M: batch, N: L, K: L, A: X, B: W, C: Y });
const tsLinear = (): void => void gemmBlocked(batch, L, L, X, W, Y, true);

// GEMV over the same 64 MiB weight: y[4096] = W · x.
const x = X.subarray(0, L);
const y = new Float32Array(L);
const W2 = new Float32Array(L * L);
const gemvBytes = 4 * L * L;
const blasGemv = (): void => blas!.sgemv({ M: L, N: L, A: W, x, y });
const tsGemv = (): void => void gemv(L, L, W, x, y);
const copy = (): void => W2.set(W);

const fmt = (v: number, d = 2): string => v.toFixed(d);
const tsS = best(tsGemm);
const tsLinS = best(tsLinear, 2, 0);
const tsGemvS = best(tsGemv, 5);
const copyS = best(copy, 5);
const copyGBs = (2 * gemvBytes) / copyS / 1e9; // read + write
const lines = [
  `gemm ${S}³ (C = A·Bᵀ): TypeScript ${fmt(flops / tsS / 1e9)} GFLOP/s`,
  `linear ${batch}×${L}×${L}: TypeScript ${fmt(linFlops / tsLinS / 1e9)} GFLOP/s`,
  `gemv ${L}²: TypeScript ${fmt(gemvBytes / tsGemvS / 1e9)} GB/s of weights; copy ` +
  `(Float32Array.set) ${fmt(copyGBs)} GB/s moved (read+write); TS/copy ` +
  `${fmt(gemvBytes / tsGemvS / 1e9 / copyGBs, 3)}`,
];
if (blas !== null) {
  const one = withThreads(1, () => best(blasGemm, 5));
  const all = best(blasGemm, 5);
  const oneLin = withThreads(1, () => best(blasLinear, 5));
  const oneGemv = withThreads(1, () => best(blasGemv, 5));
  const allGemv = best(blasGemv, 5);
  lines.push(
    `gemm ${S}³: OpenBLAS ${fmt(flops / one / 1e9, 1)} GFLOP/s on 1 thread, ` +
      `${fmt(flops / all / 1e9, 1)} on ${defaultThreads}; TS/BLAS(1 thread) ${fmt(one / tsS, 4)} ` +
      `(BLAS ${fmt(tsS / one, 1)}× faster)`,
    `linear ${batch}×${L}×${L}: OpenBLAS ${fmt(linFlops / oneLin / 1e9, 1)} GFLOP/s on 1 thread; ` +
      `TS/BLAS ${fmt(oneLin / tsLinS, 4)}`,
    `gemv ${L}²: OpenBLAS ${fmt(gemvBytes / oneGemv / 1e9)} GB/s on 1 thread, ` +
      `${fmt(gemvBytes / allGemv / 1e9)} on ${defaultThreads}; BLAS(1)/copy ` +
      `${fmt(gemvBytes / oneGemv / 1e9 / copyGBs, 3)}; TS/BLAS(1) ${fmt(oneGemv / tsGemvS, 3)}`,
  );
} else {
  lines.push("OpenBLAS: not available, BLAS rows skipped");
}
console.log(`${blas === null ? "" : `${blas.config} (${blas.path})\n`}${lines.join("\n")}`);

const noBlas = blas === null;
Deno.bench({
  name: `openblas sgemm ${S}³ (1 thread)`,
  group: "gemm",
  baseline: true,
  ignore: noBlas,
  fn: () => withThreads(1, blasGemm),
});
Deno.bench({
  name: `openblas sgemm ${S}³ (${defaultThreads} threads)`,
  group: "gemm",
  ignore: noBlas,
  fn: blasGemm,
});
Deno.bench({ name: `typescript gemm ${S}³`, group: "gemm", fn: tsGemm });
Deno.bench({
  name: `openblas sgemv ${L}² (1 thread)`,
  group: "gemv",
  ignore: noBlas,
  fn: () => withThreads(1, blasGemv),
});
Deno.bench({ name: `typescript gemv ${L}²`, group: "gemv", fn: tsGemv });
Deno.bench({
  name: `copy ${gemvBytes >> 20} MiB (Float32Array.set)`,
  group: "gemv",
  baseline: true,
  fn: copy,
});
