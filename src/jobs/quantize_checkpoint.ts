/**
 * The quantize-a-checkpoint job: a checkpoint folder (single or sharded safetensors) or one
 * safetensors file in, a portable quantized checkpoint (format: `src/io/quantized_checkpoint.ts`)
 * out, streaming tensor by tensor and resuming an interrupted run.
 *
 * ## Checks first, then the work folder, then one rename
 * Everything that can fail on the input runs before anything is written: the output must be
 * absent or empty (unless `mode` is "force" or "resume") and never the input; the folder's
 * `config.json` and other JSON files must parse; the chosen tensors (`quantize_select.ts`) must
 * be 2-D floats whose shapes the method accepts; every input file is read once, whole, for its
 * content hash, and the chosen tensors are checked for NaN/±Inf in that pass
 * (`quantize_inputs.ts`). The run key — settings with defaults, tensors, input hashes
 * (`quantize_run.ts`) — heads the progress log of the work folder `OUT.quantlab-work/`, beside
 * the output.
 *
 * ## A planned layout, written in place
 * Every output file's header length and data offsets are planned before anything is quantized
 * (`quantize_layout.ts`: sizes follow from shapes and settings). Each output file is a
 * preallocated file in the work folder (`run-ID/`, or `run-ID.safetensors` for a single output
 * file); {@linkcode quantizeCheckpoint} holds one tensor at a time, quantizes it (or keeps it as
 * it is), writes it at its offset, syncs, and records it with its descriptor in the progress
 * log (`quantize_tensor.ts`). When a file's tensors are all done its header is written into the
 * reserved room; at the end the index, `config.json` and copied files join it
 * (`quantize_finish.ts`) and the finished output is renamed to `OUT` (an old output is renamed
 * aside first and removed after: `io/output_guard.ts`). A failed or killed run never leaves
 * anything at `OUT`; with `mode: "resume"` it continues at tensor granularity (a finished output
 * file, recognised by the run id in its header, is skipped whole). Resuming with other settings
 * or changed inputs is refused, naming what differs. A failure that would recur on resume (bad
 * options, shapes or values) removes the work folder.
 *
 * ## Shards
 * With `shard` (`quantize --shard I/N`) the same checks run, the same run key and the same plan
 * are made — every input byte hashed, so all shards and the merge share one run id — but only
 * the tensors the shard owns (`quantize_shard.ts`: every tensor, quantized or kept, balanced by
 * size) are read and written, into the run's shared output files at their planned offsets; the
 * shard's log lives in its own folder (`OUT.quantlab-work/shard-I-of-N/`, resumable like a whole
 * run's) and no header is written. When every owned tensor is done the shard writes its manifest
 * beside that folder; `quantlab merge OUT` (`quantize_merge.ts`) joins the shards' logs and
 * finishes the run with this job, which finds every tensor in place, writes the headers, index
 * and config and renames the output: no tensor byte is copied.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { numel } from "../core/tensor.ts";
import { silentProgress } from "../core/progress.ts";
import type { QuantizedTensorDescriptor } from "../io/quantized_checkpoint.ts";
import { ioError, SafetensorsFile } from "../io/safetensors.ts";
import { baseName, joinPath, q } from "../io/paths.ts";
import { pathExists } from "../io/atomic.ts";
import { appendJsonl } from "../io/jsonl_log.ts";
import { publishOutput } from "../io/output_guard.ts";
import { openPlannedFile, plannedFileBirth, writeAtAndSync } from "../io/planned_file.ts";
import { openRunWork, type RunWork } from "./quantize_run.ts";
import { writeShardManifest } from "./quantize_shard.ts";
import { plannedHeader } from "./quantize_layout.ts";
import { type PaddingTally, writeEntry } from "./quantize_tensor.ts";
import { finishedFile, writeFolderFiles } from "./quantize_finish.ts";
import { planRun, type RunPlan } from "./quantize_plan.ts";
import type { QuantizeCheckpointOptions, QuantizeSummary } from "./quantize_options.ts";

export { selectTensors } from "./quantize_select.ts";

export type { QuantizeCheckpointOptions, QuantizeSummary } from "./quantize_options.ts";

/** Counts of a run as it goes: the summary, the bits of the quantized tensors, the padding. */
class Tally {
  readonly summary: QuantizeSummary;
  readonly padding: PaddingTally = { tensors: 0, bits: 0 };
  resolvedParams: QuantizedTensorDescriptor["params"] | null = null;
  #bits = 0;
  readonly #t0: number;

  constructor(out: string, files: string[], t0: number) {
    this.#t0 = t0;
    this.summary = {
      out,
      files,
      quantized: 0,
      resumed: 0,
      copied: 0,
      quantizedWeights: 0,
      totalWeights: 0,
      bitsPerWeight: 0,
      seconds: 0,
      sourceBytesRead: 0,
    };
  }

  /** A quantized tensor of the output with `bytes` stored bytes. */
  countBits(d: QuantizedTensorDescriptor, bytes: number): void {
    this.resolvedParams ??= d.params;
    this.#bits += bytes * 8;
    this.summary.quantizedWeights += d.shape[0] * d.shape[1];
  }

  finish(): QuantizeSummary {
    const s = this.summary;
    s.bitsPerWeight = s.quantizedWeights > 0 ? this.#bits / s.quantizedWeights : 0;
    if (this.padding.tensors > 0) {
      s.padding = {
        tensors: this.padding.tensors,
        example: this.padding.example ?? "",
        bitsPerWeight: this.padding.bits / Math.max(1, s.quantizedWeights),
      };
    }
    s.seconds = (performance.now() - this.#t0) / 1000;
    return s;
  }
}

/** `--resume` of a run that already finished: its output files carry this run's id. */
async function countFinishedRun(p: RunPlan, tally: Tally): Promise<QuantizeSummary> {
  for (let fi = 0; fi < p.plans.length; fi++) {
    const done = await finishedFile(p.outFiles[fi]!, p.run);
    if (!done) {
      throw new QuantlabError(
        "bad-argument",
        `--out ${q(p.out)} holds no unfinished run to resume, and what it holds was not made by ` +
          "this run (other settings or inputs); add --force instead of --resume to replace it",
      );
    }
    const h = p.plans[fi]!.source;
    for (const [, i] of h.infos) tally.summary.totalWeights += numel(i.shape);
    for (const { descriptor, bytes } of done) tally.countBits(descriptor, bytes);
    tally.summary.resumed += h.names.filter((n) => p.owned.has(n) && p.selected.has(n)).length;
    tally.summary.copied += h.names.filter((n) => !p.selected.has(n)).length;
  }
  return tally.finish();
}

/**
 * Writes the tensors this process owns of output file `fi` in place, then (a whole run, or the
 * merge) its header. The merge writes no tensor: one not in place (recorded under another birth
 * id than the file's) is a `bad-file` error naming the shards to rerun.
 */
async function writeFile(
  p: RunPlan,
  fi: number,
  work: RunWork,
  tally: Tally,
  tick: (n: number, what: string) => void,
  opts: QuantizeCheckpointOptions,
): Promise<void> {
  const plan = p.plans[fi]!;
  const path = p.stagedFiles[fi]!;
  const s = tally.summary;
  for (const [, i] of plan.source.infos) s.totalWeights += numel(i.shape);
  const mine = plan.entries.filter((e) => p.owned.has(e.name));
  // A finished output file (same run) is skipped whole (a shard writes no header).
  const finished = p.shard ? null : await finishedFile(path, p.run);
  if (finished) {
    for (const { descriptor, bytes } of finished) tally.countBits(descriptor, bytes);
    const quantized = mine.filter((e) => e.layout).length;
    s.resumed += quantized;
    s.copied += mine.length - quantized;
    tick(quantized, `${baseName(path)} done earlier`);
    return;
  }
  const descriptors = new Map<string, QuantizedTensorDescriptor>();
  if (opts.shardOf) {
    // The merge writes no tensor: each must be in place, under the file's current birth id.
    const birth = await plannedFileBirth(path, plan.size, work.births);
    const lost = new Set<string>();
    for (const e of mine) {
      const r = work.done.get(e.name);
      if (!r || r.birth !== birth) lost.add(opts.shardOf.get(e.name) ?? "?");
      else if (r.descriptor) descriptors.set(e.name, r.descriptor);
    }
    if (lost.size > 0) {
      const labels = [...lost].sort();
      throw new QuantlabError(
        "bad-file",
        `Shard${labels.length > 1 ? "s" : ""} ${labels.join(", ")} of ${q(p.out)} lost tensors ` +
          `written to ${q(path)} (the file was removed or damaged); rerun quantize with ` +
          `--shard ${labels[0]} --resume${labels.length > 1 ? " (and the others)" : ""}: it ` +
          "redoes them",
      );
    }
  }
  const out = opts.shardOf ? null : await openPlannedFile(path, plan.size, work.births);
  let src: SafetensorsFile | null = null;
  try {
    for (const e of mine) {
      const r = work.done.get(e.name);
      if (!out || r?.birth === out.birth) {
        if (r?.descriptor) descriptors.set(e.name, r.descriptor);
        if (e.layout) s.resumed++, tick(1, `${e.name} (done earlier)`);
        else s.copied++;
        if (r?.descriptor) tally.countBits(r.descriptor, e.bytes);
        continue;
      }
      src ??= await SafetensorsFile.open(plan.source.path);
      const d = await writeEntry(src, e, out, p.encoder, tally.padding);
      const record = { tensor: e.name, birth: out.birth, ...(d ? { descriptor: d } : {}) };
      await appendJsonl(work.logFile, record, { sync: true });
      if (d) {
        descriptors.set(e.name, d);
        tally.countBits(d, e.bytes);
        s.quantized++;
        tick(1, e.name);
        await opts.onTensorDone?.(e.name);
      } else s.copied++;
    }
    if (p.shard) return; // the merge writes the headers
    const header = plannedHeader(plan, p.run, (n) => descriptors.get(n));
    const f = out ?? await openPlannedFile(path, plan.size, work.births);
    try {
      await writeAtAndSync(f, 0, [header]);
    } finally {
      if (!out) f.file.close();
    }
    await appendJsonl(work.logFile, { file: baseName(path) }, { sync: true });
  } finally {
    if (src) s.sourceBytesRead += src.bytesRead, src.close();
    out?.file.close();
  }
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
  const t0 = performance.now();
  const mode = opts.mode ?? "new";
  const p = await planRun(inputPath, out, opts, mode);
  const tally = new Tally(out, p.outFiles, t0);
  if (mode === "resume" && !(await pathExists(p.workDir)) && await pathExists(out)) {
    return await countFinishedRun(p, tally);
  }
  // The work folder beside the output: progress log (its header is the run key) and the output
  // files written in place.
  if (mode === "force" && p.manifest) {
    await Deno.remove(p.manifest).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw ioError(e, p.manifest!, "remove");
    });
  }
  const work = await openRunWork(out, p.singleOut, p.key, p.run, mode, p.shardDir);
  p.stagedFiles = p.srcFiles.map((f) =>
    p.singleOut ? work.staged : joinPath(work.staged, baseName(f))
  );
  const bar = (opts.progress ?? silentProgress)(`quantize ${p.method}`, p.ownedQuantized);
  try {
    for (let fi = 0; fi < p.plans.length; fi++) {
      await writeFile(p, fi, work, tally, (n, what) => bar.tick(n, what), opts);
    }
    bar.done();
    if (p.shard) {
      // Done: the manifest (beside the shard's folder) says so; the merge does the rest.
      tally.summary.seconds = (performance.now() - t0) / 1000;
      const s = tally.summary;
      await writeShardManifest(p.workDir, work.logFile, {
        shard: p.shard,
        run: p.run,
        key: p.key,
        input: await Deno.realPath(p.input),
        settings: p.settings,
        selected: p.selected.size,
        total: p.total,
        sourceBytesRead: s.sourceBytesRead,
        quantized: s.quantized,
        resumed: s.resumed,
        seconds: s.seconds,
      });
      return tally.finish();
    }
    // Index, config and the other files of the folder, beside the output files.
    if (!p.singleOut) {
      await writeFolderFiles(work.staged, {
        input: p.input,
        extras: p.extras,
        indexed: p.indexed,
        files: p.plans.map((plan, fi) => ({ plan, path: p.stagedFiles[fi]! })),
        method: p.method,
        options: p.options,
        ...(opts.config ? { config: opts.config } : {}),
        selected: p.selected,
        all: p.all,
        run: p.run,
        resolvedParams: tally.resolvedParams,
      });
    }
    // Into place: the finished output replaces what --out held (if anything) in one rename.
    await publishOutput(work.staged, out);
  } catch (e) {
    await abandonWork(work, e, tally.summary.quantized);
    throw e;
  }
  await Deno.remove(p.workDir, { recursive: true }).catch(() => {});
  return tally.finish();
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
  if (recurs || work.done.size + quantizedNow === 0) {
    await Deno.remove(work.dir, { recursive: true }).catch(() => {});
  }
}
