/**
 * The GPTQ-a-checkpoint job (Frantar et al., ICLR 2023): a dense model folder and a calibration
 * text in, a quantized checkpoint in the ordinary quantlab format out (so `ppl`, `generate`,
 * `error` and the LUT runtime read it unchanged), with any of quantlab's grids as the inner
 * quantizer.
 *
 * 1. **Calibration**: `samples` windows of `ctx` tokens drawn with a seed from the text, tokenized
 *    with the model's tokenizer (`calibration.ts`).
 * 2. **Sequential GPTQ**, layer by layer in model order, and within a layer projection group by
 *    group ("true sequential", `gptq_layer.ts`): the embeddings of the windows enter layer 0;
 *    one pass of the layer over them records each group's inputs, H = 2XᵀX (BLAS, one H for
 *    q/k/v and one for gate/up), from the model whose earlier layers and earlier projections of
 *    this layer are already quantized; the per-matrix GPTQ quantizes the group, its weights are
 *    replaced by the quantized ones and the pass goes on, its outputs being the next layer's
 *    inputs. Each finished layer is saved (`gptq_work.ts`), so a killed run resumes at the first
 *    unfinished layer (earlier layers are read back and the windows re-run through them).
 * 3. **Writing**: the quantize-a-checkpoint job (`quantize_checkpoint.ts`) assembles the output
 *    from the saved layers (its `encode` hook) — its streaming, resuming, config and file copies
 *    serve GPTQ unchanged — and records the GPTQ and calibration settings in
 *    `quantization_config` (`method: "gptq"`, `grid`, `gptq`, `calibration`).
 *
 * Outputs follow the quantize job's rules (`io/output_guard.ts`): every check on the input (the
 * output path, model, calibration text and settings, tokenizer, finite weights, the grid on layer
 * 0) runs before anything is written; `out` must be new unless `mode` is "force" or "resume"; the
 * GPTQ state lives in the work folder beside the output (`OUT.quantlab-work/gptq/`) and a killed
 * run continues with `mode: "resume"` (refused, naming the differences, when the grid, GPTQ
 * settings, calibration or input bytes changed).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type ProgressFactory, silentProgress } from "../core/progress.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { formatGridSpec, type GridSpec } from "../quant/grid_spec.ts";
import { ioError, SafetensorsFile } from "../io/safetensors.ts";
import { openCheckpoint } from "../io/sharded.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { q } from "../io/paths.ts";
import { pathExists } from "../io/atomic.ts";
import {
  type OutputMode,
  refuseExistingOutputs,
  refuseOutputOverInput,
  workFolderOf,
} from "../io/output_guard.ts";
import { modelFamily } from "../model/family.ts";
import type { LlamaConfig } from "../model/config.ts";
import { loadHfConfig, loadModel } from "../model/loader.ts";
import { HESSIAN_GROUPS } from "../model/hessian_capture.ts";
import type { LinearKind } from "../model/types.ts";
import { type CalibrationRecord, type CalibrationSource, loadCalibration } from "./calibration.ts";
import { gptqLayer, type ProjectionStats, setQuantizedLayer } from "./gptq_layer.ts";
import { GptqWork, type LayerRecord } from "./gptq_work.ts";
import {
  quantizeCheckpoint,
  type QuantizeCheckpointOptions,
  type QuantizeSummary,
  RECURRING_FAILURES,
} from "./quantize_checkpoint.ts";
import { hashInputs } from "./quantize_inputs.ts";
import { runIdOf } from "./quantize_run.ts";

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
  /**
   * What to do with an existing `out` (default "new": it must be absent or an empty folder;
   * "force": replace it once the new output is complete; "resume": continue the unfinished run,
   * whose settings, calibration and inputs must be the same).
   */
  mode?: OutputMode;
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

/** The model folder behind `inputPath`, checked for GPTQ (a dense folder, a folder output). */
async function checkGptqInput(
  inputPath: string,
  out: string,
): Promise<{ input: string; config: LlamaConfig; files: string[] }> {
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
  const ck = await openCheckpoint(input);
  const files = [...ck.files];
  ck.close();
  return { input, config, files };
}

/**
 * Quantizes the model folder `inputPath` with sequential GPTQ into the folder `out` (see the
 * module documentation).
 *
 * @example
 * ```ts
 * import { gptqCheckpoint } from "./gptq_checkpoint.ts";
 * import { parseGridSpec } from "../quant/grid_spec.ts";
 * const dir = await Deno.makeTempDir();
 * const text = new TextEncoder().encode("The jury said it did find that the election ".repeat(40));
 * const s = await gptqCheckpoint("assets/tiny-llama", `${dir}/q`, {
 *   grid: parseGridSpec("rtn:bits=4,group=64"),
 *   calibration: { source: "inline", text, samples: 2, ctx: 32, seed: 0 },
 * });
 * await Deno.remove(dir, { recursive: true });
 * if (s.quantized !== 28 || !s.projections.every((p) => p.error < p.dataFreeError)) throw new Error();
 * ```
 */
export async function gptqCheckpoint(
  inputPath: string,
  out: string,
  opts: GptqCheckpointOptions,
): Promise<GptqCheckpointSummary> {
  const t0 = performance.now();
  const mode = opts.mode ?? "new";
  // 1. Checks, before anything is written: input, output, calibration, weights (finite).
  const { input, config, files } = await checkGptqInput(inputPath, out);
  const workDir = workFolderOf(out);
  await refuseOutputOverInput(out, [input, ...files]);
  await refuseExistingOutputs(
    [{ path: out, what: "--out" }, { path: workDir, what: "the work folder of an unfinished run" }],
    mode,
    { resumable: true },
  );
  const gptq = {
    percdamp: opts.percdamp ?? 0.01,
    actOrder: opts.actOrder ?? false,
    blockSize: opts.blockSize ?? 128,
  };
  // The order within a layer is part of the run: work saved by the layer-wise order is not resumed.
  const sequential = "true";
  const grid = formatGridSpec(opts.grid);
  const calib = await loadCalibration(input, opts.calibration);
  const names = modelFamily(config.architecture).tensors;
  const nameOf = (l: number) => (k: LinearKind) => `${names.projection(l, k)}.weight`;
  const L = config.numLayers;
  const layerOf = new Map<string, number>();
  for (let l = 0; l < L; l++) for (const k of KINDS) layerOf.set(nameOf(l)(k), l);
  const namesOf = new Map<string, string[]>();
  for (const f of files) {
    const sf = await SafetensorsFile.open(f);
    namesOf.set(f, sf.names());
    sf.close();
  }
  const inputs = await hashInputs(files, new Set(layerOf.keys()), (f) => namesOf.get(f)!);
  // The GPTQ run: everything that changes its result (the quantize job adds the tensors' format).
  const key = { grid, gptq, sequential, calibration: calib.record, inputs };
  const run = await runIdOf(key);
  const config_ = {
    method: "gptq",
    grid,
    gptq: {
      damp: gptq.percdamp,
      act_order: gptq.actOrder,
      block_size: gptq.blockSize,
      static_groups: gptq.actOrder,
      sequential,
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
  };
  const assemble = (encode?: QuantizeCheckpointOptions["encode"]) =>
    quantizeCheckpoint(input, out, {
      method: opts.grid.method,
      options: opts.grid.opts,
      tensors: [...layerOf.keys()],
      config: config_,
      // The checks above were made with the caller's mode; the work folder is this run's now.
      mode: "resume",
      ...(encode ? { encode } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
  const summaryOf = (s: QuantizeSummary, done: LayerRecord[], resumed: number) => ({
    ...s,
    seconds: (performance.now() - t0) / 1000,
    calibration: calib.record,
    layers: { quantized: L - resumed, resumed },
    projections: done.flatMap((d) => d.stats),
  });
  // --resume of a run that already finished: the quantize job recognises its output.
  if (mode === "resume" && !(await pathExists(workDir)) && await pathExists(out)) {
    return summaryOf(await assemble(), [], L);
  }
  const work = await GptqWork.open(workDir, key, out, mode);
  const resumed = work.done.length;

  // 2. Sequential GPTQ over the layers not finished yet.
  const bar = (opts.progress ?? silentProgress)(`gptq ${grid}`, L * KINDS.length);
  if (resumed > 0) bar.tick(resumed * KINDS.length, `${resumed} layers done earlier`);
  try {
    if (resumed < L) {
      const model = await loadModel(input);
      for (let l = 0; l < resumed; l++) {
        setQuantizedLayer(model, l, await work.read(l), nameOf(l));
      }
      let hidden = calib.windows.map((w) => model.embed(w));
      if (resumed > 0) {
        // The states entering the first unfinished layer, through the layers done earlier.
        const next: Float32Array[] = [];
        for (const h of hidden) next.push(await model.forwardLayers(0, resumed, h));
        hidden = next;
      }
      for (let l = resumed; l < L; l++) {
        const tick = (n: string) => bar.tick(1, n);
        const r = await gptqLayer(model, l, hidden, nameOf(l), opts.grid, gptq, tick);
        await work.save(l, r.tensors, r.stats);
        await opts.onLayerDone?.(l);
        hidden = r.outputs;
      }
    }
  } catch (e) {
    // A failure that would recur on resume leaves nothing behind (as the quantize job does).
    if (e instanceof QuantlabError && RECURRING_FAILURES.has(e.code)) await work.discard();
    throw e;
  }
  bar.done();

  // 3. The checkpoint, assembled from the saved layers by the quantize job.
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
  return summaryOf(await assemble(encode), work.done, resumed);
}
