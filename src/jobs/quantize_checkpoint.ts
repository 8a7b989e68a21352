/**
 * The quantize-a-checkpoint job: a checkpoint folder (single or sharded safetensors) or one
 * safetensors file in, a portable quantized checkpoint (format: `src/io/quantized_checkpoint.ts`)
 * out, streaming tensor by tensor and resuming an interrupted run.
 *
 * ## Streaming and resuming
 * {@linkcode quantizeCheckpoint} holds one tensor at a time. Every quantized tensor is first
 * written atomically to its own part file in a work folder (`OUT/.quantlab-work/`, or
 * `OUT.quantlab-work/` for a single output file) and recorded in `progress.jsonl`; when a source
 * file's tensors are all done, its output file is assembled by streaming the parts and the
 * unquantized tensors into one safetensors file (atomic rename), and its parts are removed. A
 * killed run therefore resumes at tensor granularity for quantization (finished tensors are
 * skipped) and at file granularity for assembly (a finished output file, recognised by the run
 * fingerprint in its metadata, is skipped). Resuming with other options is refused.
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
import { getQuantizer } from "../quant/registry.ts";
import type { Backend } from "../gpu/backend.ts";
import {
  type FileMeta,
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
import { listFolderFiles, resolveModelPath } from "../io/hf_cache.ts";
import { baseName, isObj, joinPath, q } from "../io/paths.ts";
import { copyFileAtomic, pathExists, removeStaleTemps, writeFileAtomic } from "../io/atomic.ts";
import { appendJsonl, readJsonl, terminateLastLine } from "../io/jsonl_log.ts";
import { toSharedF32 } from "../core/dtype.ts";
import type { Shard } from "./shard_plan.ts";
import { shardTensors, shardWorkFolder, writeShardManifest } from "./quantize_shard.ts";

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
  /** Called after each tensor is quantized and durable (tests use it to simulate a kill). */
  onTensorDone?: (name: string) => void | Promise<void>;
  /**
   * Quantize only this shard's tensors into its own work folder and write its manifest; the
   * output files are left to `quantlab merge` (`quantize_shard.ts`, `quantize_merge.ts`).
   */
  shard?: Shard;
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
  /** Tensor bytes read from the source checkpoint (a shard reads only the tensors it owns). */
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

async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * What a checkpoint folder keeps dense: its model family's embedding and LM-head names when its
 * `config.json` names a supported architecture, else those of every common layout.
 */
async function denseTensorsOf(dir: string): Promise<ModelFamily["denseByDefault"]> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(joinPath(dir, "config.json")));
  } catch {
    json = undefined; // no or bad config.json: the run reports a bad one when it copies it
  }
  const arch = isObj(json) ? architectureOf(json) : undefined;
  return arch ? modelFamily(arch).denseByDefault : GENERIC_DENSE_TENSORS;
}

/**
 * The work folder of a run writing `out` (`singleOut`: `out` is one .safetensors file).
 *
 * @example
 * ```ts
 * import { quantizeWorkFolder } from "./quantize_checkpoint.ts";
 * if (quantizeWorkFolder("q", false) !== "q/.quantlab-work") throw new Error();
 * ```
 */
export function quantizeWorkFolder(out: string, singleOut: boolean): string {
  return singleOut ? `${out}.quantlab-work` : joinPath(out, ".quantlab-work");
}

/** One line of the progress log. */
type LogLine = { tensor: string; part: string } | { file: string };

/** The records of the progress log (after ending a line a killed run cut short). */
async function readLog(path: string): Promise<LogLine[]> {
  await terminateLastLine(path);
  return (await readJsonl(path)) as LogLine[];
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
  // Long on purpose: one streaming, resumable pass whose state (run fingerprint, work folder, log,
  // summary) every step shares; read it top to bottom, each step is headed by a comment.
  const t0 = performance.now();
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
  const outDir = singleOut ? null : out;
  const outFiles = srcFiles.map((f) => (singleOut ? out : joinPath(outDir!, baseName(f))));
  if (new Set(outFiles).size !== outFiles.length) {
    throw new QuantlabError(
      "bad-argument",
      `Source files of ${q(input)} share a file name; cannot map them to ${q(out)}`,
    );
  }
  for (let i = 0; i < srcFiles.length; i++) {
    const [a, b] = [await Deno.realPath(srcFiles[i]!), outFiles[i]!];
    if (await pathExists(b) && (await Deno.realPath(b)) === a) {
      throw new QuantlabError(
        "bad-argument",
        `Output ${q(b)} would overwrite its own source; choose another --out`,
      );
    }
  }

  // Headers of every source file: what to quantize, and the run's fingerprint.
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
  const all: [string, DType, readonly number[]][] = [];
  for (const h of headers) for (const [n, i] of h.infos) all.push([n, i.dtype, i.shape]);
  const selected = selectTensors(all, {
    folder: inputIsDir,
    includeLmHead: opts.includeLmHead,
    tensors: opts.tensors,
    dense: inputIsDir ? await denseTensorsOf(input) : undefined,
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
  const fingerprintSource = JSON.stringify({
    version: QUANT_FORMAT_VERSION,
    method,
    options: { ...options, extra: options.extra ?? {} },
    ...(Object.keys(perTensor).length ? { perTensor } : {}),
    selected: [...selected].sort(),
    files: await Promise.all(
      srcFiles.map(async (f) => [baseName(f), (await Deno.stat(f)).size]),
    ),
  });
  const run = (await sha256Hex(fingerprintSource)).slice(0, 32);

  // Every check on the input has passed: now the output folder and the work folder.
  if (outDir) {
    await Deno.mkdir(outDir, { recursive: true }).catch((e) => {
      throw ioError(e, outDir, "create folder");
    });
  }
  // The work folder: run identity, progress log, part files.
  const runWork = quantizeWorkFolder(out, singleOut);
  const owned = opts.shard ? shardTensors(selected, headers, opts.shard) : null;
  const work = opts.shard ? shardWorkFolder(runWork, opts.shard) : runWork;
  const runFile = joinPath(work, "run.json");
  const logFile = joinPath(work, "progress.jsonl");
  await Deno.mkdir(joinPath(work, "parts"), { recursive: true }).catch((e) => {
    throw ioError(e, work, "create folder");
  });
  const runText = JSON.stringify({ run, input, method, options }, null, 2) + "\n";
  if (await pathExists(runFile)) {
    const prev = JSON.parse(await Deno.readTextFile(runFile).catch(() => "{}"));
    if (prev.run !== run) {
      // A run that quantized nothing (e.g. stopped by a bad option) may be replaced; its output
      // files carry its own fingerprint, so they are rebuilt.
      if ((await readLog(logFile)).some((l) => "tensor" in l)) {
        throw new QuantlabError(
          "bad-argument",
          `${q(out)} holds an unfinished run with other options or inputs; delete ${q(work)} ` +
            `(and the output) or choose another --out`,
        );
      }
      await writeFileAtomic(logFile, "");
      await writeFileAtomic(runFile, runText);
    }
  } else {
    await writeFileAtomic(runFile, runText);
  }
  const log = await readLog(logFile);
  const doneParts = new Map<string, string>();
  for (const l of log) if ("tensor" in l) doneParts.set(l.tensor, l.part);

  const totalTensors = (owned ?? selected).size;
  const bar = (opts.progress ?? silentProgress)(`quantize ${method}`, totalTensors);
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

  for (let fi = 0; fi < headers.length; fi++) {
    const h = headers[fi]!;
    const outFile = outFiles[fi]!;
    for (const [, i] of h.infos) summary.totalWeights += numel(i.shape);
    const mine = h.names.filter((n) => selected.has(n));
    await removeStaleTemps(outFile);
    // A finished output file (same run) is skipped whole.
    if (await pathExists(outFile)) {
      let meta: FileMeta | null = null;
      try {
        const f = await SafetensorsFile.open(outFile);
        meta = parseFileMeta(outFile, f.metadata);
        if (meta?.run === run) {
          for (const [name, d] of meta.tensors) {
            let bytes = 0;
            for (const n of quantizedTensorNames(name, d)) bytes += f.info(n).byteLength;
            countBits(d, bytes);
          }
        }
        f.close();
      } catch {
        meta = null;
      }
      if (meta?.run === run) {
        summary.resumed += mine.length;
        summary.copied += h.names.length - mine.length;
        bar.tick(mine.length, `${baseName(outFile)} done earlier`);
        continue;
      }
    }
    // 1. Quantize each selected tensor of this file into its own part file.
    const src = await SafetensorsFile.open(h.path);
    try {
      const partOf = new Map<string, string>();
      for (let ti = 0; ti < h.names.length; ti++) {
        const name = h.names[ti]!;
        if (!selected.has(name) || (owned && !owned.has(name))) continue;
        const part = joinPath(work, `parts/${fi}-${ti}.safetensors`);
        partOf.set(name, part);
        if (doneParts.get(name) === baseName(part) && await pathExists(part)) {
          summary.resumed++;
          bar.tick(1, `${name} (done earlier)`);
          continue;
        }
        const t = await src.read(name);
        const [rows, cols] = [t.shape[0]!, t.shape[1]!];
        const w = toSharedF32(t);
        const own = opts.perTensor?.[name];
        const qt = await quantizer.quantize(
          w,
          rows,
          cols,
          // Per-tensor options win; their method-specific `extra` adds to the run's.
          own ? { ...options, ...own, extra: { ...options.extra, ...own.extra } } : options,
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
        await appendJsonl(logFile, { tensor: name, part: baseName(part) }, { sync: true });
        summary.quantized++;
        bar.tick(1, name);
        await opts.onTensorDone?.(name);
      }
      if (owned) continue; // a shard leaves the output files to the merge
      // 2. Assemble the output file: parts and plain tensors, in source order, streamed.
      const specs: TensorSpec[] = [];
      const descriptors = new Map<string, QuantizedTensorDescriptor>();
      const plan:
        ({ kind: "part"; part: string; names: string[] } | { kind: "plain"; name: string })[] = [];
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
      const writer = await SafetensorsWriter.create(outFile, specs, fileMetadata(run, descriptors));
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
      await appendJsonl(logFile, { file: baseName(outFile) }, { sync: true });
      for (const part of partOf.values()) await Deno.remove(part).catch(() => {});
    } finally {
      summary.sourceBytesRead += src.bytesRead;
      src.close();
    }
  }
  bar.done();
  if (opts.shard) {
    summary.seconds = (performance.now() - t0) / 1000;
    await writeShardManifest(runWork, logFile, {
      shard: opts.shard,
      run,
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
    return summary;
  }

  // Index, config and the other files of the folder.
  if (outDir) {
    if (indexed) {
      const weightMap: Record<string, string> = {};
      let totalSize = 0;
      for (const f of outFiles) {
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
        joinPath(outDir, INDEX_FILE),
        JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + "\n",
      );
    } else {
      // An index left by an earlier sharded run would win over the new single file on loading.
      await Deno.remove(joinPath(outDir, INDEX_FILE)).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw ioError(e, outDir, "remove a stale index in");
        }
      });
    }
    if (inputIsDir) {
      let config: Record<string, unknown> = {};
      const cfgPath = joinPath(input, "config.json");
      if (await pathExists(cfgPath)) {
        try {
          const parsed = JSON.parse(await Deno.readTextFile(cfgPath));
          if (isObj(parsed)) config = parsed;
        } catch (e) {
          throw new QuantlabError(
            "bad-file",
            `${q(cfgPath)} is not valid JSON: ${(e as Error).message}`,
          );
        }
      }
      config.quantization_config = quantizationConfig(method, options, selected, all, run);
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
        joinPath(outDir, "config.json"),
        JSON.stringify(config, null, 2) + "\n",
      );
      // Symlinked files (a Hugging Face cache snapshot) are copied as content, never as links.
      for (const name of await listFolderFiles(input)) {
        if (name.startsWith(".")) continue;
        if (name.endsWith(".safetensors") || name === "config.json") continue;
        if (name.endsWith(".safetensors.index.json")) continue;
        await copyFileAtomic(joinPath(input, name), joinPath(outDir, name));
      }
    }
  }
  await Deno.remove(work, { recursive: true }).catch(() => {});
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
