/**
 * Where the 16-bit weight path's time goes (issue 17), per projection of the Llama-3.2-1B shape
 * (d 2048, 32/8 heads, SwiGLU 8192, vocabulary 128256): for batch 1 (a decode step) and batch
 * `--ctx` (a `ppl` window), the f32 product (`matmul` on the widened weight), the 16-bit product
 * (`HalfLinear.forward` on a weight in shared memory, as the loader keeps it: batch 1 on the
 * worker pool) and, for batch > 1, its widening pass alone (`HalfWidener` over the same tiles),
 * each as the minimum wall time and the mean CPU time (every thread) of `--reps` calls, then
 * summed over a forward (7 projections × 16 layers + the LM head).
 *
 * Every call reads weights not in the cache: each kind cycles through as many copies as fill
 * `--mb` MB of 16-bit weights (a model's weights stream from memory; a single matrix would sit in
 * the cache and flatter the f32 path's 4 bytes per weight).
 *
 *     deno run -A bench/half_matmul_bench.ts [--ctx 128] [--reps 8] [--mb 256] [--dtype BF16]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fillNormal } from "../src/core/prng.ts";
import { toBf16, toF16 } from "../src/core/dtype.ts";
import { matmul, matmulBackend } from "../src/cpu/matmul.ts";
import { halfTileRows } from "../src/cpu/half_matmul.ts";
import { toShared } from "../src/cpu/pool.ts";
import { HalfLinear } from "../src/model/linear.ts";
import { HalfWidener, widenHalf } from "../src/cpu/widen.ts";
import { threadsCpuNs } from "./timing.ts";

/** A projection kind of the 1B shape: [outF, inF] and how many per forward. */
const KINDS: [string, number, number, number][] = [
  ["q, o", 2048, 2048, 32],
  ["k, v", 512, 2048, 32],
  ["gate, up", 8192, 2048, 32],
  ["down", 2048, 8192, 16],
  ["LM head", 128256, 2048, 1],
];

/** Min wall ms and mean CPU ms of `reps` calls of `f(rep)` after one warm-up call. */
async function time(
  f: (rep: number) => unknown,
  reps: number,
): Promise<{ ms: number; cpuMs: number }> {
  await f(reps);
  let ms = Infinity;
  const c0 = threadsCpuNs();
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await f(r);
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms, cpuMs: (threadsCpuNs() - c0) / 1e6 / reps };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ctx: { type: "string", default: "128" },
      reps: { type: "string", default: "8" },
      mb: { type: "string", default: "256" },
      dtype: { type: "string", default: "BF16" },
    },
  });
  const reps = Number(values.reps), dtype = values.dtype === "F16" ? "F16" : "BF16";
  console.log(
    `GEMM ${matmulBackend()}, ${navigator.hardwareConcurrency} CPUs, load average ` +
      Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ") +
      `; ${dtype}; min wall ms (mean CPU ms) per call, then × count per forward`,
  );
  const widener = new HalfWidener(1 << 22);
  const totals: Record<string, { f32: number; half: number; f32Cpu: number; halfCpu: number }> = {};
  for (const [name, outF, inF, count] of KINDS) {
    const copies = Math.max(1, Math.ceil((Number(values.mb) * 1e6) / (2 * outF * inF)));
    const w16 = Array.from({ length: copies }, (_, c) => {
      const w = fillNormal(new Float32Array(outF * inF), 7 + c, 0, 0.02);
      return toShared(dtype === "BF16" ? toBf16(w) : toF16(w));
    });
    const w32 = w16.map((w) => widenHalf(w, dtype));
    const lin = w16.map((w) => new HalfLinear({ data: w, dtype }, outF, inF));
    for (const batch of [1, Number(values.ctx)]) {
      const x = fillNormal(new Float32Array(batch * inF), 3);
      const y = new Float32Array(batch * outF);
      const n = Math.min(reps * copies, Math.max(reps, 2 * copies));
      const f32 = await time((r) => matmul(x, w32[r % copies]!, batch, inF, outF, y), n);
      // The model's call: HalfLinear (batch 1 on the pool, the weights being shared as loaded).
      const half = await time((r) => lin[r % copies]!.forward(x, batch, y), n);
      const rows = halfTileRows(inF, outF);
      const widen = batch === 1 ? null : await time((r) => {
        for (let r0 = 0; r0 < outF; r0 += rows) {
          widener.widen(w16[r % copies]!, dtype, r0 * inF, Math.min(outF, r0 + rows) * inF);
        }
      }, n);
      const t = (totals[`batch ${batch}`] ??= { f32: 0, half: 0, f32Cpu: 0, halfCpu: 0 });
      t.f32 += count * f32.ms;
      t.half += count * half.ms;
      t.f32Cpu += count * f32.cpuMs;
      t.halfCpu += count * half.cpuMs;
      const f = (v: { ms: number; cpuMs: number }): string =>
        `${v.ms.toFixed(2)} (${v.cpuMs.toFixed(2)})`;
      console.log(
        `  ${name.padEnd(8)} [${outF}, ${inF}] batch ${String(batch).padEnd(4)} f32 ${f(f32)}, ` +
          `16-bit ${f(half)}` +
          (widen
            ? ` of which widening ${f(widen)} = ${(widen.cpuMs / half.cpuMs * 100).toFixed(0)} % ` +
              `of its CPU`
            : "") +
          `; ×${count}: f32 ${(count * f32.ms).toFixed(0)} ms, 16-bit ${
            (count * half.ms).toFixed(0)
          } ms`,
      );
    }
  }
  for (const [k, t] of Object.entries(totals)) {
    console.log(
      `forward, ${k}: f32 ${t.f32.toFixed(0)} ms (${t.f32Cpu.toFixed(0)} CPU), 16-bit ` +
        `${t.half.toFixed(0)} ms (${t.halfCpu.toFixed(0)} CPU): 16-bit speed ${
          (t.f32 / t.half).toFixed(3)
        } × f32 wall, ${(t.f32Cpu / t.halfCpu).toFixed(3)} × per CPU second`,
    );
  }
}
