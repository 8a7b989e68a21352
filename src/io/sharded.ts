/**
 * Checkpoints as Hugging Face stores them: one `model.safetensors`, or shards
 * `model-00001-of-0000N.safetensors` listed by `model.safetensors.index.json`
 * (`{"metadata": {"total_size": …}, "weight_map": {tensor name → shard file}}`).
 *
 * {@linkcode openCheckpoint} opens either kind lazily (a shard's header is read the first time one
 * of its tensors is asked for); {@linkcode writeSharded} writes shards and the index atomically.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor.ts";
import { ioError, SafetensorsFile, type TensorInfo, writeSafetensors } from "./safetensors.ts";
import { findDuplicateKey } from "./safetensors_json.ts";
import { listFolderFiles, resolveModelPath } from "./hf_cache.ts";
import { joinPath, q } from "./paths.ts";
import { writeJsonAtomic } from "./atomic.ts";

/** The index file name Hugging Face uses. */
export const INDEX_FILE = "model.safetensors.index.json";
/** The single-file checkpoint name Hugging Face uses. */
export const SINGLE_FILE = "model.safetensors";

function dirOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** A tensor's location in a checkpoint: {@linkcode TensorInfo} plus the file that holds it. */
export interface CheckpointTensorInfo extends TensorInfo {
  /** Path of the safetensors file holding the tensor. */
  readonly file: string;
}

/**
 * A checkpoint opened for lazy reading: one safetensors file or a sharded set. Shards are opened
 * (their headers read and checked against the index) the first time they are needed.
 *
 * @example
 * ```ts
 * import { openCheckpoint, writeSharded } from "./sharded.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSharded(dir, [["a", Tensor.zeros([4])], ["b", Tensor.zeros([4])]], 16);
 * const ckpt = await openCheckpoint(dir);
 * const b = await ckpt.read("b");
 * ckpt.close();
 * await Deno.remove(dir, { recursive: true });
 * if (ckpt.files.length !== 2 || b.numel !== 4) throw new Error("unexpected");
 * ```
 */
export class Checkpoint {
  /** The file that was opened: the index, or the single safetensors file. */
  readonly path: string;
  /** Paths of the safetensors files, in shard order. */
  readonly files: readonly string[];
  /** The index's `"metadata"` object (`{total_size}` usually); null for a single file. */
  readonly indexMetadata: Readonly<Record<string, unknown>> | null;
  /** Tensor name → index into `files`. */
  readonly #where: ReadonlyMap<string, number>;
  readonly #open = new Map<number, Promise<SafetensorsFile>>();
  #closed = false;

  private constructor(
    path: string,
    files: readonly string[],
    where: ReadonlyMap<string, number>,
    indexMetadata: Readonly<Record<string, unknown>> | null,
  ) {
    this.path = path;
    this.files = files;
    this.#where = where;
    this.indexMetadata = indexMetadata;
  }

  /** @internal Opens a single safetensors file as a checkpoint. */
  static async fromFile(path: string): Promise<Checkpoint> {
    const f = await SafetensorsFile.open(path);
    const where = new Map(f.names().map((n) => [n, 0]));
    const c = new Checkpoint(path, [path], where, null);
    c.#open.set(0, Promise.resolve(f));
    return c;
  }

  /** @internal Opens a sharded checkpoint from its index file. */
  static async fromIndex(path: string): Promise<Checkpoint> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw ioError(e, path, "read checkpoint index");
    }
    const bad = (msg: string): QuantlabError =>
      new QuantlabError("bad-file", `Checkpoint index ${q(path)}: ${msg}`);
    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch (e) {
      throw bad(`not valid JSON (${(e as Error).message})`);
    }
    if (typeof root !== "object" || root === null || Array.isArray(root)) {
      throw bad("not a JSON object");
    }
    const dup = findDuplicateKey(text);
    if (dup !== null) throw bad(`the key ${q(dup)} occurs twice; keys must be unique`);
    const { weight_map: map, metadata } = root as Record<string, unknown>;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw bad(`"weight_map" is ${JSON.stringify(map) ?? "missing"}; expected an object`);
    }
    if (
      metadata !== undefined && metadata !== null &&
      (typeof metadata !== "object" || Array.isArray(metadata))
    ) {
      throw bad(`"metadata" is ${JSON.stringify(metadata)}; expected an object`);
    }
    const dir = dirOf(path);
    const shardIndex = new Map<string, number>();
    const files: string[] = [];
    const where = new Map<string, number>();
    for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== "string" || !isPlainRelative(shard)) {
        throw bad(
          `tensor ${q(name)} maps to ${JSON.stringify(shard)}; expected a file name relative ` +
            "to the index's folder (no absolute path, no '..')",
        );
      }
      let i = shardIndex.get(shard);
      if (i === undefined) {
        i = files.length;
        shardIndex.set(shard, i);
        files.push(joinPath(dir, shard));
      }
      where.set(name, i);
    }
    const missing: string[] = [];
    for (const f of files) {
      try {
        if (!(await Deno.stat(f)).isFile) missing.push(f);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) missing.push(f);
        else throw ioError(e, f, "inspect shard");
      }
    }
    if (missing.length > 0) {
      throw new QuantlabError(
        "not-found",
        `Checkpoint index ${q(path)} lists ${missing.length} shard file(s) that do not exist: ` +
          missing.slice(0, 5).map(q).join(", ") + (missing.length > 5 ? ", …" : ""),
      );
    }
    return new Checkpoint(
      path,
      files,
      where,
      (metadata ?? {}) as Readonly<Record<string, unknown>>,
    );
  }

  /** Tensor names: file order for a single file, index order for a sharded checkpoint. */
  names(): string[] {
    return [...this.#where.keys()];
  }

  /** True when the checkpoint holds a tensor called `name`. */
  has(name: string): boolean {
    return this.#where.has(name);
  }

  /** Where tensor `name` lives (opens its shard if needed), or a `not-found` error. */
  async info(name: string): Promise<CheckpointTensorInfo> {
    const f = await this.#fileOf(name);
    return { ...f.info(name), file: f.path };
  }

  /** Reads tensor `name` (opening its shard if needed; only the tensor's bytes are read). */
  async read(name: string): Promise<Tensor> {
    return (await this.#fileOf(name)).read(name);
  }

  /** The `__metadata__` of the first file (shards written together carry the same). */
  async metadata(): Promise<Readonly<Record<string, string>>> {
    if (this.files.length === 0) return {};
    return (await this.#shard(0)).metadata;
  }

  /** Opens every shard now, checking that each holds every tensor the index assigns to it. */
  async validate(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) await this.#shard(i);
  }

  /** Closes every open shard. */
  close(): void {
    this.#closed = true;
    for (const p of this.#open.values()) p.then((f) => f.close(), () => {});
    this.#open.clear();
  }

  /** Closes every open shard (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #fileOf(name: string): Promise<SafetensorsFile> {
    const i = this.#where.get(name);
    if (i === undefined) {
      const names = this.names();
      return Promise.reject(
        new QuantlabError(
          "not-found",
          `Checkpoint ${q(this.path)} has no tensor ${q(name)}; it holds ${names.length} ` +
            "tensors" + (names.length > 0 ? ` (${names.slice(0, 5).map(q).join(", ")}, …)` : ""),
        ),
      );
    }
    return this.#shard(i);
  }

  #shard(i: number): Promise<SafetensorsFile> {
    if (this.#closed) {
      return Promise.reject(
        new QuantlabError("bad-argument", `Checkpoint ${q(this.path)} is closed`),
      );
    }
    let p = this.#open.get(i);
    if (p === undefined) {
      p = this.#openShard(i);
      this.#open.set(i, p);
    }
    return p;
  }

  async #openShard(i: number): Promise<SafetensorsFile> {
    const path = this.files[i]!;
    const f = await SafetensorsFile.open(path);
    const missing: string[] = [];
    for (const [name, j] of this.#where) if (j === i && !f.has(name)) missing.push(name);
    if (missing.length > 0) {
      f.close();
      throw new QuantlabError(
        "bad-file",
        `Shard ${q(path)} lacks ${missing.length} tensor(s) that index ${q(this.path)} assigns ` +
          `to it: ${missing.slice(0, 5).map(q).join(", ")}${missing.length > 5 ? ", …" : ""}`,
      );
    }
    return f;
  }
}

/** True for a relative path without "..", empty or absolute parts. */
function isPlainRelative(p: string): boolean {
  if (p === "" || p.includes("\0") || p.startsWith("/") || p.startsWith("\\")) return false;
  if (/^[A-Za-z]:/.test(p)) return false;
  return p.split(/[\\/]/).every((part) => part !== "" && part !== "." && part !== "..");
}

/**
 * Opens a checkpoint: a directory (its `model.safetensors.index.json`, else its
 * `model.safetensors`, else its only `*.safetensors.index.json` or only `*.safetensors` file),
 * an index file (`*.index.json`), or any safetensors file. Files may be symlinks (a Hugging Face
 * cache snapshot folder); a cache repository folder `models--org--name` opens the snapshot its
 * `refs/main` names (see {@linkcode resolveModelPath}). Missing files give `not-found` errors
 * naming what was looked for; a malformed index or shard gives `bad-file`.
 *
 * @example
 * ```ts
 * import { openCheckpoint } from "./sharded.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/model.safetensors`, { w: Tensor.zeros([2]) });
 * const ckpt = await openCheckpoint(dir);
 * const names = ckpt.names();
 * ckpt.close();
 * await Deno.remove(dir, { recursive: true });
 * if (names.join() !== "w") throw new Error("unexpected");
 * ```
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const dirOrFile = await resolveModelPath(path);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dirOrFile);
  } catch (e) {
    throw ioError(e, dirOrFile, "open checkpoint");
  }
  if (!stat.isDirectory) {
    return dirOrFile.endsWith(".json")
      ? Checkpoint.fromIndex(dirOrFile)
      : Checkpoint.fromFile(dirOrFile);
  }
  const names = await listFolderFiles(dirOrFile);
  if (names.includes(INDEX_FILE)) return Checkpoint.fromIndex(joinPath(dirOrFile, INDEX_FILE));
  if (names.includes(SINGLE_FILE)) return Checkpoint.fromFile(joinPath(dirOrFile, SINGLE_FILE));
  const indexes = names.filter((n) => n.endsWith(".safetensors.index.json"));
  if (indexes.length === 1) return Checkpoint.fromIndex(joinPath(dirOrFile, indexes[0]!));
  const singles = names.filter((n) => n.endsWith(".safetensors"));
  if (indexes.length === 0 && singles.length === 1) {
    return Checkpoint.fromFile(joinPath(dirOrFile, singles[0]!));
  }
  const found = [...indexes, ...singles].sort();
  throw new QuantlabError(
    "not-found",
    `Folder ${q(dirOrFile)} has no ${INDEX_FILE} or ${SINGLE_FILE}` +
      (found.length > 0
        ? ` and several candidates (${found.slice(0, 5).map(q).join(", ")}); open one of them`
        : " and no other .safetensors file"),
  );
}

/** What {@linkcode writeSharded} wrote. */
export interface ShardedResult {
  /** Paths of the shards, in order. */
  readonly files: string[];
  /** Path of the index. */
  readonly index: string;
  /** Sum of the tensors' data sizes (the index's `total_size`). */
  readonly totalSize: number;
}

/** Options of {@linkcode writeSharded}. */
export interface WriteShardedOptions {
  /** `__metadata__` of every shard; `format` defaults to "pt" (transformers checks it). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes tensors as shards `model-0000i-of-0000N.safetensors` of at most `maxShardBytes` of
 * tensor data each (a larger tensor gets a shard of its own) plus `model.safetensors.index.json`,
 * always (also for one shard). Tensors keep their iteration order across shards; peak memory is
 * one shard's tensors. Each shard is written under a temporary name and renamed once the number
 * of shards is known; the index is written last, atomically, so a reader never sees an index
 * that points to missing shards. On error the shards written so far are removed. Files of an
 * older checkpoint in `dir` with other names are left alone.
 *
 * @example
 * ```ts
 * import { writeSharded } from "./sharded.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const r = await writeSharded(dir, new Map([["a", Tensor.zeros([8])]]), 1024);
 * await Deno.remove(dir, { recursive: true });
 * if (!r.files[0]!.endsWith("model-00001-of-00001.safetensors")) throw new Error("unexpected");
 * ```
 */
export async function writeSharded(
  dir: string,
  tensors: Iterable<readonly [string, Tensor]> | AsyncIterable<readonly [string, Tensor]>,
  maxShardBytes: number,
  options: WriteShardedOptions = {},
): Promise<ShardedResult> {
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) {
    throw new QuantlabError(
      "bad-argument",
      `Shard size ${maxShardBytes} is not a positive integer number of bytes`,
    );
  }
  const metadata = { format: "pt", ...options.metadata };
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw ioError(e, dir, "create folder");
  }
  const tag = crypto.randomUUID().slice(0, 8);
  const partial: string[] = [];
  const weightMap: [string, number][] = [];
  const seen = new Set<string>();
  let current = new Map<string, Tensor>();
  let currentBytes = 0;
  let totalSize = 0;
  const flush = async (): Promise<void> => {
    const p = joinPath(dir, `.model-${partial.length + 1}.safetensors.partial-${tag}`);
    partial.push(p);
    await writeSafetensors(p, current, metadata);
    current = new Map();
    currentBytes = 0;
  };
  const finals: string[] = [];
  try {
    for await (const [name, t] of tensors) {
      if (seen.has(name)) {
        throw new QuantlabError("bad-argument", `Tensor ${q(name)} is given twice`);
      }
      seen.add(name);
      if (current.size > 0 && currentBytes + t.byteLength > maxShardBytes) await flush();
      current.set(name, t);
      weightMap.push([name, partial.length]);
      currentBytes += t.byteLength;
      totalSize += t.byteLength;
    }
    if (current.size > 0 || partial.length === 0) await flush();
    const n = partial.length;
    const pad = (i: number): string => String(i).padStart(5, "0");
    const shardNames = partial.map((_, i) => `model-${pad(i + 1)}-of-${pad(n)}.safetensors`);
    for (let i = 0; i < n; i++) {
      const to = joinPath(dir, shardNames[i]!);
      await Deno.rename(partial[i]!, to);
      finals.push(to);
    }
    const sorted = weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const map = Object.fromEntries(sorted.map(([name, i]) => [name, shardNames[i]!]));
    const index = joinPath(dir, INDEX_FILE);
    await writeJsonAtomic(index, { metadata: { total_size: totalSize }, weight_map: map });
    return { files: finals, index, totalSize };
  } catch (e) {
    for (const p of [...partial, ...finals]) await Deno.remove(p).catch(() => {});
    throw ioError(e, dir, "write sharded checkpoint to");
  }
}
