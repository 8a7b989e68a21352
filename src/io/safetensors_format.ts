// This module is browser compatible.
/**
 * The safetensors format without file access: header parsing and validation, in-memory parsing
 * and serialisation. `src/io/safetensors.ts` adds the Deno file layer on top.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (the header), then the
 * byte buffer. The header maps each tensor name to `{"dtype", "shape", "data_offsets"}` (offsets
 * relative to the buffer, end exclusive), plus an optional `"__metadata__"` map of string → string.
 *
 * Validation follows the reference implementation (huggingface/safetensors), and is slightly
 * stricter in two places: a key that occurs twice in one JSON object is rejected (`JSON.parse`
 * would keep the last one silently), and shapes or sizes beyond 2^53 − 1 are rejected. Like the
 * reference, keys of a tensor entry other than the three above are ignored. Every failure is a
 * {@linkcode QuantlabError}: `bad-file` for a malformed file, `unsupported` for a tensor whose
 * dtype safetensors defines but quantlab does not handle (F8_E4M3, F8_E5M2, F4, …).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, DTYPE_BYTES, isDType, Tensor, viewAs } from "../core/tensor.ts";
import { findDuplicateKey } from "./safetensors_json.ts";
import { q } from "./paths.ts";

/** The largest header the reference implementation accepts, in bytes. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Dtype names that safetensors defines but quantlab does not read or write. */
export const UNSUPPORTED_DTYPES: readonly string[] = [
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F8_E4M3FNUZ",
  "F8_E5M2FNUZ",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
];

/** Where a tensor lives in a safetensors file. */
export interface TensorInfo {
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, outermost first (`[]` for a scalar). */
  readonly shape: readonly number[];
  /** Offset of the first byte from the start of the file (8 + header length + begin). */
  readonly byteOffset: number;
  /** Size of the data in bytes (end − begin). */
  readonly byteLength: number;
}

/** A parsed and validated safetensors header. */
export interface SafetensorsHeader {
  /** The header length N stored in the first 8 bytes (padding included). */
  readonly headerLength: number;
  /** Offset of the byte buffer from the start of the file: 8 + N. */
  readonly dataStart: number;
  /** Total file size: 8 + N + buffer length. */
  readonly fileLength: number;
  /** The `__metadata__` map (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor, in file order (by offset; zero-length ties by name). */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
}

/** A tensor's name, dtype and shape: what a header needs before the data exists. */
export interface TensorSpec {
  /** Tensor name (any string but `__metadata__`). */
  readonly name: string;
  /** Element type. */
  readonly dtype: DType;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
}

/** Tensors by name, as a plain object or a Map. */
export type TensorMap = Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>;

/** A whole safetensors file parsed from memory. */
export interface ParsedSafetensors {
  /** The validated header. */
  readonly header: SafetensorsHeader;
  /** The `__metadata__` map (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor, in file order; data views the input bytes where aligned. */
  readonly tensors: Map<string, Tensor>;
}

/** Shows a JSON value briefly for an error message. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? s.slice(0, 120) + "…" : s;
}

function badFile(file: string, message: string, cause?: unknown): QuantlabError {
  return new QuantlabError(
    "bad-file",
    `Safetensors file ${q(file)}: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

const isIndex = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Reads and checks the header length N from the first 8 bytes of a file of `fileLength` bytes:
 * N ≤ 100,000,000 and 8 + N ≤ `fileLength`.
 *
 * @example
 * ```ts
 * import { readHeaderLength } from "./safetensors_format.ts";
 * const first8 = new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0]);
 * if (readHeaderLength(first8, 24, "a.safetensors") !== 16) throw new Error("unexpected");
 * ```
 */
export function readHeaderLength(first8: Uint8Array, fileLength: number, file: string): number {
  if (fileLength < 8 || first8.byteLength < 8) {
    throw badFile(
      file,
      `it is ${fileLength} bytes long, too short for the 8-byte header length; ` +
        "not a safetensors file",
    );
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi >= 2 ** 21 || n > MAX_HEADER_BYTES) {
    const exact = (BigInt(hi) << 32n) | BigInt(lo);
    throw badFile(
      file,
      `header length ${exact} exceeds the limit of ${MAX_HEADER_BYTES} bytes; ` +
        "not a safetensors file or a corrupted one",
    );
  }
  if (n > fileLength - 8) {
    throw badFile(
      file,
      `header length ${n} runs past the end of the ${fileLength}-byte file ` +
        `(at most ${fileLength - 8}); the file is truncated or corrupted`,
    );
  }
  return n;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Element count of a shape, or -1 if a partial product exceeds 2^53 − 1 (in order, like the
 * reference's checked fold). */
function checkedNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

function parseMetadata(v: unknown, file: string): Record<string, string> {
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) {
    throw badFile(
      file,
      `"__metadata__" is ${show(v)}; it must be an object mapping strings to strings`,
    );
  }
  const entries = Object.entries(v as Record<string, unknown>);
  for (const [k, s] of entries) {
    if (typeof s !== "string") {
      throw badFile(file, `metadata key ${q(k)} holds ${show(s)}; metadata values must be strings`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseEntry(
  name: string,
  v: unknown,
  file: string,
): { dtype: DType; shape: number[]; begin: number; end: number } {
  const where = `tensor ${q(name)}`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw badFile(
      file,
      `${where} is described by ${show(v)}; expected {"dtype", "shape", "data_offsets"}`,
    );
  }
  const e = v as Record<string, unknown>;
  for (const key of ["dtype", "shape", "data_offsets"]) {
    if (!Object.hasOwn(e, key)) throw badFile(file, `${where} has no "${key}"`);
  }
  const dtype = e.dtype;
  if (typeof dtype !== "string") {
    throw badFile(file, `${where} has dtype ${show(dtype)}; the dtype must be a string`);
  }
  if (!isDType(dtype)) {
    if (UNSUPPORTED_DTYPES.includes(dtype)) {
      throw new QuantlabError(
        "unsupported",
        `Safetensors file ${q(file)}: ${where} has dtype ${dtype}, which quantlab does not ` +
          `support; supported dtypes are ${Object.keys(DTYPE_BYTES).join(", ")}`,
      );
    }
    throw badFile(
      file,
      `${where} has unknown dtype ${q(dtype)}; safetensors dtypes are ` +
        `${Object.keys(DTYPE_BYTES).join(", ")}, ${UNSUPPORTED_DTYPES.join(", ")}`,
    );
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw badFile(
      file,
      `${where} has shape ${show(shape)}; a shape is a list of integers ≥ 0 (below 2^53)`,
    );
  }
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    throw badFile(
      file,
      `${where} has data_offsets ${show(offsets)}; expected [begin, end] with integers ≥ 0`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw badFile(file, `${where} has data_offsets [${begin}, ${end}] with begin after end`);
  }
  const n = checkedNumel(shape);
  const bytes = n * DTYPE_BYTES[dtype];
  if (n < 0 || bytes > Number.MAX_SAFE_INTEGER) {
    throw badFile(file, `${where} has shape [${shape.join(", ")}], too large to address`);
  }
  if (end - begin !== bytes) {
    throw badFile(
      file,
      `${where} has data_offsets [${begin}, ${end}] spanning ${end - begin} bytes, but ` +
        `${dtype} shape [${shape.join(", ")}] needs ${bytes}`,
    );
  }
  // `+ 0` turns a JSON "-0" into 0.
  return { dtype, shape: shape.map((d: number) => d + 0), begin, end };
}

/**
 * Parses and validates a header: `json` holds the N header bytes that follow the 8-byte length
 * in a file of `fileLength` bytes (the tensor spans must cover the rest of the file exactly).
 * `file` names the file in error messages.
 *
 * @example
 * ```ts
 * import { parseHeader } from "./safetensors_format.ts";
 * const json = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
 * const h = parseHeader(json, 8 + json.length + 8, "w.safetensors");
 * if (h.tensors.get("w")?.byteOffset !== 8 + json.length) throw new Error("unexpected");
 * ```
 */
export function parseHeader(json: Uint8Array, fileLength: number, file: string): SafetensorsHeader {
  const headerLength = json.byteLength;
  const dataStart = 8 + headerLength;
  if (json[0] !== 0x7b) {
    const first = json.length === 0 ? "nothing" : `byte 0x${json[0]!.toString(16)}`;
    throw badFile(file, `the header starts with ${first}; it must start with "{"`);
  }
  let text: string;
  try {
    text = utf8.decode(json);
  } catch (e) {
    throw badFile(file, "the header is not valid UTF-8", e);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw badFile(file, `the header is not valid JSON (${(e as Error).message})`, e);
  }
  if (typeof root !== "object" || root === null || Array.isArray(root)) {
    throw badFile(file, "the header is not a JSON object");
  }
  const dup = findDuplicateKey(text);
  if (dup !== null) {
    throw badFile(file, `the header has the key ${q(dup)} twice; keys must be unique`);
  }
  let metadata: Record<string, string> = {};
  const spans: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(root as Record<string, unknown>)) {
    if (name === "__metadata__") metadata = parseMetadata(v, file);
    else spans.push({ name, ...parseEntry(name, v, file) });
  }
  spans.sort((a, b) =>
    a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const bufferLength = fileLength - dataStart;
  let cursor = 0;
  const tensors = new Map<string, TensorInfo>();
  for (const s of spans) {
    if (s.begin !== cursor) {
      const prev = spans[spans.indexOf(s) - 1];
      throw badFile(
        file,
        s.begin < cursor
          ? `tensor ${q(s.name)} at data_offsets [${s.begin}, ${s.end}] overlaps tensor ` +
            `${q(prev!.name)}, which ends at ${cursor}`
          : `no tensor covers bytes ${cursor} to ${s.begin} of the buffer (before tensor ` +
            `${q(s.name)}); tensors must cover the buffer without gaps`,
      );
    }
    cursor = s.end;
    tensors.set(s.name, {
      dtype: s.dtype,
      shape: s.shape,
      byteOffset: dataStart + s.begin,
      byteLength: s.end - s.begin,
    });
  }
  if (cursor !== bufferLength) {
    throw badFile(
      file,
      cursor > bufferLength
        ? `the tensors need a ${cursor}-byte buffer but the file holds only ${bufferLength} ` +
          "bytes after the header; the file is truncated"
        : `the file has ${bufferLength - cursor} bytes after the last tensor (the buffer is ` +
          `${bufferLength} bytes, the tensors end at ${cursor}); tensors must cover it exactly`,
    );
  }
  return { headerLength, dataStart, fileLength, metadata, tensors };
}

/**
 * Parses a whole safetensors file held in memory. The tensors view `bytes` without copying where
 * their offset is aligned to their element size (always for files written by
 * {@linkcode serializeSafetensors}); misaligned ones are copied.
 *
 * @example
 * ```ts
 * import { parseSafetensors, serializeSafetensors } from "./safetensors_format.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const bytes = serializeSafetensors({ w: Tensor.f32([2], new Float32Array([1, 2])) });
 * const { tensors } = parseSafetensors(bytes);
 * if (tensors.get("w")?.data[1] !== 2) throw new Error("unexpected");
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, file = "<memory>"): ParsedSafetensors {
  const n = readHeaderLength(bytes, bytes.byteLength, file);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.byteLength, file);
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of header.tensors) {
    const view = bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength);
    tensors.set(name, new Tensor(info.shape, info.dtype, viewAs(info.dtype, view)));
  }
  return { header, metadata: header.metadata, tensors };
}

/**
 * The raw little-endian bytes of a tensor's data (a view, not a copy).
 *
 * @example
 * ```ts
 * import { tensorBytes } from "./safetensors_format.ts";
 * import { Tensor } from "../core/tensor.ts";
 * if (tensorBytes(Tensor.zeros([3])).length !== 12) throw new Error("unexpected");
 * ```
 */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function checkMetadata(metadata: Readonly<Record<string, string>>): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new QuantlabError(
        "bad-argument",
        `Metadata key ${q(k)} holds ${show(v)}; safetensors metadata values must be strings`,
      );
    }
  }
}

/** The encoded header of a file about to be written. */
export interface EncodedHeader {
  /** The 8-byte length followed by the space-padded JSON header (a multiple of 8 bytes). */
  readonly bytes: Uint8Array;
  /** Size of the byte buffer that must follow: the sum of the tensors' sizes. */
  readonly dataLength: number;
  /** Each tensor's size in bytes, in the order of the specs. */
  readonly byteLengths: readonly number[];
}

/**
 * Encodes the header for tensors that will follow in the order of `specs`, padded with spaces so
 * the data starts 8-byte aligned. Metadata is written only when it has at least one key.
 *
 * @example
 * ```ts
 * import { encodeHeader } from "./safetensors_format.ts";
 * const h = encodeHeader([{ name: "w", dtype: "F16", shape: [3] }]);
 * if (h.bytes.length % 8 !== 0 || h.dataLength !== 6) throw new Error("unexpected");
 * ```
 */
export function encodeHeader(
  specs: readonly TensorSpec[],
  metadata: Readonly<Record<string, string>> = {},
): EncodedHeader {
  checkMetadata(metadata);
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) {
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const seen = new Set<string>();
  const byteLengths: number[] = [];
  let offset = 0;
  for (const { name, dtype, shape } of specs) {
    if (typeof name !== "string" || name === "__metadata__" || seen.has(name)) {
      throw new QuantlabError(
        "bad-argument",
        name === "__metadata__"
          ? `Tensor name "__metadata__" is reserved for safetensors metadata; rename the tensor`
          : `Tensor name ${show(name)} is given twice or is not a string; names must be unique`,
      );
    }
    seen.add(name);
    if (!isDType(dtype)) {
      throw new QuantlabError(
        "unsupported",
        `Tensor ${q(name)} has dtype ${show(dtype)}; writable dtypes are ` +
          Object.keys(DTYPE_BYTES).join(", "),
      );
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw new QuantlabError(
        "bad-shape",
        `Tensor ${q(name)} has shape ${show(shape)}; dimensions must be integers ≥ 0`,
      );
    }
    const n = checkedNumel(shape);
    const bytes = n * DTYPE_BYTES[dtype];
    if (n < 0 || bytes > Number.MAX_SAFE_INTEGER) {
      throw new QuantlabError("bad-shape", `Tensor ${q(name)} shape ${show(shape)} is too large`);
    }
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},` +
        `"data_offsets":[${offset},${offset + bytes}]}`,
    );
    byteLengths.push(bytes);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) {
    throw new QuantlabError(
      "unsupported",
      `The safetensors header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte ` +
        "limit readers accept; split the tensors over several files",
    );
  }
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { bytes, dataLength: offset, byteLengths };
}

/**
 * Throws a `bad-argument` error unless the tensor's typed array matches its dtype and shape
 * (a guard against tensors built by casting around the {@linkcode Tensor} constructor).
 *
 * @example
 * ```ts
 * import { checkTensor } from "./safetensors_format.ts";
 * import { Tensor } from "../core/tensor.ts";
 * checkTensor("w", new Tensor([2], "F16", new Uint16Array(2))); // consistent: returns
 * let threw = false;
 * try {
 *   checkTensor("w", new Tensor([3], "F16", new Uint16Array(2)));
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("a shape that does not match the data was accepted");
 * ```
 */
export function checkTensor(name: string, t: Tensor): void {
  const size = DTYPE_BYTES[t.dtype];
  if (
    size === undefined || t.data.BYTES_PER_ELEMENT !== size ||
    t.data.length !== checkedNumel(t.shape)
  ) {
    throw new QuantlabError(
      "bad-argument",
      `Tensor ${q(name)} (${show(t.dtype)}, shape ${show(t.shape)}) holds ` +
        `${t.data.length} elements of ${t.data.BYTES_PER_ELEMENT} bytes; they do not match`,
    );
  }
}

/**
 * The tensors of `tensors` in the order serialisation writes them: by element size, largest
 * first (so every tensor's data is aligned to its element size), then by name.
 *
 * @example
 * ```ts
 * import { orderForWriting } from "./safetensors_format.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const a = new Tensor([1], "U8", new Uint8Array(1));
 * const b = Tensor.zeros([1]);
 * if (orderForWriting({ a, b }).map(([n]) => n).join() !== "b,a") throw new Error("unexpected");
 * ```
 */
export function orderForWriting(tensors: TensorMap): [string, Tensor][] {
  const entries = tensors instanceof Map
    ? [...(tensors as ReadonlyMap<string, Tensor>)]
    : Object.entries(tensors as Readonly<Record<string, Tensor>>);
  for (const [name, t] of entries) checkTensor(name, t);
  return entries.sort(([na, a], [nb, b]) =>
    DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0)
  );
}

/**
 * Serialises tensors (and optional metadata) to safetensors bytes. Tensors are written in a
 * deterministic order: by element size, largest first, then by name (like the reference writer),
 * and the header is padded with spaces so the data starts 8-byte aligned.
 *
 * @example
 * ```ts
 * import { serializeSafetensors } from "./safetensors_format.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const bytes = serializeSafetensors({ w: Tensor.zeros([2, 2]) }, { format: "pt" });
 * if ((bytes.length - 16) % 8 !== 0) throw new Error("unexpected");
 * ```
 */
export function serializeSafetensors(
  tensors: TensorMap,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const ordered = orderForWriting(tensors);
  const header = encodeHeader(
    ordered.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    metadata,
  );
  const out = new Uint8Array(header.bytes.length + header.dataLength);
  out.set(header.bytes);
  let at = header.bytes.length;
  for (const [, t] of ordered) {
    out.set(tensorBytes(t), at);
    at += t.byteLength;
  }
  return out;
}
