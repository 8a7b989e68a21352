/**
 * CPU GEMV on packed codes, `exact` and `fast` kernels, per method, against the machine's limits
 * measured in the same run: OpenBLAS f32 sgemv on the same shape and the memory copy bandwidth
 * (Float32Array.set of the weight bytes). Shapes 4096×4096 and 2048×8192 (the Llama-3.2-1B
 * down projection: 8192 inputs), batch 1, pooled. Each figure is the median of `--reps` rounds of
 * the best of a few calls; rounds interleave the kernels so that the load of a shared machine
 * spreads over all of them.
 *
 *     ./quantlab deno run -A bench/lut_cpu_bench.ts [--reps 5] [--shapes 4096x4096,2048x8192]
 *
 * Every kernel also runs on the calling thread alone (its own speed without the pool's wake-ups,
 * which dominate on a loaded machine).
 *
 * Columns: ms per call, GB/s of weight bytes (codes + scales + zeros), that rate over the copy
 * rate of the same bytes, and the speedup over sgemv (f32 weights, 4 bytes each).
 *
 * @module
 */
import { randU32, randUniform } from "../src/core/prng.ts";
import { loadBlas } from "../src/cpu/blas.ts";
import { matmul } from "../src/cpu/matmul.ts";
import { poolSize, shutdownPool } from "../src/cpu/pool.ts";
import { lutMatmul, type LutNumerics, prepareLut } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";
import { packCodes } from "../src/quant/packing.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : dflt;
}

/** A method's layout: bits, p, group, zeros, Hadamard size, and an integer (uniform) table. */
interface Method {
  name: string;
  bits: number;
  p: number;
  g: number;
  zeros?: boolean;
  h?: number;
  uniform?: boolean;
}

const METHODS: Method[] = [
  { name: "NF4 g64", bits: 4, p: 1, g: 64 },
  { name: "RTN 4-bit g64", bits: 4, p: 1, g: 64, zeros: true, uniform: true },
  { name: "HQQ 4-bit g64", bits: 4, p: 1, g: 64, zeros: true, uniform: true },
  { name: "RTN 2-bit g64", bits: 2, p: 1, g: 64, zeros: true, uniform: true },
  { name: "RTN 3-bit g64", bits: 3, p: 1, g: 64, zeros: true, uniform: true },
  { name: "HIGGS (1,16) g256 h256", bits: 4, p: 1, g: 256, h: 256 },
  { name: "HIGGS (2,16) g256 h256", bits: 4, p: 2, g: 256, h: 256 },
  { name: "HIGGS (2,256) g256 h256", bits: 8, p: 2, g: 256, h: 256 },
];

function tensor(rows: number, cols: number, m: Method): QuantizedTensor {
  const cpr = cols / m.p;
  const codes = new Uint16Array(rows * cpr);
  for (let i = 0; i < codes.length; i++) codes[i] = randU32(1, i) >>> (32 - m.bits);
  const groups = (rows * cols) / m.g;
  const n = 2 ** m.bits;
  const q: QuantizedTensor = {
    method: m.h ? "higgs" : m.zeros ? "hqq" : "nf4",
    shape: [rows, cols],
    paddedCols: cols,
    p: m.p,
    codeBits: m.bits,
    codes: packCodes(codes, rows, cpr, m.bits),
    table: Float32Array.from(
      { length: n * m.p },
      (_, i) => m.uniform ? i : randUniform(2, i) * 4 - 2,
    ),
    tableDtype: "F16",
    groupSize: m.g,
    groupAxis: 1,
    scales: Float32Array.from({ length: groups }, (_, i) => randUniform(3, i)),
    scaleStorage: { kind: "float", dtype: "F16" },
    rotation: m.h ? { kind: "hadamard", size: m.h, seed: 1 } : { kind: "none" },
    params: {},
  };
  if (m.zeros) {
    q.zeros = Float32Array.from({ length: groups }, (_, i) => randUniform(4, i) * (n - 1));
    q.zeroStorage = { kind: "float", dtype: "F16" };
  }
  return q;
}

/** Milliseconds: the best of `k` calls after one warm-up. */
async function bestOf(fn: () => unknown, k = 4): Promise<number> {
  await fn();
  let b = Infinity;
  for (let i = 0; i < k; i++) {
    const t = performance.now();
    await fn();
    b = Math.min(b, performance.now() - t);
  }
  return b;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const reps = Number(arg("reps", "5"));
const shapes = arg("shapes", "4096x4096,2048x8192").split(",").map((s) =>
  s.split("x").map(Number) as [number, number]
);
const f = (v: number, d = 2): string => v.toFixed(d);
const gbs = (bytes: number, ms: number): number => bytes / ms / 1e6;

console.log(
  `CPU GEMV, batch 1, ${poolSize()} workers, fast kernels: ${lutInt8Isa() ?? "TypeScript"}, ` +
    `dense by ${loadBlas() ? "OpenBLAS sgemv" : "TypeScript"}; medians of ${reps} rounds; ` +
    `load average ${Deno.loadavg().map((v) => v.toFixed(1)).join(" ")}`,
);
for (const [rows, cols] of shapes) {
  const W = Float32Array.from({ length: rows * cols }, (_, i) => randUniform(6, i) - 0.5);
  const x = Float32Array.from({ length: cols }, (_, i) => randUniform(5, i) * 2 - 1);
  const src = new Float32Array(W.length), dst = new Float32Array(W.length);
  src.set(W);
  const copy = (bytes: number) => (): void =>
    dst.subarray(0, bytes / 4).set(src.subarray(0, bytes / 4));
  const runs: { name: string; bytes: number; fn: () => unknown }[] = [
    { name: "dense f32 sgemv", bytes: W.byteLength, fn: () => matmul(x, W, 1, cols, rows) },
  ];
  for (const m of METHODS) {
    const q = tensor(rows, cols, m);
    const t = prepareLut(q);
    const bytes = q.codes.byteLength + q.scales.byteLength / 2 +
      (q.zeros ? q.zeros.byteLength / 2 : 0);
    for (const kernel of ["exact", "fast"] as LutNumerics[]) {
      if (kernel === "fast" && !t.int8) continue;
      runs.push({
        name: `${m.name} ${kernel}`,
        bytes,
        fn: () => lutMatmul(t, x, 1, { numerics: kernel }),
      });
      // The kernel's own speed, free of the pool's wake-ups (large on a loaded machine).
      runs.push({
        name: `${m.name} ${kernel}, calling thread only`,
        bytes,
        fn: () => lutMatmul(t, x, 1, { numerics: kernel, singleThread: true }),
      });
    }
  }
  const ms = new Map<string, number[]>();
  const copyMs = new Map<number, number[]>();
  for (let r = 0; r < reps; r++) {
    for (const run of runs) {
      (ms.get(run.name) ?? ms.set(run.name, []).get(run.name)!).push(await bestOf(run.fn));
      if (!copyMs.has(run.bytes)) copyMs.set(run.bytes, []);
      copyMs.get(run.bytes)!.push(await bestOf(copy(run.bytes)));
    }
  }
  const dense = median(ms.get("dense f32 sgemv")!);
  console.log(`\n${rows}×${cols} (out × in)`);
  console.log("| kernel | ms | GB/s of weight bytes | / copy GB/s | speedup over sgemv |");
  console.log("|---|---|---|---|---|");
  for (const run of runs) {
    const t = median(ms.get(run.name)!);
    const c = median(copyMs.get(run.bytes)!);
    console.log(
      `| ${run.name} | ${f(t)} | ${f(gbs(run.bytes, t))} | ${f(c / t, 3)} | ${f(dense / t)}× |`,
    );
  }
}
shutdownPool();
