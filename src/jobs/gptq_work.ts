/**
 * The resumable state of a GPTQ checkpoint run, in the work folder beside its output
 * (`OUT.quantlab-work/gptq/`, removed with the work folder when the run finishes): one part file
 * per finished layer (`layer-L.safetensors`, its quantized projections in the checkpoint format,
 * tagged with the run id) and `progress.jsonl`, a run log (`io/jsonl_log.ts`) whose header is the
 * run key, then one line per finished layer with its statistics. Nothing is created until the
 * first layer is done, so a run stopped by bad input leaves nothing behind.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { QuantizedCheckpoint, writeQuantizedSafetensors } from "../io/quantized_checkpoint.ts";
import { appendJsonl, openRunLog } from "../io/jsonl_log.ts";
import type { OutputMode } from "../io/output_guard.ts";
import { pathExists } from "../io/atomic.ts";
import { joinPath, q } from "../io/paths.ts";
import { ioError } from "../io/safetensors.ts";
import type { ProjectionStats } from "./gptq_layer.ts";
import { runIdOf } from "./quantize_run.ts";

const SCHEMA = "quantlab.gptq.layers";
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
 * The GPTQ state in work folder `work` of a run with key `key` (see the module doc).
 *
 * @example
 * ```ts
 * import { GptqWork } from "./gptq_work.ts";
 * const dir = await Deno.makeTempDir();
 * const s = await GptqWork.open(`${dir}/q.quantlab-work`, { grid: "nf4" }, `${dir}/q`, "new");
 * const none = s.done.length;
 * await Deno.remove(dir, { recursive: true });
 * if (none !== 0) throw new Error();
 * ```
 */
export class GptqWork {
  /** The work folder. */
  readonly work: string;
  /** The GPTQ state folder inside it. */
  readonly dir: string;
  /** Layers finished by earlier runs, in order (a prefix 0 … k−1 of the model's layers). */
  readonly done: LayerRecord[];
  readonly #key: object;
  readonly #out: string;
  readonly #fresh: boolean;
  #run: string | null = null;
  #created = false;

  private constructor(work: string, key: object, out: string, done: LayerRecord[], fresh: boolean) {
    this.work = work;
    this.dir = joinPath(work, "gptq");
    this.#key = key;
    this.#out = out;
    this.done = done;
    this.#fresh = fresh;
  }

  get #log(): string {
    return joinPath(this.dir, "progress.jsonl");
  }

  #header() {
    return { schema: SCHEMA, schemaVersion: SCHEMA_VERSION, key: this.#key };
  }

  #what(): string {
    return `The unfinished GPTQ run of --out ${q(this.#out)} (in ${q(this.work)})`;
  }

  /**
   * Reads the state an earlier run left (writes nothing). `"new"`: none is expected (the caller
   * checked the work folder is absent); `"force"`: any is ignored and the work folder replaced at
   * the first save; `"resume"`: its log must hold this key (else a `bad-argument` error names the
   * differing fields), and a work folder without one is refused.
   */
  static async open(work: string, key: object, out: string, mode: OutputMode): Promise<GptqWork> {
    const s = new GptqWork(work, key, out, [], mode === "force");
    if (mode !== "resume") return s;
    if (await pathExists(s.#log)) {
      s.#created = true;
      // Validates the key (a log that exists is only read back, never rewritten).
      const records = await openRunLog(s.#log, s.#header(), s.#what());
      for (const r of records) {
        const l = r as unknown as LayerRecord & { kind?: string };
        if (l.kind === "layer" && l.layer === s.done.length) s.done.push(l);
      }
    } else if (await pathExists(work)) {
      throw new QuantlabError(
        "bad-argument",
        `The work folder ${q(work)} of --out ${q(out)} holds no GPTQ run to resume; add --force ` +
          "to start over, or choose another --out",
      );
    }
    return s;
  }

  /** Records a finished layer: its part file (atomic), then its log line (synced). */
  async save(
    layer: number,
    tensors: ReadonlyMap<string, QuantizedTensor>,
    stats: ProjectionStats[],
  ): Promise<void> {
    if (!this.#created) {
      if (this.#fresh) {
        await Deno.remove(this.work, { recursive: true }).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw ioError(e, this.work, "remove");
        });
      }
      await Deno.mkdir(this.dir, { recursive: true }).catch((e) => {
        throw ioError(e, this.dir, "create folder");
      });
      await openRunLog(this.#log, this.#header(), this.#what());
      this.#created = true;
    }
    const part = `layer-${layer}.safetensors`;
    await writeQuantizedSafetensors(joinPath(this.dir, part), tensors, await this.#runId());
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
      if (ck.run !== await this.#runId()) {
        throw new QuantlabError("bad-file", `Part file ${q(path)} does not belong to this run`);
      }
      const out = new Map<string, QuantizedTensor>();
      for (const n of ck.quantizedNames) out.set(n, await ck.read(n));
      return out;
    } finally {
      ck.close();
    }
  }

  /** Removes the work folder (after a failure that would recur on resume). */
  async discard(): Promise<void> {
    if (this.#created) await Deno.remove(this.work, { recursive: true }).catch(() => {});
  }

  async #runId(): Promise<string> {
    return this.#run ??= await runIdOf(this.#key);
  }
}
