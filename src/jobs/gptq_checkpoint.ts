/**
 * The GPTQ-a-checkpoint job (Frantar et al., ICLR 2023): a dense model folder and a calibration
 * text in, a quantized checkpoint in the ordinary quantlab format out (so `ppl`, `generate`,
 * `error` and the LUT runtime read it unchanged), with any of quantlab's grids as the inner
 * quantizer.
 *
 * 1. **Calibration**: `samples` windows of `ctx` tokens drawn with a seed from the text, tokenized
 *    with the model's tokenizer (`calibration.ts`).
 * 2. **Sequential GPTQ**, layer by layer in model order (`gptq_layer.ts`): the embeddings of the
 *    windows enter layer 0; each layer's projection inputs are captured from the model whose
 *    earlier layers are already quantized, H = 2XᵀX (BLAS, one H for q/k/v and one for
 *    gate/up), the per-matrix GPTQ quantizes each projection, the layer's weights are replaced
 *    by the quantized ones and the windows run through it to give the next layer's inputs.
 *    Each finished layer is saved (`gptq_work.ts`), so a killed run resumes at the first
 *    unfinished layer (earlier layers are read back and the windows re-run through them).
 * 3. **Writing**: the quantize-a-checkpoint job (`quantize_checkpoint.ts`) assembles the output
 *    from the saved layers (its `encode` hook) — its streaming, resuming, config and file copies
 *    serve GPTQ unchanged — and records the GPTQ and calibration settings in
 *    `quantization_config` (`method: "gptq"`, `grid`, `gptq`, `calibration`).
 *
 * Every check on the input (grid, calibration text and settings, tokenizer, model) runs before
 * anything is written; the first write is layer 0's result.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type ProgressFactory, silentProgress } from "../core/progress.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { formatGridSpec, type GridSpec } from "../quant/grid_spec.ts";
import { ioError } from "../io/safetensors.ts";
import { openCheckpoint } from "../io/sharded.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { baseName, q } from "../io/paths.ts";
import { sha256 } from "../io/results.ts";
import { modelFamily } from "../model/family.ts";
import { loadHfConfig, loadModel } from "../model/loader.ts";
import { HESSIAN_GROUPS } from "../model/hessian_capture.ts";
import type { LinearKind } from "../model/types.ts";
import { type CalibrationRecord, type CalibrationSource, loadCalibration } from "./calibration.ts";
import { gptqLayer, type ProjectionStats, setQuantizedLayer } from "./gptq_layer.ts";
import { GptqWork } from "./gptq_work.ts";
import { quantizeCheckpoint, type QuantizeSummary } from "./quantize_checkpoint.ts";
import { workFolderOf } from "../io/output_guard.ts";

/** Options of {@linkcode gptqCheckpoint}. */
export interface GptqCheckpointOptions {
  /** The inner quantizer (a parsed grid spec, e.g. `higgs:p=2,bits=3`). */
  grid: GridSpec;
  /** The calibration text and how to draw from it. */
  calibration: CalibrationSource;
  /** Dampening as a fraction of mean(diag H) (default 0.01). */
  percdamp?: number;
  /** Quantize columns in descending diag H (default false). */
  actOrder?: boolean;
  /** Columns per lazy-update block (default 128). */
  blockSize?: number;
  /** Progress reporting (default none). */
  progress?: ProgressFactory;
  /** Called after each layer is saved (tests use it to simulate a kill). */
  onLayerDone?: (layer: number) => void | Promise<void>;
}

/** What {@linkcode gptqCheckpoint} did. */
export interface GptqCheckpointSummary extends QuantizeSummary {
  /** The calibration set. */
  calibration: CalibrationRecord;
  /** Layers quantized by this run and taken from an earlier one. */
  layers: { quantized: number; resumed: number };
  /** Every projection's output errors on the calibration inputs, in model order. */
  projections: ProjectionStats[];
}

/** The projections of a layer in capture order (q, k, v, o, gate, up, down). */
const KINDS: readonly LinearKind[] = Object.values(HESSIAN_GROUPS).flat();

/**
 * Quantizes the model folder `inputPath` with sequential GPTQ into the folder `out` (see the
 * module documentation).
 *
 * @example
 * ```ts
 * import { gptqCheckpoint } from "./gptq_checkpoint.ts";
 * import { parseGridSpec } from "../quant/grid_spec.ts";
 * const out = await Deno.makeTempDir();
 * const text = new TextEncoder().encode("The jury said it did find that the election ".repeat(40));
 * const s = await gptqCheckpoint("assets/tiny-llama", out, {
 *   grid: parseGridSpec("rtn:bits=4,group=64"),
 *   calibration: { source: "inline", text, samples: 2, ctx: 32, seed: 0 },
 * });
 * await Deno.remove(out, { recursive: true });
 * if (s.quantized !== 28 || !s.projections.every((p) => p.error < p.dataFreeError)) throw new Error();
 * ```
 */
export async function gptqCheckpoint(
  inputPath: string,
  out: string,
  opts: GptqCheckpointOptions,
): Promise<GptqCheckpointSummary> {
  const input = await resolveModelPath(inputPath);
  let isDir: boolean;
  try {
    isDir = (await Deno.stat(input)).isDirectory;
  } catch (e) {
    throw ioError(e, input, "open model");
  }
  if (!isDir) {
    throw new QuantlabError(
      "bad-argument",
      `GPTQ needs a model folder (config.json, tokenizer.json, weights) for its calibration ` +
        `passes; ${q(inputPath)} is a file`,
    );
  }
  if (out.endsWith(".safetensors")) {
    throw new QuantlabError(
      "bad-argument",
      `Input ${q(inputPath)} is a folder, so the output is a folder too; --out ${q(out)} names ` +
        "a .safetensors file: give --out a folder name",
    );
  }
  const { config } = await loadHfConfig(input);
  if (config.quantization) {
    throw new QuantlabError(
      "bad-argument",
      `${q(inputPath)} is already quantized (quantization_config in config.json); GPTQ needs ` +
        "the dense model",
    );
  }
  const gptq = {
    percdamp: opts.percdamp ?? 0.01,
    actOrder: opts.actOrder ?? false,
    blockSize: opts.blockSize ?? 128,
  };
  const grid = formatGridSpec(opts.grid);
  const calib = await loadCalibration(input, opts.calibration);
  const names = modelFamily(config.architecture).tensors;
  const nameOf = (l: number) => (k: LinearKind) => `${names.projection(l, k)}.weight`;
  const L = config.numLayers;

  // The run: everything that changes the result.
  const ck = await openCheckpoint(input);
  const files = [...ck.files];
  ck.close();
  const run = (await sha256(JSON.stringify({
    version: 1,
    grid,
    gptq,
    calibration: calib.record,
    files: await Promise.all(files.map(async (f) => [baseName(f), (await Deno.stat(f)).size])),
  }))).slice(0, 32);
  const work = await GptqWork.open(workFolderOf(out), run, out);
  const resumed = work.done.length;

  // 2. Sequential GPTQ over the layers not finished yet.
  const bar = (opts.progress ?? silentProgress)(`gptq ${grid}`, L * KINDS.length);
  if (resumed > 0) bar.tick(resumed * KINDS.length, `${resumed} layers done earlier`);
  if (resumed < L) {
    const model = await loadModel(input);
    for (let l = 0; l < resumed; l++) setQuantizedLayer(model, l, await work.read(l), nameOf(l));
    // The states entering layer `to` from those entering `from`, one window at a time.
    const through = async (from: number, to: number, states: Float32Array[]) => {
      const next: Float32Array[] = [];
      for (const h of states) next.push(await model.forwardLayers(from, to, h));
      return next;
    };
    let hidden = calib.windows.map((w) => model.embed(w));
    if (resumed > 0) hidden = await through(0, resumed, hidden);
    for (let l = resumed; l < L; l++) {
      const tick = (n: string) => bar.tick(1, n);
      const r = await gptqLayer(model, l, hidden, nameOf(l), opts.grid, gptq, tick);
      await work.save(l, r.tensors, r.stats);
      await opts.onLayerDone?.(l);
      if (l + 1 < L) hidden = await through(l, l + 1, hidden);
    }
  }
  bar.done();

  // 3. The checkpoint, assembled from the saved layers by the quantize job.
  const layerOf = new Map<string, number>();
  for (let l = 0; l < L; l++) for (const k of KINDS) layerOf.set(nameOf(l)(k), l);
  let cached: { layer: number; tensors: Map<string, QuantizedTensor> } | null = null;
  const encode = async (name: string, _w: Float32Array, rows: number, cols: number) => {
    const l = layerOf.get(name)!;
    if (cached?.layer !== l) cached = { layer: l, tensors: await work.read(l) };
    const t = cached.tensors.get(name);
    if (!t || t.shape[0] !== rows || t.shape[1] !== cols) {
      throw new QuantlabError("bad-file", `The GPTQ result of ${q(name)} is missing or misshapen`);
    }
    return t;
  };
  const summary = await quantizeCheckpoint(input, out, {
    method: opts.grid.method,
    options: opts.grid.opts,
    tensors: [...layerOf.keys()],
    encode,
    config: {
      method: "gptq",
      grid,
      gptq: {
        damp: gptq.percdamp,
        act_order: gptq.actOrder,
        block_size: gptq.blockSize,
        static_groups: gptq.actOrder,
        sequential: "layer",
        gptq_run: run,
      },
      calibration: {
        source: calib.record.source,
        text_sha256: calib.record.textSha256,
        text_tokens: calib.record.textTokens,
        samples: calib.record.samples,
        ctx: calib.record.ctx,
        seed: calib.record.seed,
      },
    },
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  return {
    ...summary,
    calibration: calib.record,
    layers: { quantized: L - resumed, resumed },
    projections: work.done.flatMap((d) => d.stats),
  };
}
