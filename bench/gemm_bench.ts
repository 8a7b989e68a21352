// Dense GEMM/GEMV: OpenBLAS (FFI) against the WebAssembly SIMD GEMM and the TypeScript fallback,
// in the same run. Prints a summary first (GFLOP/s and ratios; GEMV GB/s against copy bandwidth
// measured on the same bytes with Float32Array.prototype.set), then the Deno.bench table.
// On a shared machine wall-clock times of long calls suffer from preemption: the one-thread rows
// also give GFLOP/s per CPU second (process CPU time, which one-thread runs own alone).
// Run: deno bench -A bench/gemm_bench.ts
import process from "node:process";
import { fillNormal } from "../src/core/prng.ts";
import { loadBlas } from "../src/cpu/blas.ts";
import { gemmBlocked, gemv } from "../src/cpu/gemm.ts";
import {
  setWasmGemmThreads,
  setWasmGemmVariant,
  sgemmWasm,
  sgemvWasm,
  wasmGemmHelpersReady,
  wasmGemmVariant,
} from "../src/cpu/wasm_gemm.ts";
import { poolSize } from "../src/cpu/pool.ts";

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

/** Median seconds of CPU time (all threads of the process) per call over `reps` calls. */
function cpuSeconds(fn: () => void, reps = 5): number {
  fn();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1e6);
  }
  return t.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
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
const wasmGemm = (): void => void sgemmWasm({ transB: true, M: S, N: S, K: S, A, B, C });
const wasmGemmNN = (): void => void sgemmWasm({ M: S, N: S, K: S, A, B, C });
const oneThread = <T>(fn: () => T): T => {
  setWasmGemmThreads(false);
  try {
    return fn();
  } finally {
    setWasmGemmThreads(true);
  }
};

// A decode-sized linear layer: Y[16, 4096] = X[16, 4096] · W[4096, 4096]ᵀ.
const L = 4096, batch = 16;
const W = fillNormal(new Float32Array(L * L), 3);
const X = fillNormal(new Float32Array(batch * L), 4);
const Y = new Float32Array(batch * L);
const linFlops = 2 * batch * L * L;
const blasLinear = (): void =>
  blas!.sgemm({ transB: true, M: batch, N: L, K: L, A: X, B: W, C: Y });
const tsLinear = (): void => void gemmBlocked(batch, L, L, X, W, Y, true);
const wasmLinear = (): void =>
  void sgemmWasm({ transB: true, M: batch, N: L, K: L, A: X, B: W, C: Y });

// GEMV over the same 64 MiB weight: y[4096] = W · x.
const x = X.subarray(0, L);
const y = new Float32Array(L);
const W2 = new Float32Array(L * L);
const gemvBytes = 4 * L * L;
const blasGemv = (): void => blas!.sgemv({ M: L, N: L, A: W, x, y });
const tsGemv = (): void => void gemv(L, L, W, x, y);
const wasmGemv = (): void => void sgemvWasm({ M: L, N: L, A: W, x, y });
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
const variant = wasmGemmVariant();
let wasmOne = NaN, wasmOneCpu = NaN, wasmTwo = NaN;
if (variant !== null) {
  // Warm up past V8's tier-up from Liftoff to TurboFan (a few dozen calls of the pack kernels).
  oneThread(() => best(wasmGemm, 40, 0));
  wasmOne = oneThread(() => best(wasmGemm, 10));
  wasmOneCpu = oneThread(() => cpuSeconds(wasmGemm, 9));
  const nn = oneThread(() => best(wasmGemmNN, 10));
  const lin = oneThread(() => best(wasmLinear, 3, 0));
  const gv = best(wasmGemv, 5);
  const others: string[] = [];
  if (setWasmGemmVariant(variant === "relaxed" ? "plain" : "relaxed")) {
    oneThread(() => best(wasmGemm, 40, 0));
    const o = oneThread(() => best(wasmGemm, 10));
    others.push(`${wasmGemmVariant()} ${fmt(flops / o / 1e9, 1)}`);
  }
  setWasmGemmVariant(undefined);
  // Two threads: the helpers start on the first large call and take a moment to come up.
  const t0 = performance.now();
  while (wasmGemmHelpersReady() < poolSize() - 1 && performance.now() - t0 < 20000) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const threads = 1 + wasmGemmHelpersReady();
  wasmTwo = best(wasmGemm, 10);
  lines.push(
    `gemm ${S}³: WebAssembly SIMD (${variant}) ${
      fmt(flops / wasmOne / 1e9, 1)
    } GFLOP/s on 1 thread ` +
      `(${fmt(flops / wasmOneCpu / 1e9, 1)} per CPU second), ${fmt(flops / wasmTwo / 1e9, 1)} on ` +
      `${threads}; C = A·B ${fmt(flops / nn / 1e9, 1)}; ${
        others.join(", ") || "one variant only"
      }; ` +
      `WASM/TS ${fmt(tsS / wasmOne, 1)}×`,
    `linear ${batch}×${L}×${L}: WebAssembly SIMD ${
      fmt(linFlops / lin / 1e9, 1)
    } GFLOP/s on 1 thread; ` +
      `TS ${fmt(tsLinS / lin, 1)}× slower`,
    `gemv ${L}²: WebAssembly SIMD ${fmt(gemvBytes / gv / 1e9)} GB/s of weights; /copy ` +
      `${fmt(gemvBytes / gv / 1e9 / copyGBs, 3)}`,
  );
}
if (blas !== null) {
  const one = withThreads(1, () => best(blasGemm, 5));
  const all = best(blasGemm, 5);
  const oneLin = withThreads(1, () => best(blasLinear, 5));
  const oneGemv = withThreads(1, () => best(blasGemv, 5));
  const allGemv = best(blasGemv, 5);
  const oneCpu = withThreads(1, () => cpuSeconds(blasGemm, 9));
  if (variant !== null) {
    lines.push(
      `RATIOS gemm ${S}³: WASM/OpenBLAS 1 thread ${fmt(one / wasmOne, 3)} wall-clock best, ` +
        `${fmt(oneCpu / wasmOneCpu, 3)} per CPU second (goal ≥ 0.25, moonshot 0.5); ` +
        `WASM/TS ${
          fmt(tsS / wasmOne, 1)
        }× (goal ≥ 5); WASM/OpenBLAS on ${defaultThreads} threads ` +
        `${fmt(all / wasmTwo, 3)} (goal ≥ 0.25)`,
    );
  }
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
const noWasm = wasmGemmVariant() === null;
Deno.bench({
  name: `wasm sgemm ${S}³ (1 thread)`,
  group: "gemm",
  ignore: noWasm,
  fn: () => oneThread(wasmGemm),
});
Deno.bench({ name: `wasm sgemm ${S}³ (pool)`, group: "gemm", ignore: noWasm, fn: wasmGemm });
Deno.bench({
  name: `openblas sgemv ${L}² (1 thread)`,
  group: "gemv",
  ignore: noBlas,
  fn: () => withThreads(1, blasGemv),
});
Deno.bench({ name: `typescript gemv ${L}²`, group: "gemv", fn: tsGemv });
Deno.bench({ name: `wasm sgemv ${L}²`, group: "gemv", ignore: noWasm, fn: wasmGemv });
Deno.bench({
  name: `copy ${gemvBytes >> 20} MiB (Float32Array.set)`,
  group: "gemv",
  baseline: true,
  fn: copy,
});
