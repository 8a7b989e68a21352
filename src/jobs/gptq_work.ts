/**
 * The resumable state of a GPTQ checkpoint run, in the quantize job's work folder
 * (`OUT/.quantlab-work/gptq/`, removed with it when the run finishes): one part file per finished
 * layer (`layer-L.safetensors`, its quantized projections in the checkpoint format, tagged with
 * the run fingerprint) and `progress.jsonl` (a header naming the run, then one line per finished
 * layer with its statistics). Nothing is created until the first layer is done, so a run stopped
 * by bad input leaves nothing behind.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { QuantizedCheckpoint, writeQuantizedSafetensors } from "../io/quantized_checkpoint.ts";
import { appendJsonl, openRunLog, readJsonl } from "../io/jsonl_log.ts";
import { joinPath, q } from "../io/paths.ts";
import type { ProjectionStats } from "./gptq_layer.ts";

const SCHEMA = "quantlab.gptq-layers";
const SCHEMA_VERSION = 1;

/** One finished layer as logged. */
export interface LayerRecord {
  /** The layer index. */
  layer: number;
  /** Its part file (name inside the state folder). */
  part: string;
  /** Its projections' statistics. */
  stats: ProjectionStats[];
}

/**
 * The GPTQ state folder of work folder `work` for run `run` (see the module doc).
 *
 * @example
 * ```ts
 * import { GptqWork } from "./gptq_work.ts";
 * const dir = await Deno.makeTempDir();
 * const s = await GptqWork.open(`${dir}/.quantlab-work`, "abc", "out");
 * const none = s.done.length;
 * await Deno.remove(dir, { recursive: true });
 * if (none !== 0) throw new Error();
 * ```
 */
export class GptqWork {
  /** The state folder. */
  readonly dir: string;
  /** The run fingerprint. */
  readonly run: string;
  /** Layers finished by earlier runs, in order (a prefix 0 … k−1 of the model's layers). */
  readonly done: LayerRecord[];
  #created = false;
  #stale: boolean;

  private constructor(dir: string, run: string, done: LayerRecord[], stale: boolean) {
    this.dir = dir;
    this.run = run;
    this.done = done;
    this.#stale = stale;
  }

  get #log(): string {
    return joinPath(this.dir, "progress.jsonl");
  }

  /**
   * Reads the state left by earlier runs (writes nothing). A log of another run that finished a
   * layer is refused (`bad-argument`, naming `out`); one that finished none is replaced at the
   * first write.
   */
  static async open(work: string, run: string, out: string): Promise<GptqWork> {
    const dir = joinPath(work, "gptq");
    const records = (await readJsonl(joinPath(dir, "progress.jsonl"))) as Record<string, unknown>[];
    const head = records[0];
    const headRun = (head?.key as { run?: unknown } | undefined)?.run;
    const layers = records.filter((r) => r.kind === "layer") as unknown as LayerRecord[];
    if (head !== undefined && headRun !== run) {
      if (layers.length > 0) {
        throw new QuantlabError(
          "bad-argument",
          `${q(out)} holds an unfinished GPTQ run with other options, calibration or inputs; ` +
            `delete ${q(work)} (and the output) or choose another --out`,
        );
      }
      return new GptqWork(dir, run, [], true);
    }
    const done: LayerRecord[] = [];
    for (const l of layers) if (l.layer === done.length) done.push(l);
    return new GptqWork(dir, run, done, false);
  }

  /** Records a finished layer: its part file (atomic), then its log line (synced). */
  async save(
    layer: number,
    tensors: ReadonlyMap<string, QuantizedTensor>,
    stats: ProjectionStats[],
  ): Promise<void> {
    if (!this.#created) {
      await Deno.mkdir(this.dir, { recursive: true });
      if (this.#stale) await Deno.remove(this.#log);
      await openRunLog(this.#log, {
        schema: SCHEMA,
        schemaVersion: SCHEMA_VERSION,
        key: { run: this.run },
      });
      this.#created = true;
    }
    const part = `layer-${layer}.safetensors`;
    await writeQuantizedSafetensors(joinPath(this.dir, part), tensors, this.run);
    const rec: LayerRecord = { layer, part, stats };
    await appendJsonl(this.#log, { kind: "layer", ...rec }, { sync: true });
    this.done.push(rec);
  }

  /** The quantized tensors of a finished layer, read back from its part file. */
  async read(layer: number): Promise<Map<string, QuantizedTensor>> {
    const rec = this.done[layer];
    if (!rec) throw new QuantlabError("not-found", `GPTQ layer ${layer} is not finished`);
    const path = joinPath(this.dir, rec.part);
    const ck = await QuantizedCheckpoint.open(path);
    try {
      if (ck.run !== this.run) {
        throw new QuantlabError("bad-file", `Part file ${q(path)} does not belong to this run`);
      }
      const out = new Map<string, QuantizedTensor>();
      for (const n of ck.quantizedNames) out.set(n, await ck.read(n));
      return out;
    } finally {
      ck.close();
    }
  }
}
