/**
 * GPTQ on one decoder layer of the Llama-3.2-1B shape (`bench/shapes.ts`: d 2048, MLP 8192,
 * 32 / 8 heads; random weights), as `quantize --method gptq` runs each layer: the Hessian capture
 * (the layer's forward on the calibration states + H = 2XᵀX per projection group), GPTQ of its
 * seven projections with their statistics (`gptqLayer`, which captures again), and the forward
 * through the quantized layer that makes the next layer's inputs. Prints wall and process CPU
 * time per phase and extrapolates to the issue-22 goal (the 16-layer model, calibrated on
 * `--calib-samples 128 --calib-ctx 256`, in ≤ 45 min on 2 cores):
 *
 *     deno run -A bench/gptq_1b_layer.ts [--windows 16] [--ctx 256] [--target-windows 128]
 *                                        [--layers 16] [--grid higgs:p=2,bits=3]
 *
 * The capture and the forward grow with the calibration tokens, GPTQ itself does not (its input is
 * H), so a run on `--windows` windows is scaled to `--target-windows`:
 * per layer = (capture + forward) · target / windows + (gptqLayer − capture). The extrapolation
 * leaves out the embedding lookup and writing the checkpoint (seconds at this size; see
 * `bench/quantize_1b.ts` for the write). On a loaded machine, read the CPU column.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { randU32 } from "../src/core/prng.ts";
import { matmulBackend } from "../src/cpu/matmul.ts";
import { LlamaModel } from "../src/model/llama.ts";
import { randomLlamaWeights } from "../src/model/random.ts";
import { captureLayerHessians } from "../src/model/hessian_capture.ts";
import { gptqLayer } from "../src/jobs/gptq_layer.ts";
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
  const capture = await timed(() => captureLayerHessians(model, 0, hidden));
  const layer = await timed(() => gptqLayer(model, 0, hidden, (k) => k, spec));
  const forward = await timed(async () => {
    for (const h of hidden) await model.forwardLayers(0, 1, h);
  });
  const row = (name: string, t: { wall: number; cpu: number }) =>
    console.log(
      `${name.padEnd(34)} ${t.wall.toFixed(1).padStart(8)} ${t.cpu.toFixed(1).padStart(8)}`,
    );
  console.log(
    `GPTQ ${values.grid}, one 1B-shaped layer, ${windows} windows × ${ctx} tokens ` +
      `(${matmulBackend()}); seconds:`,
  );
  console.log(`${"phase".padEnd(34)} ${"wall".padStart(8)} ${"CPU".padStart(8)}`);
  row("capture (forward + Hessians)", capture);
  row("gptqLayer (capture + 7 × GPTQ)", layer);
  row("forward through quantized layer", forward);
  const per = (k: "wall" | "cpu") =>
    (capture[k] + forward[k]) * scale + Math.max(0, layer[k] - capture[k]);
  const total = (k: "wall" | "cpu") => per(k) * layers / 60;
  console.log(
    `extrapolated to ${values["target-windows"]} windows: ${per("cpu").toFixed(1)} s CPU ` +
      `(${per("wall").toFixed(1)} s wall) per layer; ${layers} layers ≈ ` +
      `${total("cpu").toFixed(1)} min CPU (${total("wall").toFixed(1)} min wall); goal ≤ 45 min`,
  );
}
