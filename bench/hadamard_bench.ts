/**
 * Hadamard transform throughput against a copy of the same bytes, measured in the same run.
 *
 * CPU: a 4096×4096 f32 matrix, blocks of 1024, single-thread (`fwhtInPlace`) and on the worker
 * pool (`hadamard`), with the WebAssembly SIMD kernels (the default where available) and with the
 * TypeScript kernels (`setHadamardWasm(false)`), against `Float32Array.prototype.set` on one thread
 * and a chunked copy on the pool, all interleaved in the same run. GB/s counts the matrix's bytes once per transform (each is read and written once, as in a
 * copy). WebGPU: the transform against a vec4 copy kernel over the same bytes (`gpu.time`,
 * timestamp queries where available); meaningless on software adapters (llvmpipe), where only small
 * sizes run.
 *
 *     deno bench -A bench/hadamard_bench.ts
 *
 * @module
 */
import { toF16 } from "../src/core/dtype.ts";
import { fillNormal } from "../src/core/prng.ts";
import { parallelFor, poolSize, sharedF32, shutdownPool } from "../src/cpu/pool.ts";
import { type Dispatch, getGpu, loadShader } from "../src/gpu/device.ts";
import {
  fwhtInPlace,
  hadamard,
  hadamardWasmActive,
  setHadamardWasm,
} from "../src/hadamard/fwht.ts";
import { encodeHadamard, type HadamardGpuOptions } from "../src/hadamard/gpu.ts";

const ROWS = 4096;
const COLS = 4096;
const N = 1024;
const BYTES = ROWS * COLS * 4;
const ROOFLINE = new URL("../src/hadamard/roofline.ts", import.meta.url).href;

const x = fillNormal(sharedF32(ROWS * COLS), 1);
const y = sharedF32(ROWS * COLS);
const opts = { blockSize: N };
const seeded = { blockSize: N, seed: 7 };

const copy1 = (): void => y.set(x);
const copyPool = (): Promise<unknown> =>
  parallelFor(ROOFLINE, "copyChunk", ROWS, [y, x, COLS], { minChunk: 64 });
const wasm = hadamardWasmActive();
/** `f` with the WebAssembly kernels on (`ws`) or off. */
const using = <T>(ws: boolean, f: () => T) => (): T => {
  setHadamardWasm(ws);
  return f();
};
const single = using(true, () => fwhtInPlace(x, ROWS, COLS, opts));
const pooled = using(true, () => hadamard(x, ROWS, COLS, opts));
const pooledSeeded = using(true, () => hadamard(x, ROWS, COLS, seeded));
const singleTs = using(false, () => fwhtInPlace(x, ROWS, COLS, opts));
const pooledTs = using(false, () => hadamard(x, ROWS, COLS, opts));

/** Best-of-`rounds` times (ms), the candidates interleaved so machine noise hits all alike. */
async function bestTimes(fns: (() => unknown)[], rounds: number): Promise<number[]> {
  const best = fns.map(() => Infinity);
  for (const f of fns) await f(); // warm up (JIT, workers)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = performance.now();
      await fns[i]!();
      best[i] = Math.min(best[i]!, performance.now() - t0);
    }
  }
  return best;
}

const gbs = (ms: number, bytes = BYTES): string => (bytes / ms / 1e6).toFixed(2).padStart(6);
{
  const [c1, cp, s, p, ps, st, pt] = (await bestTimes(
    [copy1, copyPool, single, pooled, pooledSeeded, singleTs, pooledTs],
    10,
  )) as [number, number, number, number, number, number, number];
  const line = (name: string, ms: number, pool: boolean): string =>
    `  ${name.padEnd(50)}${gbs(ms)} GB/s   ${(c1 / ms).toFixed(3)}× 1-thread copy` +
    (pool ? `, ${(cp / ms).toFixed(3)}× pooled copy` : "") + "\n";
  const k = wasm ? "WebAssembly SIMD" : "TypeScript (no WebAssembly SIMD here)";
  console.log(
    `\nHadamard CPU: ${ROWS}×${COLS} f32 (${BYTES / 2 ** 20} MiB), blocks of ${N}, ` +
      `${poolSize()} worker(s); best of 10, GB/s of matrix bytes\n` +
      `  ${"copy, Float32Array.prototype.set, 1 thread".padEnd(50)}${gbs(c1)} GB/s\n` +
      `  ${"copy, pool".padEnd(50)}${gbs(cp)} GB/s\n` +
      line(`FWHT ${k}, single-thread (fwhtInPlace)`, s, false) +
      line(`FWHT ${k}, pooled (hadamard)`, p, true) +
      line(`FWHT ${k}, pooled, randomized (seed)`, ps, false) +
      line("FWHT TypeScript, single-thread", st, false) +
      line("FWHT TypeScript, pooled", pt, true),
  );
}

{
  // Other block sizes, single-thread, same 64 MiB (rows of max(4096, n) columns).
  const sizes = [2, 128, 4096, 32768];
  const run = (ws: boolean) => (n: number) =>
    using(ws, () => {
      const cols = Math.max(COLS, n);
      fwhtInPlace(x, (ROWS * COLS) / cols, cols, { blockSize: n });
    });
  const [c1, ...ts] = await bestTimes(
    [copy1, ...sizes.map(run(true)), ...sizes.map(run(false))],
    5,
  );
  const fmt = (t: number[]): string =>
    sizes.map((n, i) => `n=${n} ${gbs(t[i]!).trim()} GB/s (${(c1! / t[i]!).toFixed(2)}×)`)
      .join(", ");
  console.log(
    `  single-thread, other block sizes:\n    ${wasm ? "WebAssembly" : "TypeScript "} ` +
      `${fmt(ts)}\n    TypeScript  ${fmt(ts.slice(sizes.length))}\n`,
  );
}

Deno.bench({ name: "copy 64 MiB (Float32Array.set)", group: "cpu", baseline: true, fn: copy1 });
Deno.bench({ name: "copy 64 MiB (pool)", group: "cpu", fn: async () => void await copyPool() });
Deno.bench({ name: "fwht 4096×4096 n=1024 single-thread", group: "cpu", fn: () => void single() });
Deno.bench({
  name: "fwht 4096×4096 n=1024 single-thread, TypeScript",
  group: "cpu",
  fn: () => void singleTs(),
});
Deno.bench({
  name: "fwht 4096×4096 n=1024 pooled",
  group: "cpu",
  fn: async () => void await pooled(),
});
Deno.bench({
  name: "fwht 4096×4096 n=1024 pooled, randomized",
  group: "cpu",
  fn: async () => void await pooledSeeded(),
});
Deno.bench({
  name: "fwht 4096×4096 n=1024 pooled, TypeScript",
  group: "cpu",
  fn: async () => void await pooledTs(),
});

const gpu = await getGpu();
if (!gpu) {
  console.log("Hadamard WebGPU: no adapter; skipped\n");
} else {
  const fallback = gpu.isFallback;
  if (fallback) {
    console.log(
      `Hadamard WebGPU on ${gpu.description}: a software adapter; small sizes only, and these ` +
        "numbers are NOT meaningful (they only show the benchmark runs)",
    );
  }
  const shapes: [number, number, number][] = fallback
    ? [[64, 1024, 1024]]
    : [[4096, 4096, 1024], [4096, 4096, 4096], [512, 32768, 32768], [16384, 4096, 128]];
  const copyCode = await loadShader("hadamard_copy");
  /** The roofline: a vec4 copy of `bytes` from `buf` into a new buffer. */
  const copyOf = (buf: GPUBuffer, bytes: number): Dispatch[] => {
    const wgs = Math.ceil(bytes / 16 / 256);
    const gx = Math.min(wgs, gpu.limits.maxComputeWorkgroupsPerDimension);
    return [{
      pipeline: gpu.pipeline("hadamard_copy", copyCode, { GROUPS_X: gx }),
      buffers: [gpu.storage(bytes), buf],
      workgroups: [gx, Math.ceil(wgs / gx)],
    }];
  };
  const reps = fallback ? 3 : 20;
  for (const [rows, cols, n] of shapes) {
    const bytes = rows * cols * 4;
    const buf = gpu.storage(fillNormal(new Float32Array(rows * cols), 2));
    const copy = copyOf(buf, bytes);
    const fwht = await encodeHadamard(gpu, buf, buf, rows, cols, { blockSize: n });
    const tc = await gpu.time("copy", copy, reps);
    const th = await gpu.time("hadamard", fwht, reps);
    console.log(
      `Hadamard WebGPU ${rows}×${cols} n=${n} (${gpu.description}): copy ${tc.toFixed(3)} ms ` +
        `(${gbs(tc, bytes).trim()} GB/s), FWHT ${th.toFixed(3)} ms (${
          gbs(th, bytes).trim()
        } GB/s, ` +
        `${fwht.length} pass(es)): ${(tc / th).toFixed(3)}× copy speed, ` +
        `${(th / tc).toFixed(2)}× copy time (goal ≤ 1.2×)` +
        (fallback ? " — fallback adapter, not meaningful" : ""),
    );
    // Variants of the workgroup kernel, same run: the r8 and r16 kernels (with their vec4 strided
    // passes) at several tile sizes, the vec4 kernel with 64 threads or element-wise global loads and stores,
    // the scalar kernel.
    const variants: [string, HadamardGpuOptions][] = [
      ["r8 (32 floats a thread), 64 threads", { blockSize: n, kernel: "r8" }],
      ["r8, 128 threads", { blockSize: n, kernel: "r8", rThreads: 128 }],
      ["r8, 256 threads", { blockSize: n, kernel: "r8", rThreads: 256 }],
      ["r16 (64 floats a thread), 64 threads", { blockSize: n, kernel: "r16" }],
      ["r16, 128 threads", { blockSize: n, kernel: "r16", rThreads: 128 }],
      ["r16, no exchange stage (uncoalesced stores)", {
        blockSize: n,
        kernel: "r16",
        rCoalesce: false,
      }],
      ["r8, randomized (seed 7)", { blockSize: n, kernel: "r8", seed: 7 }],
      ["vec4, randomized (seed 7)", { blockSize: n, seed: 7 }],
      ["vec4, 64 threads", { blockSize: n, v4Threads: 64 }],
      ["vec4, element-wise global memory", { blockSize: n, vec4Io: false }],
      ["scalar kernel", { blockSize: n, kernel: "scalar" }],
    ];
    for (const [label, o] of variants) {
      const tv = await gpu.time(
        "hadamard",
        await encodeHadamard(gpu, buf, buf, rows, cols, o),
        reps,
      );
      console.log(
        `    variant ${label}: ${tv.toFixed(3)} ms = ${(tc / tv).toFixed(3)}× copy speed`,
      );
    }
    Deno.bench({
      name: `webgpu fwht ${rows}×${cols} n=${n}`,
      group: `gpu ${rows}×${cols}`,
      n: reps,
      warmup: 1,
      fn: async () => await gpu.runMany("hadamard", fwht),
    });
    Deno.bench({
      name: `webgpu copy ${rows}×${cols}`,
      group: `gpu ${rows}×${cols}`,
      baseline: true,
      n: reps,
      warmup: 1,
      fn: async () => await gpu.runMany("copy", copy),
    });
  }
  // f16 storage (half the bytes): against a copy of the same bytes.
  if (gpu.hasF16) {
    const [rows, cols, n] = shapes[0]!;
    const bytes = rows * cols * 2;
    const buf = gpu.storage(toF16(fillNormal(new Float32Array(rows * cols), 3)));
    const tc = await gpu.time("copy", copyOf(buf, bytes), reps);
    for (const kernel of ["auto", "r8", "r16"] as const) {
      const o: HadamardGpuOptions = { blockSize: n, storage: "f16", kernel };
      const th = await gpu.time(
        "hadamard",
        await encodeHadamard(gpu, buf, buf, rows, cols, o),
        reps,
      );
      console.log(
        `Hadamard WebGPU f16 ${rows}×${cols} n=${n} kernel ${kernel}: ${th.toFixed(3)} ms, copy ` +
          `${tc.toFixed(3)} ms: ${(tc / th).toFixed(3)}× copy speed` +
          (fallback ? " — fallback adapter, not meaningful" : ""),
      );
    }
  }
  console.log();
}

// The pool's workers would keep the process alive after the benches.
globalThis.addEventListener("unload", () => shutdownPool());
