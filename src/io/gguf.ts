/**
 * The GGUF container (version 3), as llama.cpp reads it: a header, typed key–value metadata, tensor
 * infos and tensor data, each tensor at an offset aligned to `general.alignment` (32 unless the
 * metadata says otherwise). Format only: F32 and F16 tensors, no quantized types, no model
 * conventions (those belong to whoever fills the metadata and names the tensors).
 *
 * Dimensions are listed as GGUF stores them, fastest-varying first (`ne[0]` = the row length): a
 * row-major `[rows, cols]` array is `dims: [cols, rows]` with the same bytes.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** GGUF's metadata value types, with the ids the format gives them. */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** A scalar metadata type. */
export type GgufScalarType = Exclude<keyof typeof GGUF_VALUE_TYPES, "array">;

/** A scalar value: numbers for the 8–32-bit and float types, bigint for 64-bit integers. */
export type GgufScalar = number | bigint | boolean | string;

/** A typed metadata value. */
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: "array"; itemType: GgufScalarType; value: GgufScalar[] };

/** The tensor types this module reads and writes (GGML type ids 0 and 1). */
export const GGUF_TENSOR_TYPES = { F32: 0, F16: 1 } as const;

/** A tensor type name. */
export type GgufTensorType = keyof typeof GGUF_TENSOR_TYPES;

/** A tensor to write or one that was read. */
export interface GgufTensor {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  name: string;
  /** Dimensions, fastest-varying first. */
  dims: number[];
  /** Element type. */
  type: GgufTensorType;
  /** Elements: f32 values, or f16 bit patterns. */
  data: Float32Array | Uint16Array;
}

/** A whole GGUF file. */
export interface GgufFile {
  /** Format version (3 when written here). */
  version: number;
  /** Metadata in file order. */
  metadata: Map<string, GgufValue>;
  /** Tensors in file order. */
  tensors: GgufTensor[];
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const VERSION = 3;
const DEFAULT_ALIGNMENT = 32;
const SCALAR_BYTES: Record<Exclude<GgufScalarType, "string">, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

class Out {
  bytes = new Uint8Array(1 << 16);
  length = 0;
  #view = new DataView(this.bytes.buffer);
  #text = new TextEncoder();

  reserve(n: number): number {
    if (this.length + n > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // reserve() may replace the buffer and its view: call it before reading this.#view.
  u32(v: number): void {
    const at = this.reserve(4);
    this.#view.setUint32(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.#view.setBigUint64(at, BigInt(v), true);
  }
  string(s: string): void {
    const b = this.#text.encode(s);
    this.u64(b.length);
    const at = this.reserve(b.length); // reserve() may replace this.bytes
    this.bytes.set(b, at);
  }
  raw(b: Uint8Array): void {
    const at = this.reserve(b.length); // reserve() may replace this.bytes
    this.bytes.set(b, at);
  }
  pad(alignment: number): void {
    this.reserve((alignment - (this.length % alignment)) % alignment);
  }
  scalar(type: GgufScalarType, v: GgufScalar, key: string): void {
    if (type === "string") {
      if (typeof v !== "string") throw badValue(key, type, v);
      return this.string(v);
    }
    const at = this.reserve(SCALAR_BYTES[type]);
    const d = this.#view;
    if (type === "bool") {
      if (typeof v !== "boolean") throw badValue(key, type, v);
      return d.setUint8(at, v ? 1 : 0);
    }
    if (type === "u64" || type === "i64") {
      if (typeof v !== "bigint" && !Number.isInteger(v)) throw badValue(key, type, v);
      const b = BigInt(v as number | bigint);
      return type === "u64" ? d.setBigUint64(at, b, true) : d.setBigInt64(at, b, true);
    }
    if (typeof v !== "number") throw badValue(key, type, v);
    if (type !== "f32" && type !== "f64" && !Number.isInteger(v)) throw badValue(key, type, v);
    switch (type) {
      case "u8":
        return d.setUint8(at, v);
      case "i8":
        return d.setInt8(at, v);
      case "u16":
        return d.setUint16(at, v, true);
      case "i16":
        return d.setInt16(at, v, true);
      case "u32":
        return d.setUint32(at, v, true);
      case "i32":
        return d.setInt32(at, v, true);
      case "f32":
        return d.setFloat32(at, v, true);
      case "f64":
        return d.setFloat64(at, v, true);
    }
  }
}

function badValue(key: string, type: string, v: unknown): QuantlabError {
  return new QuantlabError(
    "bad-argument",
    `GGUF metadata "${key}": value ${String(v)} is not a valid ${type}`,
  );
}

function alignmentOf(metadata: Map<string, GgufValue>): number {
  const a = metadata.get("general.alignment");
  if (a === undefined) return DEFAULT_ALIGNMENT;
  const n = Number(a.value);
  if (a.type !== "u32" || !Number.isInteger(n) || n <= 0 || n % 8 !== 0) {
    throw new QuantlabError(
      "bad-file",
      `GGUF general.alignment ${String(a.value)} is not valid; use a u32 multiple of 8`,
    );
  }
  return n;
}

/**
 * The bytes of a GGUF file holding `metadata` and `tensors`, in the given order.
 *
 * @example
 * ```ts
 * import { decodeGguf, encodeGguf } from "./gguf.ts";
 * const bytes = encodeGguf(new Map([["general.name", { type: "string", value: "t" }]]), [
 *   { name: "w", dims: [3, 2], type: "F32", data: new Float32Array([1, 2, 3, 4, 5, 6]) },
 * ]);
 * const back = decodeGguf(bytes);
 * if (back.tensors[0]!.data[5] !== 6 || back.metadata.get("general.name")?.value !== "t") {
 *   throw new Error("round trip failed");
 * }
 * ```
 */
export function encodeGguf(metadata: Map<string, GgufValue>, tensors: GgufTensor[]): Uint8Array {
  const alignment = alignmentOf(metadata);
  const out = new Out();
  out.u32(MAGIC);
  out.u32(VERSION);
  out.u64(tensors.length);
  out.u64(metadata.size);
  for (const [key, v] of metadata) {
    out.string(key);
    out.u32(GGUF_VALUE_TYPES[v.type]);
    if (v.type === "array") {
      out.u32(GGUF_VALUE_TYPES[v.itemType]);
      out.u64(v.value.length);
      for (const x of v.value) out.scalar(v.itemType, x, key);
    } else {
      out.scalar(v.type, v.value, key);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) {
      throw new QuantlabError("bad-argument", `GGUF tensor "${t.name}" is listed twice`);
    }
    names.add(t.name);
    const count = t.dims.reduce((a, b) => a * b, 1);
    const want = t.type === "F32" ? Float32Array : Uint16Array;
    if (!(t.data instanceof want) || t.data.length !== count) {
      throw new QuantlabError(
        "bad-argument",
        `GGUF tensor "${t.name}": dims [${t.dims}] need ${count} ${t.type} values; got ${t.data.length}`,
      );
    }
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGUF_TENSOR_TYPES[t.type]);
    out.u64(offset);
    offsets.push(offset);
    offset += t.data.byteLength;
    offset += (alignment - (offset % alignment)) % alignment;
  }
  out.pad(alignment);
  const dataStart = out.length;
  for (const [i, t] of tensors.entries()) {
    out.reserve(dataStart + offsets[i]! - out.length);
    out.raw(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  out.pad(alignment);
  return out.bytes.slice(0, out.length);
}

/** Writes {@linkcode encodeGguf}'s bytes to `path`. */
export async function writeGguf(
  path: string,
  metadata: Map<string, GgufValue>,
  tensors: GgufTensor[],
): Promise<void> {
  await Deno.writeFile(path, encodeGguf(metadata, tensors));
}

class In {
  at = 0;
  readonly #view: DataView;
  readonly #text = new TextDecoder("utf-8", { fatal: true });
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): number {
    if (this.at + n > this.bytes.length) {
      throw new QuantlabError(
        "bad-file",
        `GGUF file ends at byte ${this.bytes.length} inside ${what} (needs ${this.at + n})`,
      );
    }
    const at = this.at;
    this.at += n;
    return at;
  }
  u32(what: string): number {
    return this.#view.getUint32(this.need(4, what), true);
  }
  u64(what: string): number {
    const v = this.#view.getBigUint64(this.need(8, what), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new QuantlabError("bad-file", `GGUF ${what} ${v} is too large`);
    }
    return Number(v);
  }
  string(what: string): string {
    const n = this.u64(`the length of ${what}`);
    const at = this.need(n, what);
    try {
      return this.#text.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new QuantlabError("bad-file", `GGUF ${what} is not valid UTF-8`);
    }
  }
  scalar(type: GgufScalarType, what: string): GgufScalar {
    if (type === "string") return this.string(what);
    const at = this.need(SCALAR_BYTES[type], what);
    const d = this.#view;
    switch (type) {
      case "u8":
        return d.getUint8(at);
      case "i8":
        return d.getInt8(at);
      case "u16":
        return d.getUint16(at, true);
      case "i16":
        return d.getInt16(at, true);
      case "u32":
        return d.getUint32(at, true);
      case "i32":
        return d.getInt32(at, true);
      case "f32":
        return d.getFloat32(at, true);
      case "bool":
        return d.getUint8(at) !== 0;
      case "u64":
        return d.getBigUint64(at, true);
      case "i64":
        return d.getBigInt64(at, true);
      case "f64":
        return d.getFloat64(at, true);
    }
  }
}

function typeName(id: number, what: string): keyof typeof GGUF_VALUE_TYPES {
  const name = (Object.keys(GGUF_VALUE_TYPES) as (keyof typeof GGUF_VALUE_TYPES)[])
    .find((k) => GGUF_VALUE_TYPES[k] === id);
  if (name === undefined) {
    throw new QuantlabError("bad-file", `GGUF ${what} has value type ${id}, which is not valid`);
  }
  return name;
}

/**
 * Parses a GGUF file (version 2 or 3) with F32/F16 tensors. Errors: `bad-file` naming what is wrong;
 * `unsupported` for other tensor types.
 */
export function decodeGguf(bytes: Uint8Array): GgufFile {
  const r = new In(bytes);
  const magic = r.u32("the magic");
  if (magic !== MAGIC) {
    throw new QuantlabError("bad-file", `Not a GGUF file: magic 0x${magic.toString(16)}`);
  }
  const version = r.u32("the version");
  if (version !== 2 && version !== 3) {
    throw new QuantlabError("unsupported", `GGUF version ${version} is not supported; use 2 or 3`);
  }
  const nTensors = r.u64("the tensor count");
  const nKv = r.u64("the metadata count");
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = r.string(`metadata key ${i}`);
    const type = typeName(r.u32(`the type of "${key}"`), `"${key}"`);
    if (type === "array") {
      const itemType = typeName(r.u32(`the item type of "${key}"`), `"${key}"`);
      if (itemType === "array") {
        throw new QuantlabError("unsupported", `GGUF "${key}": nested arrays are not supported`);
      }
      const n = r.u64(`the length of "${key}"`);
      const value: GgufScalar[] = [];
      for (let j = 0; j < n; j++) value.push(r.scalar(itemType, `"${key}"[${j}]`));
      metadata.set(key, { type, itemType, value });
    } else {
      metadata.set(key, { type, value: r.scalar(type, `"${key}"`) });
    }
  }
  const alignment = alignmentOf(metadata);
  const infos: { name: string; dims: number[]; type: GgufTensorType; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = r.string(`tensor name ${i}`);
    const nDims = r.u32(`the rank of "${name}"`);
    const dims = Array.from({ length: nDims }, (_, d) => r.u64(`dimension ${d} of "${name}"`));
    const typeId = r.u32(`the type of "${name}"`);
    const type = (Object.keys(GGUF_TENSOR_TYPES) as GgufTensorType[])
      .find((k) => GGUF_TENSOR_TYPES[k] === typeId);
    if (type === undefined) {
      throw new QuantlabError(
        "unsupported",
        `GGUF tensor "${name}" has type ${typeId}; only F32 (0) and F16 (1) are read`,
      );
    }
    const offset = r.u64(`the offset of "${name}"`);
    if (offset % alignment !== 0) {
      throw new QuantlabError(
        "bad-file",
        `GGUF tensor "${name}" starts at offset ${offset}, not a multiple of ${alignment}`,
      );
    }
    infos.push({ name, dims, type, offset });
  }
  const dataStart = Math.ceil(r.at / alignment) * alignment;
  const tensors = infos.map((t): GgufTensor => {
    const count = t.dims.reduce((a, b) => a * b, 1);
    const size = count * (t.type === "F32" ? 4 : 2);
    const begin = dataStart + t.offset;
    if (begin + size > bytes.length) {
      throw new QuantlabError(
        "bad-file",
        `GGUF tensor "${t.name}" needs bytes ${begin}–${
          begin + size
        }; the file has ${bytes.length}`,
      );
    }
    const copy = bytes.slice(begin, begin + size).buffer;
    const data = t.type === "F32" ? new Float32Array(copy) : new Uint16Array(copy);
    return { name: t.name, dims: t.dims, type: t.type, data };
  });
  return { version, metadata, tensors };
}

/** Reads and parses the GGUF file at `path` (see {@linkcode decodeGguf}). */
export async function readGguf(path: string): Promise<GgufFile> {
  return decodeGguf(await Deno.readFile(path));
}
