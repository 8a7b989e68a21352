/**
 * GPTQ on one decoder layer of the Llama-3.2-1B shape (`bench/shapes.ts`: d 2048, MLP 8192,
 * 32 / 8 heads; random weights), as `quantize --method gptq` runs each layer: one pass of the
 * layer over the calibration states in true sequential order (`gptqLayer`: forward, the Hessian
 * of each projection group, GPTQ of its projections with their error statistics, the forward
 * going on through the quantized ones; its outputs are the next layer's inputs). Prints wall and
 * process CPU time per phase and extrapolates to the issue-22 goal (the 16-layer model,
 * calibrated on `--calib-samples 128 --calib-ctx 256`, in ≤ 45 min on 2 cores):
 *
 *     deno run -A bench/gptq_1b_layer.ts [--windows 16] [--ctx 256] [--target-windows 128]
 *                                        [--layers 16] [--grid higgs:p=2,bits=3]
 *
 * The pass's forward and Hessians grow with the calibration tokens, GPTQ itself does not (its
 * input is H), so the pass alone (hooks that change nothing) is timed first and a run on
 * `--windows` windows is scaled to `--target-windows`:
 * per layer = pass · target / windows + (gptqLayer − pass). That also scales the pass's fixed
 * costs (the Hessians' fresh pages, mirroring them), so a second estimate fits the pass as
 * fixed + per window from a pass on half the windows (noisier on a loaded machine: two
 * differences of timings). The statistics (three
 * `hessianError` per projection, inside gptqLayer) are timed apart too. The extrapolation leaves
 * out the embedding lookup and writing the checkpoint (seconds at this size; see
 * `bench/quantize_1b.ts` for the write). On a loaded machine, read the CPU column.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { randU32 } from "../src/core/prng.ts";
import { matmulBackend } from "../src/cpu/matmul.ts";
import { LlamaModel } from "../src/model/llama.ts";
import { randomLlamaWeights } from "../src/model/random.ts";
import { HESSIAN_GROUPS, type HessianGroup } from "../src/model/hessian_capture.ts";
import { forwardLayerSequential } from "../src/model/sequential_capture.ts";
import { gptqLayer } from "../src/jobs/gptq_layer.ts";
import { hessianError } from "../src/quant/error_metrics.ts";
import { parseGridSpec } from "../src/quant/grid_spec.ts";
import { llama1bConfig } from "./shapes.ts";
import { processCpuMs } from "./timing.ts";

/** Wall and CPU seconds of `fn`. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const w0 = performance.now(), c0 = processCpuMs();
  const value = await fn();
  return { value, wall: (performance.now() - w0) / 1000, cpu: (processCpuMs() - c0) / 1000 };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      windows: { type: "string", default: "16" },
      ctx: { type: "string", default: "256" },
      "target-windows": { type: "string", default: "128" },
      layers: { type: "string", default: "16" },
      grid: { type: "string", default: "higgs:p=2,bits=3" },
    },
  });
  const [windows, ctx] = [Number(values.windows), Number(values.ctx)];
  const scale = Number(values["target-windows"]) / windows;
  const layers = Number(values.layers);
  const config = llama1bConfig(1);
  const model = LlamaModel.fromWeights(config, randomLlamaWeights(config, 1));
  const hidden = Array.from(
    { length: windows },
    (_, w) =>
      model.embed(
        Array.from({ length: ctx }, (_, i) => randU32(5, w * ctx + i) % config.vocabSize),
      ),
  );
  const spec = parseGridSpec(values.grid);
  const hessians = new Map<HessianGroup, Float32Array>();
  const half = hidden.slice(0, Math.max(1, windows >> 1));
  const passHalf = await timed(() => forwardLayerSequential(model, 0, half, () => {}));
  const pass = await timed(() =>
    forwardLayerSequential(model, 0, hidden, (g, acc) => void hessians.set(g, acc.h))
  );
  // The statistics' cost: three tr(ΔHΔᵀ) per projection, on the real shapes and Hessians.
  const stats = await timed(() => {
    for (const [group, kinds] of Object.entries(HESSIAN_GROUPS) as [HessianGroup, string[]][]) {
      for (const kind of kinds) {
        const lin = model.getLinear(0, kind as "q_proj");
        const w = lin.weightF32!();
        const near = w.map((v) => v * 0.99);
        for (let i = 0; i < 3; i++) {
          hessianError(w, near, hessians.get(group)!, lin.outFeatures, lin.inFeatures);
        }
      }
    }
    return Promise.resolve();
  });
  const layer = await timed(() => gptqLayer(model, 0, hidden, (k) => k, spec));
  const row = (name: string, t: { wall: number; cpu: number }) =>
    console.log(
      `${name.padEnd(40)} ${t.wall.toFixed(1).padStart(8)} ${t.cpu.toFixed(1).padStart(8)}`,
    );
  console.log(
    `GPTQ ${values.grid}, one 1B-shaped layer, ${windows} windows × ${ctx} tokens ` +
      `(${matmulBackend()}); seconds:`,
  );
  console.log(`${"phase".padEnd(40)} ${"wall".padStart(8)} ${"CPU".padStart(8)}`);
  row(`pass on ${half.length} windows`, passHalf);
  row("pass (forward + Hessians)", pass);
  row("statistics (3 × 7 hessianError)", stats);
  row("gptqLayer (pass + 7 × GPTQ + statistics)", layer);
  const per = (k: "wall" | "cpu") => pass[k] * scale + Math.max(0, layer[k] - pass[k]);
  const total = (k: "wall" | "cpu") => per(k) * layers / 60;
  console.log(
    `extrapolated to ${values["target-windows"]} windows: ${per("cpu").toFixed(1)} s CPU ` +
      `(${per("wall").toFixed(1)} s wall) per layer; ${layers} layers ≈ ` +
      `${total("cpu").toFixed(1)} min CPU (${total("wall").toFixed(1)} min wall); goal ≤ 45 min`,
  );
  // The pass as fixed + per window, from the two window counts.
  const perWindow = (k: "wall" | "cpu") => (pass[k] - passHalf[k]) / (windows - half.length);
  const fitted = (k: "wall" | "cpu") =>
    pass[k] - perWindow(k) * windows + perWindow(k) * Number(values["target-windows"]) +
    Math.max(0, layer[k] - pass[k]);
  console.log(
    `with the pass fitted as fixed ${(pass.cpu - perWindow("cpu") * windows).toFixed(1)} s + ` +
      `${perWindow("cpu").toFixed(2)} s per window (CPU): ${fitted("cpu").toFixed(1)} s CPU ` +
      `(${fitted("wall").toFixed(1)} s wall) per layer; ${layers} layers ≈ ` +
      `${(fitted("cpu") * layers / 60).toFixed(1)} min CPU ` +
      `(${(fitted("wall") * layers / 60).toFixed(1)} min wall)`,
  );
}
