/**
 * File access of Hugging Face model folders: reading `config.json` / tokenizer JSON files with
 * clear errors, writing a folder (`config.json`, `model.safetensors` or shards + index, tokenizer
 * files), and a content hash for results files. What the files mean (the model config, building
 * the model) is `src/model/loader.ts`.
 *
 * @module
 */
import { resolveModelPath } from "./hf_cache.ts";
import { QuantlabError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor.ts";
import { openCheckpoint, writeSharded } from "./sharded.ts";
import { writeSafetensors } from "./safetensors.ts";
import { joinPath } from "./paths.ts";

/** The text of `path`; `what` names the file in errors (`not-found`, `bad-file`). */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new QuantlabError("not-found", `${what} not found: ${path}`);
    }
    throw new QuantlabError("bad-file", `Cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** The parsed JSON of `path`; `what` names the file in errors. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new QuantlabError(
      "bad-file",
      `${what} ${path} is not valid JSON: ${(e as Error).message}`,
    );
  }
}

/** The parsed JSON of `path`, or undefined when there is no such file. */
export async function readOptionalJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new QuantlabError("bad-file", `Cannot read ${path}: ${(e as Error).message}`);
  }
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function fileSamples(path: string, bytes: number): Promise<Uint8Array[]> {
  const f = await Deno.open(path, { read: true });
  try {
    const size = (await f.stat()).size;
    const read = async (at: number, n: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(n);
      await f.seek(at, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await f.read(buf.subarray(got));
        if (r === null) break;
        got += r;
      }
      return buf.subarray(0, got);
    };
    const first = await read(0, Math.min(bytes, size));
    const last = size > bytes
      ? await read(size - Math.min(bytes, size - bytes), bytes)
      : new Uint8Array();
    return [new TextEncoder().encode(`${size}\n`), first, last];
  } finally {
    f.close();
  }
}

/**
 * A SHA-256 identifying a model folder for results files: `config.json`, the tensor index
 * (name, dtype, shape of every tensor) and content samples (size, first and last MiB of every
 * safetensors file), so different weights with the same shapes hash differently without reading
 * whole checkpoints.
 *
 * @example
 * ```ts
 * import { modelHash, writeModelFolder } from "./model_folder.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeModelFolder(dir, { model_type: "llama" }, { w: Tensor.zeros([2, 2]) });
 * const h = await modelHash(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (!/^[0-9a-f]{64}$/.test(h)) throw new Error("unexpected");
 * ```
 */
export async function modelHash(path: string): Promise<string> {
  const dir = await resolveModelPath(path);
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  parts.push(enc.encode(await readText(joinPath(dir, "config.json"), "Model config")));
  const ckpt = await openCheckpoint(dir);
  try {
    const index: string[] = [];
    for (const name of [...ckpt.names()].sort()) {
      const info = await ckpt.info(name);
      index.push(`${name}\t${info.dtype}\t${info.shape.join("x")}`);
    }
    parts.push(enc.encode(index.join("\n")));
    for (const file of ckpt.files) parts.push(...await fileSamples(file, 1 << 20));
  } finally {
    ckpt.close();
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return await sha256Hex(all);
}

/** Options of {@linkcode writeModelFolder}. */
export interface WriteModelFolderOptions {
  /** A `tokenizer.json` object to write. */
  tokenizer?: Record<string, unknown>;
  /** A `tokenizer_config.json` object to write. */
  tokenizerConfig?: Record<string, unknown>;
  /** Split into shards of at most this many bytes (with an index); default one file. */
  shardBytes?: number;
}

/**
 * Writes a Hugging Face folder from an already serialized `config.json` object: `config.json`,
 * `model.safetensors` (or shards + index) and optionally the tokenizer files. Creates `dir` if
 * needed.
 *
 * @example
 * ```ts
 * import { writeModelFolder } from "./model_folder.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeModelFolder(dir, { model_type: "llama" }, { w: Tensor.zeros([2, 2]) });
 * const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
 * await Deno.remove(dir, { recursive: true });
 * if (files.join() !== "config.json,model.safetensors") throw new Error("unexpected");
 * ```
 */
export async function writeModelFolder(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, Tensor>,
  opts: WriteModelFolderOptions = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(joinPath(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  if (opts.shardBytes !== undefined) {
    await writeSharded(dir, Object.entries(tensors), opts.shardBytes);
  } else {
    await writeSafetensors(joinPath(dir, "model.safetensors"), tensors, { format: "pt" });
  }
  if (opts.tokenizer) {
    await Deno.writeTextFile(joinPath(dir, "tokenizer.json"), JSON.stringify(opts.tokenizer));
  }
  if (opts.tokenizerConfig) {
    await Deno.writeTextFile(
      joinPath(dir, "tokenizer_config.json"),
      JSON.stringify(opts.tokenizerConfig, null, 2),
    );
  }
}
