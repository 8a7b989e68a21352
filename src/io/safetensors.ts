/**
 * Reading and writing safetensors files with Deno: lazy per-tensor reads (opening a file reads only
 * its header; reading a tensor reads only that tensor's bytes) and atomic writes (a temporary file
 * renamed into place), including a streaming writer that holds one tensor in memory at a time.
 *
 * The pure format code (parsing, validation, serialisation of in-memory bytes) lives in the
 * browser-compatible `./safetensors_format.ts` and is re-exported here.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { Tensor, viewAs } from "../core/tensor.ts";
import {
  checkTensor,
  encodeHeader,
  orderForWriting,
  parseHeader,
  readHeaderLength,
  type SafetensorsHeader,
  tensorBytes,
  type TensorInfo,
  type TensorMap,
  type TensorSpec,
} from "./safetensors_format.ts";

export {
  MAX_HEADER_BYTES,
  type ParsedSafetensors,
  parseSafetensors,
  type SafetensorsHeader,
  serializeSafetensors,
  type TensorInfo,
  type TensorMap,
  type TensorSpec,
  UNSUPPORTED_DTYPES,
} from "./safetensors_format.ts";

/**
 * Turns a Deno I/O error into a {@linkcode QuantlabError} (`not-found` for a missing file,
 * `bad-file` otherwise) whose message says what was being done to which path; QuantlabErrors
 * pass through unchanged.
 *
 * @example
 * ```ts
 * import { ioError } from "./safetensors.ts";
 * const e = ioError(new Deno.errors.NotFound("gone"), "a.safetensors", "open");
 * if (e.code !== "not-found") throw new Error("unexpected");
 * ```
 */
export function ioError(e: unknown, path: string, action: string): QuantlabError {
  if (e instanceof QuantlabError) return e;
  if (e instanceof Deno.errors.NotFound) {
    return new QuantlabError(
      "not-found",
      `Cannot ${action} ${JSON.stringify(path)}: no such file`,
      {
        cause: e,
      },
    );
  }
  const why = e instanceof Error ? e.message : String(e);
  return new QuantlabError("bad-file", `Cannot ${action} ${JSON.stringify(path)}: ${why}`, {
    cause: e,
  });
}

/** Reads exactly `buf.length` bytes at the file's current position; false at an early EOF. */
async function readFully(file: Deno.FsFile, buf: Uint8Array): Promise<boolean> {
  let at = 0;
  while (at < buf.length) {
    const n = await file.read(buf.subarray(at));
    if (n === null) return false;
    at += n;
  }
  return true;
}

/** Writes all of `bytes`. */
async function writeFully(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

/** Allocates `n` bytes, or an `unsupported` error naming the tensor if the runtime cannot. */
function allocate(n: number, what: string): Uint8Array {
  try {
    return new Uint8Array(n);
  } catch (e) {
    throw new QuantlabError(
      "unsupported",
      `Tensor ${what} needs ${n} bytes, more than this runtime can allocate at once`,
      { cause: e },
    );
  }
}

/**
 * A safetensors file opened for lazy reading. Opening reads and validates only the header;
 * {@linkcode SafetensorsFile.read} then reads one tensor's bytes (a multi-gigabyte file is never
 * read whole). Reads on one file are serialised internally, so concurrent calls are safe.
 *
 * @example
 * ```ts
 * import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { w: Tensor.f32([2], new Float32Array([1, 2])) });
 * const f = await SafetensorsFile.open(path);
 * const w = await f.read("w");
 * f.close();
 * await Deno.remove(path);
 * if (w.data[1] !== 2) throw new Error("unexpected");
 * ```
 */
export class SafetensorsFile {
  /** The path the file was opened from. */
  readonly path: string;
  /** The validated header. */
  readonly header: SafetensorsHeader;
  #file: Deno.FsFile | null;
  #queue: Promise<unknown> = Promise.resolve();
  #bytesRead = 0;

  private constructor(path: string, file: Deno.FsFile, header: SafetensorsHeader) {
    this.path = path;
    this.#file = file;
    this.header = header;
  }

  /**
   * Opens `path` and reads and validates its header (8 bytes plus the header, nothing else).
   * Throws `not-found` for a missing file, `bad-file` for a malformed one and `unsupported` for
   * a tensor of a dtype quantlab does not handle.
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      throw ioError(e, path, "open safetensors file");
    }
    try {
      const stat = await file.stat();
      if (!stat.isFile) {
        throw new QuantlabError(
          "bad-file",
          `Safetensors file ${JSON.stringify(path)} is not a regular file`,
        );
      }
      const size = stat.size;
      const first8 = new Uint8Array(8);
      if (size >= 8 && !(await readFully(file, first8))) {
        throw new QuantlabError("bad-file", `Safetensors file ${JSON.stringify(path)} shrank`);
      }
      const n = readHeaderLength(first8, size, path);
      const json = new Uint8Array(n);
      if (!(await readFully(file, json))) {
        throw new QuantlabError(
          "bad-file",
          `Safetensors file ${JSON.stringify(path)} ended inside its ${n}-byte header`,
        );
      }
      return new SafetensorsFile(path, file, parseHeader(json, size, path));
    } catch (e) {
      file.close();
      throw ioError(e, path, "read safetensors file");
    }
  }

  /** The `__metadata__` map (empty when the file has none). */
  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  /**
   * Tensor bytes read so far through {@linkcode SafetensorsFile.readBytes} (the header not
   * counted): what a run that should touch only some tensors (a shard) actually read.
   */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** True when the file holds a tensor called `name`. */
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  /** Where tensor `name` lives, or a `not-found` error. */
  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (info === undefined) {
      const names = this.names();
      const some = names.slice(0, 5).map((s) => JSON.stringify(s)).join(", ");
      throw new QuantlabError(
        "not-found",
        `Safetensors file ${JSON.stringify(this.path)} has no tensor ${JSON.stringify(name)}; ` +
          `it holds ${names.length} tensors` + (names.length > 0 ? ` (${some}, …)` : ""),
      );
    }
    return info;
  }

  /** Reads the raw bytes of tensor `name` (only those bytes are read from disk). */
  readBytes(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    const run = this.#queue.then(async () => {
      const file = this.#file;
      if (file === null) {
        throw new QuantlabError(
          "bad-argument",
          `Safetensors file ${JSON.stringify(this.path)} is closed; open it again to read`,
        );
      }
      const buf = allocate(info.byteLength, JSON.stringify(name));
      if (buf.length === 0) return buf;
      try {
        await file.seek(info.byteOffset, Deno.SeekMode.Start);
        if (!(await readFully(file, buf))) {
          throw new QuantlabError(
            "bad-file",
            `Safetensors file ${JSON.stringify(this.path)} ended inside tensor ` +
              `${JSON.stringify(name)}; it was truncated after it was opened`,
          );
        }
      } catch (e) {
        throw ioError(e, this.path, "read safetensors file");
      }
      this.#bytesRead += buf.length;
      return buf;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Reads tensor `name` (only its bytes are read from disk). */
  async read(name: string): Promise<Tensor> {
    const info = this.info(name);
    const bytes = await this.readBytes(name);
    return new Tensor(info.shape, info.dtype, viewAs(info.dtype, bytes));
  }

  /** Closes the file; later reads fail. Closing twice is harmless. */
  close(): void {
    const file = this.#file;
    this.#file = null;
    if (file !== null) {
      // Let reads already queued finish before the descriptor goes.
      this.#queue = this.#queue.then(() => file.close());
    }
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** A random suffix for temporary file names. */
function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes a safetensors file tensor by tensor, so peak memory is one tensor: declare every
 * tensor's name, dtype and shape up front (the header comes first in the file), then
 * {@linkcode SafetensorsWriter.write} them in that order and {@linkcode SafetensorsWriter.close}.
 * Data goes to `${path}.tmp-<random>`, which `close()` syncs and renames to `path`, so `path` is
 * never seen half-written. Any error in `write` or `close`, or `abort()`, removes the temporary
 * file.
 *
 * @example
 * ```ts
 * import { SafetensorsFile, SafetensorsWriter } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * const w = await SafetensorsWriter.create(path, [
 *   { name: "a", dtype: "F32", shape: [2] },
 *   { name: "b", dtype: "U8", shape: [3] },
 * ]);
 * await w.write("a", Tensor.f32([2], new Float32Array([1, 2])));
 * await w.write("b", new Tensor([3], "U8", new Uint8Array([7, 8, 9])));
 * await w.close();
 * const f = await SafetensorsFile.open(path);
 * const b = await f.read("b");
 * f.close();
 * await Deno.remove(path);
 * if (b.data[2] !== 9) throw new Error("unexpected");
 * ```
 */
export class SafetensorsWriter {
  /** The final path. */
  readonly path: string;
  /** The temporary path written until `close()`. */
  readonly tempPath: string;
  readonly #specs: readonly TensorSpec[];
  readonly #byteLengths: readonly number[];
  #file: Deno.FsFile | null;
  #next = 0;
  #done = false;

  private constructor(
    path: string,
    tempPath: string,
    file: Deno.FsFile,
    specs: readonly TensorSpec[],
    byteLengths: readonly number[],
  ) {
    this.path = path;
    this.tempPath = tempPath;
    this.#file = file;
    this.#specs = specs;
    this.#byteLengths = byteLengths;
  }

  /**
   * Creates the temporary file and writes the header for `specs` (written in this order) and
   * `metadata` (omitted from the file when empty).
   */
  static async create(
    path: string,
    specs: readonly TensorSpec[],
    metadata: Readonly<Record<string, string>> = {},
  ): Promise<SafetensorsWriter> {
    const copy = specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] }));
    const header = encodeHeader(copy, metadata);
    const tempPath = `${path}.tmp-${randomSuffix()}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tempPath, { write: true, createNew: true });
    } catch (e) {
      throw ioError(e, tempPath, "create");
    }
    const w = new SafetensorsWriter(path, tempPath, file, copy, header.byteLengths);
    try {
      await writeFully(file, header.bytes);
    } catch (e) {
      await w.abort();
      throw ioError(e, tempPath, "write");
    }
    return w;
  }

  /** Names of the tensors still to be written, in order. */
  get pending(): string[] {
    return this.#specs.slice(this.#next).map((s) => s.name);
  }

  /** Writes the next tensor; `name`, dtype and shape must match the next declared spec. */
  async write(name: string, tensor: Tensor): Promise<void> {
    const file = this.#open("write");
    try {
      const spec = this.#specs[this.#next];
      if (spec === undefined || spec.name !== name) {
        throw new QuantlabError(
          "bad-argument",
          `Tensor ${JSON.stringify(name)} written out of order; the next declared tensor is ` +
            (spec === undefined ? "none (all are written)" : JSON.stringify(spec.name)),
        );
      }
      checkTensor(name, tensor);
      if (
        tensor.dtype !== spec.dtype || tensor.shape.length !== spec.shape.length ||
        tensor.shape.some((d, i) => d !== spec.shape[i])
      ) {
        throw new QuantlabError(
          "bad-shape",
          `Tensor ${JSON.stringify(name)} is ${tensor.dtype} [${tensor.shape.join(", ")}] but ` +
            `was declared ${spec.dtype} [${spec.shape.join(", ")}]`,
        );
      }
      if (tensor.byteLength !== this.#byteLengths[this.#next]) {
        throw new QuantlabError("bad-shape", `Tensor ${JSON.stringify(name)} has a wrong size`);
      }
      await writeFully(file, tensorBytes(tensor));
      this.#next++;
    } catch (e) {
      await this.abort();
      throw ioError(e, this.tempPath, "write");
    }
  }

  /** Syncs the data, closes the file and renames it to `path`; every tensor must be written. */
  async close(): Promise<void> {
    const file = this.#open("close");
    try {
      if (this.#next < this.#specs.length) {
        const missing = this.pending;
        throw new QuantlabError(
          "bad-argument",
          `Cannot close ${JSON.stringify(this.path)}: ${missing.length} declared tensors are ` +
            `not written yet, starting with ${JSON.stringify(missing[0])}`,
        );
      }
      await file.syncData();
      file.close();
      this.#file = null;
      await Deno.rename(this.tempPath, this.path);
      this.#done = true;
    } catch (e) {
      await this.abort();
      throw ioError(e, this.path, "finish writing");
    }
  }

  /** Abandons the file: closes and removes the temporary file. Harmless after `close()`. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const file = this.#file;
    this.#file = null;
    try {
      file?.close();
    } catch { /* already closed */ }
    try {
      await Deno.remove(this.tempPath);
    } catch { /* already gone */ }
  }

  /** Aborts unless `close()` succeeded (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.abort();
  }

  #open(action: string): Deno.FsFile {
    if (this.#file === null || this.#done) {
      throw new QuantlabError(
        "bad-argument",
        `Cannot ${action}: the writer for ${JSON.stringify(this.path)} is closed or aborted`,
      );
    }
    return this.#file;
  }
}

/**
 * Writes tensors (and optional metadata) to a safetensors file atomically: the data goes to a
 * temporary file next to `path` that is renamed over `path` when complete, and removed on error.
 * Tensors are ordered as {@linkcode serializeSafetensors} orders them (largest element size first,
 * then by name); the file is written tensor by tensor, without building it in memory.
 *
 * @example
 * ```ts
 * import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { x: new Tensor([], "I32", new Int32Array([5])) }, { a: "b" });
 * const f = await SafetensorsFile.open(path);
 * if (f.metadata.a !== "b" || (await f.read("x")).data[0] !== 5) throw new Error("unexpected");
 * f.close();
 * await Deno.remove(path);
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorMap,
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const ordered = orderForWriting(tensors);
  const w = await SafetensorsWriter.create(
    path,
    ordered.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    metadata,
  );
  for (const [name, t] of ordered) await w.write(name, t);
  await w.close();
}
