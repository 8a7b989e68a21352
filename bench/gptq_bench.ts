/**
 * GPTQ on one projection: a random N(0, 1) weight [rows, cols] and the Hessian H = 2XᵀX of
 * `samples` inputs with correlated columns (a few shared factors + noise), quantized with GPTQ
 * against a grid spec; prints the time of each phase (setup = data-free template, rotation and
 * act-order; factor = U of H⁻¹; sweep = the blocked column sweep), the dense matmul backend, and
 * the layer objective tr((W − Ŵ)H(W − Ŵ)ᵀ) relative to the data-free quantizer's.
 *
 *     deno run -A bench/gptq_bench.ts [--rows 4096] [--cols 4096] [--grid higgs:p=2,bits=3]
 *                                     [--act-order] [--samples 1024] [--threads 2]
 *
 * Goal (issue 22): one 4096 × 4096 projection in ≤ 10 s on 2 cores. On a shared, loaded machine
 * the wall time says little; the process CPU time (all threads, from /proc) is printed too.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fillNormal } from "../src/core/prng.ts";
import { matmulBackend, sgemm } from "../src/cpu/matmul.ts";
import { loadBlas } from "../src/cpu/blas.ts";
import { gptqQuantize } from "../src/quant/gptq.ts";
import { parseGridSpec } from "../src/quant/grid_spec.ts";
import { dequantize } from "../src/quant/dequantize.ts";
import { hessianError } from "../src/quant/error_metrics.ts";

/** Random inputs X [samples, cols] with correlated columns, and H = 2XᵀX. */
function hessian(cols: number, samples: number): Float32Array {
  const k = 16;
  const z = fillNormal(new Float32Array(samples * k), 1);
  const a = fillNormal(new Float32Array(k * cols), 2);
  const x = fillNormal(new Float32Array(samples * cols), 3, 0, 0.3);
  sgemm({ M: samples, N: cols, K: k, A: z, B: a, beta: 1, C: x });
  const h = new Float32Array(cols * cols);
  sgemm({ transA: true, M: cols, N: cols, K: samples, alpha: 2, A: x, B: x, C: h });
  return h;
}

/** Process CPU milliseconds (all threads; Linux), or NaN where /proc is unavailable. */
function cpuMs(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rows: { type: "string", default: "4096" },
      cols: { type: "string", default: "4096" },
      grid: { type: "string", default: "higgs:p=2,bits=3" },
      "act-order": { type: "boolean", default: false },
      samples: { type: "string", default: "1024" },
      threads: { type: "string", default: "2" },
    },
  });
  const rows = Number(values.rows);
  const cols = Number(values.cols);
  loadBlas()?.setThreads(Number(values.threads));
  const spec = parseGridSpec(values.grid);
  const w = fillNormal(new Float32Array(rows * cols), 7);
  let t = performance.now();
  const h = hessian(cols, Number(values.samples));
  const hMs = performance.now() - t;
  t = performance.now();
  const c0 = cpuMs();
  const r = await gptqQuantize(w, rows, cols, h, spec, { actOrder: values["act-order"] });
  const total = (performance.now() - t) / 1000;
  const cpu = (cpuMs() - c0) / 1000;
  const g = hessianError(w, dequantize(r.tensor), h, rows, cols);
  const f = hessianError(w, dequantize(r.dataFree), h, rows, cols);
  console.log(
    `gptq ${values.grid}${values["act-order"] ? " act-order" : ""} ${rows}×${cols} ` +
      `(${matmulBackend()}, ${values.threads} BLAS threads): ${total.toFixed(2)} s wall, ` +
      `${cpu.toFixed(2)} s CPU ` +
      `[setup ${(r.ms.setup / 1000).toFixed(2)}, factor ${(r.ms.factor / 1000).toFixed(2)}, ` +
      `sweep ${(r.ms.sweep / 1000).toFixed(2)}]; Hessian ${(hMs / 1000).toFixed(2)} s; ` +
      `objective GPTQ/data-free ${(g / f).toFixed(4)}`,
  );
}
