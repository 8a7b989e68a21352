/**
 * The checks a quantize run makes on its input before it quantizes the first tensor, so a bad
 * input fails at once and leaves nothing behind: the folder's `config.json` and other JSON files
 * (copied into the output, where loading would fail later), each chosen tensor's shape against
 * the method (`Quantizer.checkShape`), and every input file's content — hashed whole for the run
 * key, the chosen tensors checked for NaN/±Infinity in the same pass (`io/content_hash.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { DType } from "../core/tensor.ts";
import type { ProgressFactory } from "../core/progress.ts";
import { silentProgress } from "../core/progress.ts";
import type { Quantizer, QuantOptions } from "../quant/quantizer.ts";
import { type FileHash, hashSafetensorsFile } from "../io/content_hash.ts";
import { listFolderFiles } from "../io/hf_cache.ts";
import { baseName, isObj, joinPath, q } from "../io/paths.ts";
import { mergeOptions } from "./quantize_run.ts";

/** What a folder input brings besides its weights. */
export interface FolderExtras {
  /** Its `config.json`, parsed (empty when it has none). */
  config: Record<string, unknown>;
  /** The other files copied into the output (tokenizer, generation config, …), by name. */
  copy: string[];
}

/** Files of a model folder that the quantized output rebuilds instead of copying. */
function rebuilt(name: string): boolean {
  return name.startsWith(".") || name === "config.json" || name.endsWith(".safetensors") ||
    name.endsWith(".safetensors.index.json");
}

/**
 * Reads a folder input's `config.json` and checks every other JSON file it will copy (a
 * `bad-file` error naming the file when one does not parse; `config.json` must be an object).
 *
 * @example
 * ```ts
 * import { readFolderExtras } from "./quantize_inputs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/config.json`, '{"model_type": "llama"}');
 * await Deno.writeTextFile(`${dir}/tokenizer.json`, "{");
 * const msg = await readFolderExtras(dir).catch((e) => e.message);
 * await Deno.remove(dir, { recursive: true });
 * if (!msg.includes("tokenizer.json")) throw new Error(msg);
 * ```
 */
export async function readFolderExtras(dir: string): Promise<FolderExtras> {
  const files = await listFolderFiles(dir);
  let config: Record<string, unknown> = {};
  for (const name of files) {
    if (name !== "config.json" && (rebuilt(name) || !name.endsWith(".json"))) continue;
    const path = joinPath(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      throw new QuantlabError(
        "bad-file",
        `${q(path)} is not valid JSON (${(e as Error).message}); the quantized folder would ` +
          "carry it: repair or remove it",
      );
    }
    if (name === "config.json") {
      if (!isObj(parsed)) {
        throw new QuantlabError("bad-file", `${q(path)} is not a JSON object; repair it`);
      }
      config = parsed;
    }
  }
  return { config, copy: files.filter((n) => !rebuilt(n)) };
}

/**
 * Checks each chosen tensor's shape against the method (and its per-tensor options) without
 * quantizing, through `Quantizer.checkShape` where the method has one.
 *
 * @example
 * ```ts
 * import { checkShapes } from "./quantize_inputs.ts";
 * import { getQuantizer } from "../quant/registry.ts";
 * const infos = new Map([["w", { dtype: "F32" as const, shape: [4, 96] }]]);
 * let msg = "no error";
 * try {
 *   checkShapes(getQuantizer("rtn"), { groupSize: 64 }, {}, infos);
 * } catch (e) {
 *   msg = (e as Error).message;
 * }
 * if (!msg.includes("does not divide")) throw new Error(msg);
 * ```
 */
export function checkShapes(
  quantizer: Quantizer,
  options: QuantOptions,
  perTensor: Readonly<Record<string, QuantOptions>>,
  tensors: ReadonlyMap<string, { dtype: DType; shape: readonly number[] }>,
): void {
  if (!quantizer.checkShape) return;
  for (const [name, { shape }] of tensors) {
    quantizer.checkShape(shape[0]!, shape[1]!, mergeOptions(options, perTensor[name]), name);
  }
}

/**
 * The hashes a sharded run's shards recorded, for the files of `files`, after checking that each
 * file still has its recorded size (a `bad-file` error naming it otherwise): the merge trusts the
 * shards' content hashes rather than reading every input byte again.
 */
export async function checkInputSizes(
  files: readonly string[],
  trusted: Readonly<Record<string, FileHash>>,
): Promise<Record<string, FileHash>> {
  const out: Record<string, FileHash> = {};
  for (const f of files) {
    const want = trusted[baseName(f)];
    const size = (await Deno.stat(f)).size;
    if (!want || want.bytes !== size) {
      throw new QuantlabError(
        "bad-file",
        `Input ${q(f)} is ${size} bytes; the shards of this run read ` +
          (want ? `${want.bytes} bytes` : "no such file") + ": it changed since they ran",
      );
    }
    out[baseName(f)] = want;
  }
  return out;
}

/**
 * The size and XXH64 of every input file by file name, the chosen tensors checked for NaN/±Inf
 * on the way (a `bad-value` error naming tensor, index and value).
 */
export async function hashInputs(
  files: readonly string[],
  chosen: ReadonlySet<string>,
  namesOf: (file: string) => readonly string[],
  progress: ProgressFactory = silentProgress,
): Promise<Record<string, FileHash>> {
  const out: Record<string, FileHash> = {};
  const bar = progress("check and hash inputs", files.length);
  for (const f of files) {
    const mine = new Set(namesOf(f).filter((n) => chosen.has(n)));
    out[baseName(f)] = await hashSafetensorsFile(f, mine);
    bar.tick(1, baseName(f));
  }
  bar.done();
  return out;
}
