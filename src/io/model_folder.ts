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
import { baseName, joinPath } from "./paths.ts";
import { hashSafetensorsFile } from "./content_hash.ts";

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

/** Files besides the weights that change what a model computes from text. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"];

/**
 * A SHA-256 identifying a model folder for results files and resume keys: `config.json`, the
 * tokenizer files, the tensor index (name, dtype, shape of every tensor) and the size and XXH64 of
 * every safetensors file's whole content (`content_hash.ts`), so any change to the weights —
 * anywhere in a file, its size kept or not — changes the hash. Reads every byte of the
 * checkpoint once (speed: docs/performance.md).
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
  const parts: string[] = [await readText(joinPath(dir, "config.json"), "Model config")];
  for (const name of TOKENIZER_FILES) {
    const text = await readText(joinPath(dir, name), name).catch((e) => {
      if (e instanceof QuantlabError && e.code === "not-found") return null;
      throw e;
    });
    parts.push(text === null ? `${name}: none` : text);
  }
  const ckpt = await openCheckpoint(dir);
  try {
    const index: string[] = [];
    for (const name of [...ckpt.names()].sort()) {
      const info = await ckpt.info(name);
      index.push(`${name}\t${info.dtype}\t${info.shape.join("x")}`);
    }
    parts.push(index.join("\n"));
    for (const file of ckpt.files) {
      const h = await hashSafetensorsFile(file);
      parts.push(`${baseName(file)}\t${h.bytes}\t${h.xxh64}`);
    }
  } finally {
    ckpt.close();
  }
  return await sha256Hex(new TextEncoder().encode(parts.join("\n\u0000\n")));
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
