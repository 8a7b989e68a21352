/**
 * The `fast` CPU LUT kernels on a batch of activation rows (prefill, perplexity): the batch
 * kernel (each tile of weight rows decoded once to int8, reused by up to 8 rows) against the same
 * rows one GEMV at a time and against the `exact` path (tiles decoded to f32, then sgemm), on the
 * calling thread, in the same run. Time is the process's CPU time per call (`processCpuMs`),
 * which a loaded machine inflates far less than wall time.
 *
 *     ./quantlab deno run -A bench/lut_batch_bench.ts [--batch 64] [--shape 2048x2048]
 *
 * @module
 */
import { randU32, randUniform } from "../src/core/prng.ts";
import { describeMatmulBackend } from "../src/cpu/matmul.ts";
import { shutdownPool } from "../src/cpu/pool.ts";
import { lutMatmul, prepareLut } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";
import { packCodes } from "../src/quant/packing.ts";
import { processCpuMs } from "./timing.ts";

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1]! : dflt;
}

const B = Number(arg("batch", "64"));
const [ROWS, COLS] = arg("shape", "2048x2048").split("x").map(Number) as [number, number];

const LAYOUTS = [
  { name: "NF4 g64 (n4)", bits: 4, p: 1, g: 64 },
  { name: "RTN 3-bit g64 (n3)", bits: 3, p: 1, g: 64, zeros: true },
  { name: "RTN 2-bit g64 (n2)", bits: 2, p: 1, g: 64, zeros: true },
  { name: "HIGGS (2,16) g256 (p2n4)", bits: 4, p: 2, g: 256 },
  { name: "HIGGS (2,256) g256 (p2n8)", bits: 8, p: 2, g: 256 },
];

function tensor(m: (typeof LAYOUTS)[number]): QuantizedTensor {
  const cpr = COLS / m.p;
  const codes = new Uint16Array(ROWS * cpr).map((_, i) => randU32(1, i) >>> (32 - m.bits));
  const groups = ROWS * COLS / m.g;
  const q: QuantizedTensor = {
    method: m.zeros ? "rtn" : "higgs",
    shape: [ROWS, COLS],
    paddedCols: COLS,
    p: m.p,
    codeBits: m.bits,
    codes: packCodes(codes, ROWS, cpr, m.bits),
    table: Float32Array.from(
      { length: 2 ** m.bits * m.p },
      (_, i) => m.zeros ? i : randUniform(2, i) * 4 - 2,
    ),
    tableDtype: "F32",
    groupSize: m.g,
    groupAxis: 1,
    scales: Float32Array.from({ length: groups }, (_, i) => randUniform(3, i)),
    scaleStorage: { kind: "float", dtype: "F32" },
    rotation: { kind: "none" },
    params: {},
  };
  if (m.zeros) {
    q.zeros = Float32Array.from({ length: groups }, (_, i) => randUniform(4, i) * 7);
    q.zeroStorage = { kind: "float", dtype: "F32" };
  }
  return q;
}

/** CPU ms per call of `fn`, over at least 1.5 s of CPU time after a warm-up call. */
async function perCall(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const c0 = processCpuMs();
  let n = 0;
  while (processCpuMs() - c0 < 1500) {
    await fn();
    n++;
  }
  return (processCpuMs() - c0) / n;
}

console.log(
  `fast LUT kernels (${lutInt8Isa() ?? "TypeScript"}), ${ROWS}×${COLS}, batch ${B}, calling ` +
    `thread only, CPU ms per call; exact path: ${describeMatmulBackend()}; load average ` +
    Deno.loadavg().map((v) => v.toFixed(1)).join(" "),
);
console.log("| layout | batch kernel | one row at a time | ratio | exact (f32 tiles + sgemm) |");
console.log("|---|---|---|---|---|");
const x = Float32Array.from({ length: B * COLS }, (_, i) => randUniform(5, i) * 2 - 1);
for (const m of LAYOUTS) {
  const t = prepareLut(tensor(m));
  const opts = { numerics: "fast" as const, singleThread: true };
  const batched = await perCall(() => lutMatmul(t, x, B, opts));
  const rows = await perCall(async () => {
    for (let b = 0; b < B; b++) await lutMatmul(t, x.subarray(b * COLS, (b + 1) * COLS), 1, opts);
  });
  const exact = await perCall(() => lutMatmul(t, x, B, { singleThread: true }));
  console.log(
    `| ${m.name} | ${batched.toFixed(1)} | ${rows.toFixed(1)} | ${
      (rows / batched).toFixed(2)
    }× | ` +
      `${exact.toFixed(1)} |`,
  );
}
shutdownPool();
