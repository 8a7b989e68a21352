/**
 * Where the time of one `fast` LUT GEMV goes (issue 21, step 1), on the calling thread:
 * the WebAssembly kernel alone (activation regions already filled) against the whole
 * `lutMatmul` call (rotation, 8-bit activations, de-interleave, the kernel, the output copy), in
 * weight bytes per second against this machine's copy bandwidth measured in the same run — once
 * over the weight bytes themselves (cache-resident, as the kernel reads them in a loop) and once
 * over a 256 MiB buffer (DRAM, as a 1B model's 0.5 GB of codes stream by at decode). A third
 * figure cycles the kernel through enough copies of the matrix to leave the caches. Each time is
 * the fastest single call (the calls a loaded machine's scheduler left alone; the copies likewise),
 * with the mean CPU time per call of the kernel in a last column.
 *
 *     ./quantlab deno run -A bench/lut_gemv_profile.ts [--shapes 2048x2048,8192x2048]
 *         [--methods nf4,rtn2,higgs2x16] [--quick]
 *
 * Scales and zeros are f16 values (F16 storage); `rtn2f32` stores them as F32 (values not f16),
 * which keeps the bit-plane kernel's f32 layout: `--methods rtn2,rtn2f32` times the two.
 *
 * `--quick` skips the streamed figure (which prepares ~256 MiB of copies per layout).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { randUniform } from "../src/core/prng.ts";
import { type LutCpuTensor, lutMatmul, prepareLut } from "../src/lut/cpu.ts";
import { lutInt8Isa, lutInt8Rows } from "../src/lut/cpu_int8.ts";
import { lutTmacRows } from "../src/lut/cpu_tmac.ts";
import { int8Stride, quantizeActivationsInto } from "../src/lut/int8_format.ts";
import { tmacCovers } from "../src/lut/tmac_format.ts";
import { tmacOf } from "../src/lut/tmac_path.ts";
import { bitsPerWeight } from "../src/quant/format.ts";
import { processCpuMs } from "./timing.ts";
import { type LutBenchFormat, randomLutTensor } from "./lut_tensors.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "2048x2048,8192x2048" },
    methods: { type: "string", default: "nf4,rtn2,higgs2x16" },
    quick: { type: "boolean", default: false },
  },
});

interface Layout extends LutBenchFormat {
  key: string;
}

const LAYOUTS: Layout[] = [
  { key: "nf4", name: "NF4 g64", bits: 4, p: 1, g: 64 },
  { key: "rtn4", name: "RTN 4-bit g64", bits: 4, p: 1, g: 64, zeros: true },
  { key: "rtn2", name: "RTN 2-bit g64", bits: 2, p: 1, g: 64, zeros: true },
  {
    key: "rtn2f32",
    name: "RTN 2-bit g64, F32 scales",
    bits: 2,
    p: 1,
    g: 64,
    zeros: true,
    f32: true,
  },
  { key: "higgs2x16", name: "HIGGS (2,16) g256 h256", bits: 4, p: 2, g: 256, h: 256 },
];

/**
 * Milliseconds per call of `fn` after one warm-up call, over ≥ 1 s of CPU time: the fastest
 * single call (wall clock; on a loaded machine the calls the OS left alone) and the mean CPU time.
 */
async function perCall(fn: () => unknown): Promise<{ best: number; cpu: number }> {
  await fn();
  const c0 = processCpuMs();
  let n = 0, best = Infinity;
  while (processCpuMs() - c0 < 1000 || n < 10) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
    n++;
  }
  return { best, cpu: (processCpuMs() - c0) / n };
}

/**
 * The kernel alone on a tensor whose activation regions a previous call filled: the bit-plane
 * kernel where it covers the layout (2-bit uniform codes) unless `n2`, else the int8 kernel.
 */
function kernelOnly(t: LutCpuTensor, n2 = false): void {
  if (!n2 && tmacCovers(t.q)) {
    const m = tmacOf(t.q, t.wasm, true)!;
    lutTmacRows(m.memory, m.layout, 0, m.layout.tiles);
    return;
  }
  const w = t.wasm!;
  const L = w.layout.int8!;
  const base = { codes: w.layout.codes, scales: w.layout.scales, zeros: w.layout.zeros };
  // After a one-row call the row pairs are interleaved (`pair_layout.ts`); n2 times the old kernel.
  lutInt8Rows(w.memory, { ...base, out: w.layout.out }, L, 0, t.outFeatures, !n2);
}

const gbs = (bytes: number, ms: number): string => (bytes / ms / 1e6).toFixed(1);

const big = new Uint8Array(256 << 20).fill(1), big2 = new Uint8Array(256 << 20);
const dramMs = (await perCall(() => big2.set(big))).best;
console.log(
  `fast LUT GEMV profile, calling thread, fastest call (${
    lutInt8Isa() ?? "TypeScript"
  }); copy of ` +
    `256 MiB: ${gbs(big.length, dramMs)} GB/s; load average ` +
    Deno.loadavg().map((v) => v.toFixed(1)).join(" "),
);
console.log(
  "| shape | layout | weight MB | kernel ms | kernel GB/s | / cached copy | streamed kernel GB/s " +
    "| / DRAM copy | whole call ms | kernel share | kernel CPU ms (mean) |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const s of args.shapes.split(",")) {
  const [rows, cols] = s.split("x").map(Number) as [number, number];
  for (const key of args.methods.split(",")) {
    const m = LAYOUTS.find((l) => l.key === key);
    if (!m) throw new Error(`--methods: ${key} is not valid; use ${LAYOUTS.map((l) => l.key)}`);
    const q = randomLutTensor(rows, cols, m, 7);
    const bytes = bitsPerWeight(q, { includeTable: false }) * rows * cols / 8;
    const t = prepareLut(q);
    const x = Float32Array.from({ length: cols }, (_, i) => randUniform(5, i) * 2 - 1);
    const opts = { numerics: "fast" as const, singleThread: true };
    const whole = (await perCall(() => lutMatmul(t, x, 1, opts))).best;
    if (tmacCovers(q)) {
      // The int8 kernel that covered it before the bit-plane one (its regions: one call fills them).
      const v = t.wasm!.int8!, L = t.wasm!.layout.int8!;
      const xp = Float64Array.from(x);
      quantizeActivationsInto(xp, 0, cols, m.g, int8Stride(L.format), v.xq, v.dx, v.xg);
      const n2 = (await perCall(() => kernelOnly(t, true))).best;
      console.log(
        `| ${rows}×${cols} | ${m.name} (n2 int8 kernel) | ${(bytes / 1e6).toFixed(2)} | ` +
          `${n2.toFixed(3)} | ${gbs(bytes, n2)} | | | | | | |`,
      );
    }
    const k = await perCall(() => kernelOnly(t));
    const kernel = k.best;
    const a = new Uint8Array(bytes), b = new Uint8Array(bytes);
    const cached = (await perCall(() => b.set(a))).best;
    // Enough copies to pass 256 MiB, cycled through: the codes come from DRAM.
    const copies = args.quick ? 1 : Math.min(64, Math.ceil((256 << 20) / bytes));
    const ts: LutCpuTensor[] = [t];
    for (let i = 1; i < copies; i++) ts.push(prepareLut({ ...q, codes: q.codes.slice() }));
    for (const u of ts) await lutMatmul(u, x, 1, opts);
    let i = 0;
    const streamed = (await perCall(() => kernelOnly(ts[i++ % copies]!))).best;
    console.log(
      `| ${rows}×${cols} | ${m.name}${tmacCovers(q) ? " (bit-plane)" : ""} | ${
        (bytes / 1e6).toFixed(2)
      } | ${kernel.toFixed(3)} | ` +
        `${gbs(bytes, kernel)} | ${(cached / kernel).toFixed(2)} | ${gbs(bytes, streamed)} | ` +
        `${(dramMs * bytes / big.length / streamed).toFixed(2)} | ${whole.toFixed(3)} | ` +
        `${(kernel / whole).toFixed(2)} | ${k.cpu.toFixed(3)} |`,
    );
  }
}
