/**
 * The quantize-a-checkpoint job: a checkpoint folder (single or sharded safetensors) or one
 * safetensors file in, a portable quantized checkpoint (format: `src/io/quantized_checkpoint.ts`)
 * out, streaming tensor by tensor and resuming an interrupted run.
 *
 * ## Checks first, then the work folder, then one rename
 * Everything that can fail on the input runs before anything is written: the output must be
 * absent or empty (unless `mode` is "force" or "resume") and never the input; the folder's
 * `config.json` and other JSON files must parse; the chosen tensors must be 2-D floats whose
 * shapes the method accepts (`Quantizer.checkShape`); every input file is read once, whole, for
 * its content hash, and the chosen tensors are checked for NaN/±Inf in that pass
 * (`quantize_inputs.ts`). The run key — settings with defaults, tensors, input hashes
 * (`quantize_run.ts`) — heads the progress log of the work folder `OUT.quantlab-work/`, beside
 * the output.
 *
 * ## Streaming and resuming
 * {@linkcode quantizeCheckpoint} holds one tensor at a time. Every quantized tensor is first
 * written atomically to its own part file in the work folder and recorded in `progress.jsonl`;
 * when a source file's tensors are all done, its output file is assembled in the work folder
 * (`out/`, or `out.safetensors` for a single output file) by streaming the parts and the
 * unquantized tensors into one safetensors file, and its parts are removed. At the end the index,
 * `config.json` and copied files join it and the finished output is renamed to `OUT` (an old
 * output is renamed aside first and removed after: `io/output_guard.ts`). A failed or killed run
 * therefore never leaves anything at `OUT`; with `mode: "resume"` it continues at tensor
 * granularity for quantization (finished tensors are skipped) and at file granularity for
 * assembly (a finished output file, recognised by the run id in its metadata, is skipped).
 * Resuming with other settings or changed inputs is refused, naming what differs. A failure that
 * would recur on resume (bad options, shapes or values) removes the work folder.
 *
 * ## Shards
 * With `shard` (`quantize --shard I/N`) the same checks run and the same run key is made — every
 * input byte hashed, so all shards and the merge share one run id — but only the tensors the shard
 * owns are read and quantized, into its own folder inside the work folder
 * (`OUT.quantlab-work/shard-I-of-N/`, resumable like a whole run's); no output file is assembled.
 * When every owned tensor is done the shard writes its manifest beside that folder
 * (`quantize_shard.ts`); `quantlab merge OUT` (`quantize_merge.ts`) moves the parts into the work
 * folder and finishes the run with this job, which assembles and renames the output as above.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, numel } from "../core/tensor.ts";
import { type ProgressFactory, silentProgress } from "../core/progress.ts";
import {
  architectureOf,
  GENERIC_DENSE_TENSORS,
  type ModelFamily,
  modelFamily,
} from "../model/family.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { getQuantizer } from "../quant/registry.ts";
import type { Backend } from "../gpu/backend.ts";
import {
  fileMetadata,
  parseFileMeta,
  QUANT_FORMAT_NAME,
  QUANT_FORMAT_VERSION,
  type QuantizedTensorDescriptor,
  quantizedTensorNames,
  quantizedToTensors,
} from "../io/quantized_checkpoint.ts";
import {
  ioError,
  SafetensorsFile,
  SafetensorsWriter,
  writeSafetensors,
} from "../io/safetensors.ts";
import type { TensorSpec } from "../io/safetensors_format.ts";
import { INDEX_FILE, openCheckpoint } from "../io/sharded.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { baseName, joinPath, q } from "../io/paths.ts";
import { copyFileAtomic, pathExists, removeStaleTemps, writeFileAtomic } from "../io/atomic.ts";
import { appendJsonl } from "../io/jsonl_log.ts";
import {
  type OutputMode,
  publishOutput,
  refuseExistingOutputs,
  refuseOutputOverInput,
  workFolderOf,
} from "../io/output_guard.ts";
import { toSharedF32 } from "../core/dtype.ts";
import {
  mergeOptions,
  openRunWork,
  quantizeRunKey,
  runIdOf,
  type RunWork,
} from "./quantize_run.ts";
import type { FileHash } from "../io/content_hash.ts";
import { checkInputSizes, checkShapes, hashInputs, readFolderExtras } from "./quantize_inputs.ts";
import { type Shard, shardLabel } from "./shard_plan.ts";
import {
  shardManifestPath,
  shardTensors,
  shardWorkFolder,
  writeShardManifest,
} from "./quantize_shard.ts";

const FLOAT_DTYPES: readonly DType[] = ["F32", "F16", "BF16", "F64"];

/** Options of {@linkcode quantizeCheckpoint}. */
export interface QuantizeCheckpointOptions {
  /** Quantization method (default "higgs"). */
  method?: string;
  /** Method options. */
  options?: QuantOptions;
  /**
   * Per-tensor options merged over `options`, by tensor name (e.g. a bit allocation from
   * `quantlab allocate`: `{ "model.layers.0.mlp.down_proj.weight": { p: 2, gridSize: 4096 } }`).
   * Every name must be a tensor the run quantizes.
   */
  perTensor?: Readonly<Record<string, QuantOptions>>;
  /** Backend for the encoder (default CPU). */
  backend?: Backend;
  /** Quantize lm_head too (default false). */
  includeLmHead?: boolean;
  /** Quantize exactly these tensors (each must be a 2-D float tensor). */
  tensors?: readonly string[];
  /** Progress reporting (default none). */
  progress?: ProgressFactory;
  /**
   * What to do with an existing `out` (default "new": it must be absent or an empty folder;
   * "force": replace it once the new output is complete; "resume": continue the unfinished run
   * in its work folder, whose settings and inputs must be the same).
   */
  mode?: OutputMode;
  /** Called after each tensor is quantized and durable (tests use it to simulate a kill). */
  onTensorDone?: (name: string) => void | Promise<void>;
  /**
   * Quantize only this shard's tensors into its own folder in the work folder and write its
   * manifest; the output files are left to `quantlab merge` (`quantize_shard.ts`,
   * `quantize_merge.ts`). `mode` then applies to `out` and to this shard's own files: "force"
   * starts the shard over, "resume" continues it.
   */
  shard?: Shard;
  /**
   * Encodes each selected tensor instead of `method`'s quantizer: a data-aware job (GPTQ) hands
   * in the tensors it computed; `method` and `options` still name their format.
   */
  encode?: (name: string, w: Float32Array, rows: number, cols: number) => Promise<QuantizedTensor>;
  /** Keys merged into config.json's `quantization_config`, and into the run key as `config`. */
  config?: Readonly<Record<string, unknown>>;
  /**
   * The input files' sizes and hashes as the shards of this run measured them (`quantlab merge`,
   * whose every tensor is already done): each file's size is checked, its content not hashed again.
   */
  trustedInputs?: Readonly<Record<string, FileHash>>;
}

/** What {@linkcode quantizeCheckpoint} did. */
export interface QuantizeSummary {
  /** Output folder or file. */
  out: string;
  /** Output safetensors files. */
  files: string[];
  /** Tensors quantized in this run. */
  quantized: number;
  /** Quantized tensors found done by an earlier run and skipped. */
  resumed: number;
  /** Tensors stored as they are. */
  copied: number;
  /** Weights in quantized tensors (this run and resumed). */
  quantizedWeights: number;
  /** Weights in all tensors. */
  totalWeights: number;
  /** Bits per weight over the quantized tensors (everything to decode counted). */
  bitsPerWeight: number;
  /** Wall time of this run in seconds. */
  seconds: number;
  /**
   * Tensor bytes read from the source to quantize (a shard reads only the tensors it owns; the
   * pass that hashes the input for the run key is not counted).
   */
  sourceBytesRead: number;
  /**
   * Tensors of this run zero-padded to whole Hadamard blocks or groups (a fixed `--hadamard` that
   * does not divide their width), one example, and what the padding costs in bits per quantized
   * weight (codes and scales of the padded columns); absent when nothing was padded.
   */
  padding?: { tensors: number; example: string; bitsPerWeight: number };
}

/**
 * Which tensors a run quantizes: an explicit list, or every 2-D float tensor except (for a
 * checkpoint folder) embeddings and, unless `includeLmHead`, the lm_head.
 *
 * @example
 * ```ts
 * import { selectTensors } from "./quantize_checkpoint.ts";
 * const s = selectTensors([
 *   ["model.embed_tokens.weight", "BF16", [10, 4]], ["model.layers.0.mlp.up_proj.weight", "BF16", [8, 4]],
 *   ["model.norm.weight", "BF16", [4]], ["lm_head.weight", "BF16", [10, 4]],
 * ], { folder: true });
 * if ([...s].join() !== "model.layers.0.mlp.up_proj.weight") throw new Error();
 * ```
 */
export function selectTensors(
  infos: readonly (readonly [string, DType, readonly number[]])[],
  opts: {
    folder: boolean;
    includeLmHead?: boolean;
    tensors?: readonly string[];
    /** What a folder keeps dense (default: the names of every common layout). */
    dense?: ModelFamily["denseByDefault"];
  },
): Set<string> {
  const dense = opts.dense ?? GENERIC_DENSE_TENSORS;
  const byName = new Map(infos.map(([n, d, s]) => [n, { dtype: d, shape: s }]));
  if (opts.tensors && opts.tensors.length > 0) {
    for (const n of opts.tensors) {
      const i = byName.get(n);
      if (!i) {
        throw new QuantlabError(
          "not-found",
          `Tensor ${q(n)} is not in the checkpoint; it holds ${byName.size} tensors ` +
            `(${[...byName.keys()].slice(0, 5).map(q).join(", ")}…)`,
        );
      }
      if (i.shape.length !== 2 || !FLOAT_DTYPES.includes(i.dtype)) {
        throw new QuantlabError(
          "bad-argument",
          `Tensor ${q(n)} is ${i.dtype} [${
            i.shape.join(", ")
          }]; only 2-D float tensors can be quantized`,
        );
      }
    }
    return new Set(opts.tensors);
  }
  const out = new Set<string>();
  for (const [n, dtype, shape] of infos) {
    if (shape.length !== 2 || !FLOAT_DTYPES.includes(dtype) || numel(shape) === 0) continue;
    if (opts.folder && dense.embedding.test(n)) continue;
    if (opts.folder && !opts.includeLmHead && dense.lmHead.test(n)) continue;
    out.add(n);
  }
  return out;
}

/** What a checkpoint folder keeps dense: its model family's names, else every common layout's. */
function denseTensorsOf(config: Record<string, unknown>): ModelFamily["denseByDefault"] {
  const arch = architectureOf(config);
  return arch ? modelFamily(arch).denseByDefault : GENERIC_DENSE_TENSORS;
}

/**
 * Quantizes a checkpoint folder (single or sharded safetensors) or one safetensors file into a
 * portable quantized checkpoint, streaming tensor by tensor and resuming an interrupted run (see
 * the module documentation for the layout and the resume granularity).
 *
 * `out` is a folder, except when `input` is a file and `out` ends with `.safetensors`. Output
 * files keep the source file names; a source index gets a rewritten index.
 *
 * @example
 * ```ts
 * import { quantizeCheckpoint } from "./quantize_checkpoint.ts";
 * import { QuantizedCheckpoint } from "../io/quantized_checkpoint.ts";
 * import { writeSafetensors } from "../io/safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const w = Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i));
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([8, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { bits: 2, p: 2, hadamard: 64 },
 * });
 * const ck = await QuantizedCheckpoint.open(`${dir}/q.safetensors`);
 * const names = ck.quantizedNames;
 * ck.close();
 * await Deno.remove(dir, { recursive: true });
 * if (names.join() !== "w") throw new Error();
 * ```
 */
export async function quantizeCheckpoint(
  inputPath: string,
  out: string,
  opts: QuantizeCheckpointOptions = {},
): Promise<QuantizeSummary> {
  // Long on purpose: one streaming, resumable pass whose state (run key, work folder, log,
  // summary) every step shares; read it top to bottom, each step is headed by a comment.
  const t0 = performance.now();
  const mode = opts.mode ?? "new";
  // A Hugging Face cache repository folder reads as the snapshot its refs/main names.
  const input = await resolveModelPath(inputPath);
  const method = opts.method ?? "higgs";
  const quantizer = getQuantizer(method);
  const options = opts.options ?? {};
  let inputIsDir: boolean;
  try {
    inputIsDir = (await Deno.stat(input)).isDirectory;
  } catch (e) {
    throw ioError(e, input, "open checkpoint");
  }
  const ck = await openCheckpoint(input);
  const srcFiles = [...ck.files];
  const indexed = ck.indexMetadata !== null;
  ck.close();
  if (inputIsDir && out.endsWith(".safetensors")) {
    throw new QuantlabError(
      "bad-argument",
      `Input ${q(inputPath)} is a folder, so the output is a folder too; --out ${q(out)} names ` +
        "a .safetensors file: give --out a folder name",
    );
  }
  const singleOut = !inputIsDir && out.endsWith(".safetensors");
  const outFiles = srcFiles.map((f) => (singleOut ? out : joinPath(out, baseName(f))));
  if (new Set(outFiles).size !== outFiles.length) {
    throw new QuantlabError(
      "bad-argument",
      `Source files of ${q(input)} share a file name; cannot map them to ${q(out)}`,
    );
  }
  // The output: never the input or a folder holding it; absent or empty unless force / resume.
  // A shard checks its own files in the work folder, which the other shards share.
  await refuseOutputOverInput(out, [input, ...srcFiles]);
  const workDir = workFolderOf(out);
  const shard = opts.shard;
  const shardDir = shard ? shardWorkFolder(workDir, shard) : undefined;
  const manifest = shard ? shardManifestPath(workDir, shard) : undefined;
  await refuseExistingOutputs(
    [
      { path: out, what: "--out" },
      ...(shard
        ? [
          { path: shardDir!, what: `the work folder of shard ${shardLabel(shard)}` },
          { path: manifest!, what: `the manifest of shard ${shardLabel(shard)}` },
        ]
        : [{ path: workDir, what: "the work folder of an unfinished run" }]),
    ],
    mode,
    { resumable: true },
  );

  // Headers of every source file: what to quantize.
  const headers: {
    path: string;
    names: string[];
    infos: Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>;
  }[] = [];
  for (const path of srcFiles) {
    const f = await SafetensorsFile.open(path);
    const infos = new Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>();
    for (const n of f.names()) {
      const i = f.info(n);
      infos.set(n, { dtype: i.dtype, shape: i.shape, bytes: i.byteLength });
    }
    headers.push({ path, names: f.names(), infos });
    f.close();
  }
  // A folder's config and the JSON files it will copy are checked before any work.
  const extras = inputIsDir ? await readFolderExtras(input) : null;
  const all: [string, DType, readonly number[]][] = [];
  for (const h of headers) for (const [n, i] of h.infos) all.push([n, i.dtype, i.shape]);
  const selected = selectTensors(all, {
    folder: inputIsDir,
    includeLmHead: opts.includeLmHead,
    tensors: opts.tensors,
    dense: extras ? denseTensorsOf(extras.config) : undefined,
  });
  const allNames = new Set(all.map(([n]) => n));
  for (const n of selected) {
    for (const suffix of [".codes", ".table", ".scales", ".zeros"]) {
      if (allNames.has(n + suffix)) {
        throw new QuantlabError(
          "bad-argument",
          `Cannot quantize ${q(n)}: the checkpoint already holds ${q(n + suffix)}`,
        );
      }
    }
  }
  const perTensor = opts.perTensor ?? {};
  for (const n of Object.keys(perTensor)) {
    if (!selected.has(n)) {
      throw new QuantlabError(
        "bad-argument",
        `Per-tensor options name ${q(n)}, which this run does not quantize (a 2-D float ` +
          "weight of the checkpoint is needed)",
      );
    }
  }
  if (selected.size === 0) {
    throw new QuantlabError(
      "bad-file",
      `${q(inputPath)} holds no tensor to quantize (a 2-D float weight` +
        (inputIsDir ? ", not an embedding or lm_head" : "") + "); nothing was written",
    );
  }
  // Every chosen tensor's shape against the method, then every input byte: hashed for the run
  // key, the chosen tensors checked for NaN/Inf on the way. The key's settings also validate the
  // options. Nothing has been written so far.
  const chosenInfos = new Map<string, { dtype: DType; shape: readonly number[] }>();
  for (const h of headers) for (const [n, i] of h.infos) if (selected.has(n)) chosenInfos.set(n, i);
  checkShapes(quantizer, options, perTensor, chosenInfos);
  const namesOf = new Map(headers.map((h) => [h.path, h.names]));
  const inputs = opts.trustedInputs
    ? await checkInputSizes(srcFiles, opts.trustedInputs)
    : await hashInputs(srcFiles, selected, (f) => namesOf.get(f)!, opts.progress);
  const key = {
    ...quantizeRunKey(quantizer, options, perTensor, selected, inputs),
    ...(opts.config ? { config: opts.config } : {}),
  };
  const run = await runIdOf(key);
  // A shard quantizes the tensors it owns; a whole run every selected one.
  const owned = shard ? shardTensors(selected, headers, shard) : selected;

  const totalTensors = owned.size;
  const padding = { tensors: 0, bits: 0, example: undefined as string | undefined };
  const summary: QuantizeSummary = {
    out,
    files: outFiles,
    quantized: 0,
    resumed: 0,
    copied: 0,
    quantizedWeights: 0,
    totalWeights: 0,
    bitsPerWeight: 0,
    seconds: 0,
    sourceBytesRead: 0,
  };
  let totalBits = 0;
  let resolvedParams: QuantizedTensorDescriptor["params"] | null = null;
  const countBits = (d: QuantizedTensorDescriptor, sizes: number): void => {
    resolvedParams ??= d.params;
    totalBits += sizes * 8;
    summary.quantizedWeights += d.shape[0] * d.shape[1];
  };
  const finish = (): QuantizeSummary => {
    summary.bitsPerWeight = summary.quantizedWeights > 0 ? totalBits / summary.quantizedWeights : 0;
    if (padding.tensors > 0) {
      summary.padding = {
        tensors: padding.tensors,
        example: padding.example ?? "",
        bitsPerWeight: padding.bits / Math.max(1, summary.quantizedWeights),
      };
    }
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  };

  // --resume of a run that already finished: its output files carry this run's id.
  if (mode === "resume" && !(await pathExists(workDir)) && await pathExists(out)) {
    for (let fi = 0; fi < headers.length; fi++) {
      const done = await finishedFile(outFiles[fi]!, run);
      if (!done) {
        throw new QuantlabError(
          "bad-argument",
          `--out ${q(out)} holds no unfinished run to resume, and what it holds was not made by ` +
            "this run (other settings or inputs); add --force instead of --resume to replace it",
        );
      }
      const h = headers[fi]!;
      for (const [, i] of h.infos) summary.totalWeights += numel(i.shape);
      for (const { descriptor, bytes } of done) countBits(descriptor, bytes);
      const mine = h.names.filter((n) => owned.has(n)).length;
      summary.resumed += mine;
      summary.copied += h.names.length - h.names.filter((n) => selected.has(n)).length;
    }
    return finish();
  }

  // The work folder beside the output: progress log (its header is the run key), part files,
  // and the output being assembled.
  if (mode === "force" && manifest) {
    await Deno.remove(manifest).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw ioError(e, manifest, "remove");
    });
  }
  const work = await openRunWork(out, singleOut, key, mode, shardDir);
  const stagedFiles = srcFiles.map((f) =>
    singleOut ? work.staged : joinPath(work.staged, baseName(f))
  );
  const bar = (opts.progress ?? silentProgress)(`quantize ${method}`, totalTensors);
  try {
    for (let fi = 0; fi < headers.length; fi++) {
      const h = headers[fi]!;
      const outFile = stagedFiles[fi]!;
      for (const [, i] of h.infos) summary.totalWeights += numel(i.shape);
      const mine = h.names.filter((n) => owned.has(n));
      // A finished output file (same run) is skipped whole (a shard assembles none).
      if (!shard) await removeStaleTemps(outFile);
      const done = shard ? null : await finishedFile(outFile, run);
      if (done) {
        for (const { descriptor, bytes } of done) countBits(descriptor, bytes);
        summary.resumed += mine.length;
        summary.copied += h.names.length - mine.length;
        bar.tick(mine.length, `${baseName(outFile)} done earlier`);
        continue;
      }
      // 1. Quantize each selected tensor of this file into its own part file.
      const src = await SafetensorsFile.open(h.path);
      try {
        const partOf = new Map<string, string>();
        for (let ti = 0; ti < h.names.length; ti++) {
          const name = h.names[ti]!;
          if (!owned.has(name)) continue;
          const part = joinPath(work.partsDir, `${fi}-${ti}.safetensors`);
          partOf.set(name, part);
          if (work.doneParts.get(name) === baseName(part) && await pathExists(part)) {
            summary.resumed++;
            bar.tick(1, `${name} (done earlier)`);
            continue;
          }
          const t = await src.read(name);
          const [rows, cols] = [t.shape[0]!, t.shape[1]!];
          const w = toSharedF32(t);
          const qt = opts.encode
            ? await opts.encode(name, w, rows, cols)
            : await quantizer.quantize(
              w,
              rows,
              cols,
              mergeOptions(options, perTensor[name]),
              opts.backend,
              name,
            );
          if (qt.paddedCols > cols) {
            const pad = qt.paddedCols - cols;
            const scaleBits = qt.scaleStorage?.kind === "float" && qt.scaleStorage.dtype === "F32"
              ? 32
              : 16;
            const bits = rows * pad * (qt.codeBits / qt.p) +
              (qt.groupAxis === 1 ? (rows * pad / qt.groupSize) * scaleBits : 0);
            padding.tensors++;
            padding.bits += bits;
            padding.example ??= `${name}: width ${cols} → ${qt.paddedCols}`;
          }
          const { tensors, descriptor } = quantizedToTensors(name, qt, t.dtype);
          await writeSafetensors(
            part,
            new Map(tensors),
            fileMetadata(run, new Map([[name, descriptor]])),
          );
          await appendJsonl(work.logFile, { tensor: name, part: baseName(part) }, { sync: true });
          summary.quantized++;
          bar.tick(1, name);
          await opts.onTensorDone?.(name);
        }
        if (shard) continue; // the merge assembles the output files
        // 2. Assemble the output file: parts and plain tensors, in source order, streamed.
        const specs: TensorSpec[] = [];
        const descriptors = new Map<string, QuantizedTensorDescriptor>();
        const plan:
          ({ kind: "part"; part: string; names: string[] } | { kind: "plain"; name: string })[] =
            [];
        for (const name of h.names) {
          const part = partOf.get(name);
          if (part === undefined) {
            const i = h.infos.get(name)!;
            specs.push({ name, dtype: i.dtype, shape: i.shape });
            plan.push({ kind: "plain", name });
            summary.copied++;
            continue;
          }
          const pf = await SafetensorsFile.open(part);
          try {
            const meta = parseFileMeta(part, pf.metadata);
            const d = meta?.tensors.get(name);
            if (!meta || meta.run !== run || !d) {
              throw new QuantlabError(
                "bad-file",
                `Part file ${q(part)} does not hold ${q(name)} of this run`,
              );
            }
            descriptors.set(name, d);
            const names = quantizedTensorNames(name, d);
            let bytes = 0;
            for (const n of names) {
              const i = pf.info(n);
              specs.push({ name: n, dtype: i.dtype, shape: i.shape });
              bytes += i.byteLength;
            }
            countBits(d, bytes);
            plan.push({ kind: "part", part, names });
          } finally {
            pf.close();
          }
        }
        const writer = await SafetensorsWriter.create(
          outFile,
          specs,
          fileMetadata(run, descriptors),
        );
        try {
          for (const step of plan) {
            if (step.kind === "plain") {
              await writer.write(step.name, await src.read(step.name));
              continue;
            }
            const pf = await SafetensorsFile.open(step.part);
            try {
              for (const n of step.names) await writer.write(n, await pf.read(n));
            } finally {
              pf.close();
            }
          }
          await writer.close();
        } catch (e) {
          await writer.abort();
          throw e;
        }
        await appendJsonl(work.logFile, { file: baseName(outFile) }, { sync: true });
        for (const part of partOf.values()) await Deno.remove(part).catch(() => {});
      } finally {
        summary.sourceBytesRead += src.bytesRead;
        src.close();
      }
    }
    bar.done();
    if (shard) {
      // Done: the manifest (beside the shard's folder) says so; the merge does the rest.
      summary.seconds = (performance.now() - t0) / 1000;
      await writeShardManifest(workDir, work.logFile, {
        shard,
        run,
        key,
        input: await Deno.realPath(input),
        settings: {
          method,
          options,
          ...(opts.perTensor ? { perTensor: opts.perTensor } : {}),
          includeLmHead: opts.includeLmHead ?? false,
          tensors: opts.tensors ?? [],
        },
        selected: selected.size,
        sourceBytesRead: summary.sourceBytesRead,
        quantized: summary.quantized,
        resumed: summary.resumed,
        seconds: summary.seconds,
      });
      return finish();
    }

    // Index, config and the other files of the folder, beside the assembled output files.
    if (!singleOut) {
      const dir = work.staged;
      if (indexed) {
        const weightMap: Record<string, string> = {};
        let totalSize = 0;
        for (const f of stagedFiles) {
          const sf = await SafetensorsFile.open(f);
          for (const n of sf.names()) {
            weightMap[n] = baseName(f);
            totalSize += sf.info(n).byteLength;
          }
          sf.close();
        }
        const sorted = Object.fromEntries(
          Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        );
        await writeFileAtomic(
          joinPath(dir, INDEX_FILE),
          JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) +
            "\n",
        );
      }
      if (extras) {
        const config = { ...extras.config };
        config.quantization_config = {
          ...quantizationConfig(method, options, selected, all, run),
          ...opts.config,
        };
        // The parameters as the quantizer resolved them (defaults filled), from the first tensor.
        if (resolvedParams) {
          // With auto Hadamard blocks the block (and the default group) vary per tensor; each
          // tensor's descriptor holds its own.
          const auto = method === "higgs" && options.hadamard === undefined;
          (config.quantization_config as Record<string, unknown>).parameters = auto
            ? {
              ...(resolvedParams as Record<string, unknown>),
              hadamard: "auto",
              ...(options.groupSize === undefined ? { groupSize: "per tensor" } : {}),
            }
            : resolvedParams;
        }
        await writeFileAtomic(
          joinPath(dir, "config.json"),
          JSON.stringify(config, null, 2) + "\n",
        );
        // Symlinked files (a Hugging Face cache snapshot) are copied as content, never as links.
        for (const name of extras.copy) {
          await copyFileAtomic(joinPath(input, name), joinPath(dir, name));
        }
      }
    }
    // 3. Into place: the finished output replaces what --out held (if anything) in one rename.
    await publishOutput(work.staged, out);
  } catch (e) {
    await abandonWork(work, e, summary.quantized);
    throw e;
  }
  await Deno.remove(work.dir, { recursive: true }).catch(() => {});
  return finish();
}

/** The quantized tensors of a finished output file of run `run`, or null (missing, another run). */
async function finishedFile(
  path: string,
  run: string,
): Promise<{ descriptor: QuantizedTensorDescriptor; bytes: number }[] | null> {
  if (!(await pathExists(path))) return null;
  try {
    const f = await SafetensorsFile.open(path);
    try {
      const meta = parseFileMeta(path, f.metadata);
      if (meta?.run !== run) return null;
      const out: { descriptor: QuantizedTensorDescriptor; bytes: number }[] = [];
      for (const [name, d] of meta.tensors) {
        let bytes = 0;
        for (const n of quantizedTensorNames(name, d)) bytes += f.info(n).byteLength;
        out.push({ descriptor: d, bytes });
      }
      return out;
    } finally {
      f.close();
    }
  } catch {
    return null;
  }
}

/** Failures that recur with the same settings and input: resuming them cannot help. */
export const RECURRING_FAILURES: ReadonlySet<string> = new Set([
  "bad-argument",
  "bad-shape",
  "bad-value",
  "unsupported",
]);

/**
 * After a failed run: the work folder is kept for `--resume` when it holds finished tensors and
 * the failure may not recur (an I/O error, a lost GPU, a kill); otherwise it is removed, so a
 * run that fails on its settings or input leaves nothing behind.
 */
async function abandonWork(work: RunWork, e: unknown, quantizedNow: number): Promise<void> {
  const recurs = e instanceof QuantlabError && RECURRING_FAILURES.has(e.code);
  if (recurs || work.doneParts.size + quantizedNow === 0) {
    await Deno.remove(work.dir, { recursive: true }).catch(() => {});
  }
}

function quantizationConfig(
  method: string,
  options: QuantOptions,
  selected: Set<string>,
  all: readonly (readonly [string, DType, readonly number[]])[],
  run: string,
): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    quant_method: "quantlab",
    format: QUANT_FORMAT_NAME,
    format_version: QUANT_FORMAT_VERSION,
    method,
  };
  const keys: [keyof QuantOptions, string][] = [
    ["bits", "bits"],
    ["p", "p"],
    ["gridSize", "n"],
    ["hadamard", "hadamard_size"],
    ["groupSize", "group_size"],
    ["axis", "group_axis"],
    ["seed", "seed"],
    ["scaleDtype", "scale_dtype"],
  ];
  for (const [k, name] of keys) if (options[k] !== undefined) cfg[name] = options[k];
  if (method === "higgs" && options.hadamard === undefined) {
    // Auto: each tensor's block is in its descriptor (rotation.size).
    cfg.hadamard_size = "auto";
    if (options.hadamardMax !== undefined) cfg.hadamard_max = options.hadamardMax;
  }
  if (options.extra && Object.keys(options.extra).length > 0) cfg.extra = options.extra;
  cfg.modules_not_to_convert = all.filter(([n, , s]) => s.length >= 2 && !selected.has(n)).map((
    [n],
  ) => n);
  cfg.run = run;
  return cfg;
}
