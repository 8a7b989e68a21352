/**
 * Portable quantized checkpoints: any {@linkcode QuantizedTensor} (every method) as plain
 * safetensors tensors plus a JSON description, so a checkpoint written here loads anywhere (no
 * GPU, no quantlab-specific binary layout) and decodes bit-exactly to the Ŵ computed before saving.
 *
 * ## Layout
 * For a quantized weight `NAME` the safetensors file holds
 * - `NAME.codes`  U32 [rows, words per row]: packed codes (layout of `src/quant/packing.ts`;
 *   I32 is accepted on load and read as the same bits);
 * - `NAME.table`  F32 or F16 [2^codeBits, p]: the lookup table (HIGGS grid, NF4 levels, …);
 * - `NAME.scales` F32/F16/BF16 [rows, paddedCols/g] (groups along the columns) or
 *   [rows/g, paddedCols] (along the rows); with 8-bit meta-quantization `NAME.scales` is U8 (the
 *   codes) and `NAME.scales.meta_scale` / `NAME.scales.meta_zero` are F32 [meta groups], decoded
 *   decoded by `src/quant/meta_quant.ts` with the map, arithmetic precision and offset recorded in
 *   the descriptor (affine: (code − meta_zero)·meta_scale; dynamic: map[code]·meta_scale + offset);
 * - `NAME.zeros` (affine methods): like `NAME.scales`.
 *
 * Each file's `__metadata__` has `"format": "pt"` and `"quantlab"`: a JSON string
 * `{"format": "quantlab.quantized", "version": 1, "run": <fingerprint>, "tensors": {NAME:
 * descriptor}}` where a descriptor holds method, shape, paddedCols, p, codeBits, groupSize,
 * groupAxis, tableDtype, rotation, scaleStorage, zeroStorage, params and the source dtype. Tensors
 * that are not quantized (embeddings, norms, lm_head by default, every 1-D tensor) are stored
 * unchanged under their own names. A checkpoint folder also gets `config.json` with a
 * `quantization_config` (`quant_method: "quantlab"`, method, parameters, format version) and
 * copies of the other files of the source folder (tokenizer, generation config, …).
 *
 * ## Streaming and resuming
 * {@linkcode quantizeCheckpoint} holds one tensor at a time. Every quantized tensor is first
 * written atomically to its own part file in a work folder (`OUT/.quantlab-work/`, or
 * `OUT.quantlab-work/` for a single output file) and recorded in `progress.jsonl`; when a source
 * file's tensors are all done, its output file is assembled by streaming the parts and the
 * unquantized tensors into one safetensors file (atomic rename), and its parts are removed. A
 * killed run therefore resumes at tensor granularity for quantization (finished tensors are
 * skipped) and at file granularity for assembly (a finished output file, recognised by the run
 * fingerprint in its metadata, is skipped). Resuming with other options is refused.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, numel, Tensor } from "../core/tensor.ts";
import { fromBf16, fromF16, toBf16, toF16 } from "../core/dtype.ts";
import {
  type ParamStorage,
  QUANT_METHODS,
  type QuantizedTensor,
  type QuantMethod,
  type Rotation,
  validateQuantized,
} from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { dynamicMap, type Int8Storage, metaDequantize, type MetaMap } from "../quant/meta_quant.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import { getQuantizer } from "../quant/registry.ts";
import { dequantizeParallel } from "../quant/dequantize.ts";
import { type TensorError, tensorError } from "../quant/error_metrics.ts";
import type { Backend } from "../gpu/backend.ts";
import { progress } from "../cli/progress.ts";
import { ioError, SafetensorsFile, SafetensorsWriter, writeSafetensors } from "./safetensors.ts";
import type { TensorSpec } from "./safetensors_format.ts";
import { listFolderFiles, resolveModelPath } from "./hf_cache.ts";
import { CHECKSUM_PATTERN, checksumOf } from "./checksum.ts";
import { INDEX_FILE, openCheckpoint } from "./sharded.ts";
import { findDuplicateKey } from "./safetensors_json.ts";

/** Version of the checkpoint layout described in this module. */
export const QUANT_FORMAT_VERSION = 1;
/** The `format` string inside the `quantlab` metadata entry. */
export const QUANT_FORMAT_NAME = "quantlab.quantized";

/** How a per-group parameter array is stored, as written in a descriptor. */
export type StorageDescriptor =
  | { kind: "float"; dtype: "F32" | "F16" | "BF16" }
  | {
    kind: "int8";
    /** Parameters per meta group. */
    group: number;
    /** affine: (q − zero)·scale, meta_zero stored; dynamic: map[q]·absmax + offset. */
    map: MetaMap;
    /** Arithmetic precision of the affine decoder (F32 for dynamic). */
    dtype: "F16" | "F32";
    /** Dynamic map: the per-tensor offset added after decoding (0 for affine). */
    offset: number;
  };

/** The JSON description of one quantized tensor (everything but the arrays). */
export interface QuantizedTensorDescriptor {
  /** Quantization method. */
  method: QuantMethod;
  /** Original shape [rows, cols]. */
  shape: [number, number];
  /** Columns after zero-padding. */
  paddedCols: number;
  /** Weights per code word. */
  p: number;
  /** Bits per code word. */
  codeBits: number;
  /** Weights per scale group. */
  groupSize: number;
  /** Group axis (1: along columns). */
  groupAxis: 0 | 1;
  /** Stored precision of the table. */
  tableDtype: "F32" | "F16";
  /** Rotation applied before quantization. */
  rotation: Rotation;
  /** How scales are stored. */
  scaleStorage: StorageDescriptor;
  /** How zeros are stored, for affine methods. */
  zeroStorage?: StorageDescriptor;
  /** Method parameters. */
  params: Record<string, string | number | boolean | null>;
  /** Dtype of the source tensor (informational). */
  sourceDtype?: string;
  /**
   * `"xxh64:<16 hex>"` of the stored bytes of the tensor's parts in
   * {@linkcode quantizedTensorNames} order (codes, table, scales and zeros with any meta tensors);
   * checked on every read. Absent in checkpoints written before checksums (they load unchecked).
   */
  checksum?: string;
}

const q = (s: string): string => JSON.stringify(s.length > 120 ? s.slice(0, 120) + "…" : s);

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

function baseName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * The descriptor of a quantized tensor.
 *
 * @example
 * ```ts
 * import { describeQuantized } from "./quantized_checkpoint.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const d = describeQuantized({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * });
 * if (d.codeBits !== 2 || d.scaleStorage.kind !== "float") throw new Error();
 * ```
 */
export function describeQuantized(
  qt: QuantizedTensor,
  sourceDtype?: string,
  storages?: { scales: StorageDescriptor; zeros?: StorageDescriptor },
): QuantizedTensorDescriptor {
  const storageDescriptor = (
    s: ParamStorage,
    what: "scales" | "zeros",
    v: Float32Array,
  ): StorageDescriptor =>
    s.kind === "float"
      ? { kind: "float", dtype: s.dtype }
      : identifyInt8("tensor", what, v, s, qt.params);
  const d: QuantizedTensorDescriptor = {
    method: qt.method,
    shape: [qt.shape[0], qt.shape[1]],
    paddedCols: qt.paddedCols,
    p: qt.p,
    codeBits: qt.codeBits,
    groupSize: qt.groupSize,
    groupAxis: qt.groupAxis,
    tableDtype: qt.tableDtype,
    rotation: qt.rotation.kind === "hadamard"
      ? { kind: "hadamard", size: qt.rotation.size, seed: qt.rotation.seed }
      : { kind: "none" },
    scaleStorage: storages?.scales ?? storageDescriptor(qt.scaleStorage, "scales", qt.scales),
    params: { ...qt.params },
  };
  if (qt.zeros) {
    d.zeroStorage = storages?.zeros ??
      storageDescriptor(qt.zeroStorage ?? { kind: "float", dtype: "F32" }, "zeros", qt.zeros);
  }
  if (sourceDtype) d.sourceDtype = sourceDtype;
  return d;
}

/** Shape of the scales/zeros tensor: one entry per group, laid out like the weight. */
function groupShape(
  d: Pick<QuantizedTensorDescriptor, "shape" | "paddedCols" | "groupSize" | "groupAxis">,
): number[] {
  return d.groupAxis === 1
    ? [d.shape[0], d.paddedCols / d.groupSize]
    : [d.shape[0] / d.groupSize, d.paddedCols];
}

/** Same bits, or a `bad-value` error: saving must never change a value. */
function exactOrThrow(
  name: string,
  what: string,
  values: Float32Array,
  back: Float32Array,
  dtype: string,
): void {
  for (let i = 0; i < values.length; i++) {
    if (!Object.is(values[i], back[i])) {
      throw new QuantlabError(
        "bad-value",
        `Cannot save "${name}": ${what}[${i}] = ${values[i]} is not exactly representable as ` +
          `${dtype}, its declared storage; the quantizer must round it first`,
      );
    }
  }
}

function floatTensor(
  name: string,
  what: string,
  values: Float32Array,
  dtype: "F32" | "F16" | "BF16",
  shape: number[],
): Tensor {
  if (dtype === "F32") return new Tensor(shape, "F32", values);
  if (dtype === "F16") {
    const h = toF16(values);
    exactOrThrow(name, what, values, fromF16(h), dtype);
    return new Tensor(shape, "F16", h);
  }
  const b = toBf16(values);
  exactOrThrow(name, what, values, fromBf16(b), dtype);
  return new Tensor(shape, "BF16", b);
}

/** Decodes 8-bit parameter storage as its descriptor says (the meta-quantizer's own decoder). */
function decodeInt8(
  storage: Int8Storage,
  count: number,
  d: Extract<StorageDescriptor, { kind: "int8" }>,
): Float32Array {
  return metaDequantize(storage, count, d.map, { dtype: d.dtype, offset: d.offset });
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * How 8-bit meta-quantized parameters decode: `ParamStorage` keeps codes, meta scales and zeros
 * but not the map (affine / dynamic), the arithmetic precision or the dynamic map's offset, so
 * they are recovered here by finding the decoder of `meta_quant.ts` that reproduces the values
 * exactly (and then written to the descriptor).
 */
function identifyInt8(
  name: string,
  what: string,
  values: Float32Array,
  s: Int8Storage,
  params: QuantizedTensor["params"],
): Extract<StorageDescriptor, { kind: "int8" }> {
  const n = values.length;
  const tries: Extract<StorageDescriptor, { kind: "int8" }>[] = [];
  if (s.metaZero) {
    for (const dtype of ["F16", "F32"] as const) {
      tries.push({ kind: "int8", group: s.group, map: "affine", dtype, offset: 0 });
    }
  } else {
    const offsets = new Set<number>([0]);
    for (const [k, v] of Object.entries(params)) {
      if (typeof v === "number" && /offset/i.test(k)) offsets.add(Math.fround(v));
    }
    // v = f32(f32(map[q]·absmax) + offset): the element with the smallest |map[q]·absmax| gives it.
    const map = dynamicMap();
    let best = -1;
    let bestT = Infinity;
    for (let i = 0; i < n; i++) {
      const t = Math.abs(Math.fround(map[s.codes[i]!]! * s.metaScale[Math.floor(i / s.group)]!));
      if (t < bestT) [best, bestT] = [i, t];
    }
    if (best >= 0) {
      const t = Math.fround(map[s.codes[best]!]! * s.metaScale[Math.floor(best / s.group)]!);
      const f = new Float32Array([values[best]! - t]);
      const u = new Int32Array(f.buffer);
      const base = u[0]!;
      for (let d = -2; d <= 2; d++) {
        u[0] = base + d;
        if (Number.isFinite(f[0]!)) offsets.add(f[0]!);
      }
    }
    for (const offset of offsets) {
      tries.push({ kind: "int8", group: s.group, map: "dynamic", dtype: "F32", offset });
    }
  }
  for (const d of tries) {
    try {
      if (sameValues(decodeInt8(s, n, d), values)) return d;
    } catch {
      // a decoder that does not fit this storage: try the next
    }
  }
  throw new QuantlabError(
    "bad-value",
    `Cannot save "${name}": its 8-bit ${what} do not decode to its ${what} with any decoder of ` +
      `meta_quant.ts (affine f16/f32, dynamic), so a reloaded checkpoint would not be bit-exact`,
  );
}

function paramTensors(
  name: string,
  what: "scales" | "zeros",
  values: Float32Array,
  storage: ParamStorage,
  shape: number[],
  params: QuantizedTensor["params"],
): { tensors: [string, Tensor][]; descriptor: StorageDescriptor } {
  const key = `${name}.${what}`;
  if (storage.kind === "float") {
    return {
      tensors: [[key, floatTensor(name, what, values, storage.dtype, shape)]],
      descriptor: { kind: "float", dtype: storage.dtype },
    };
  }
  const metaGroups = Math.ceil(values.length / storage.group);
  if (storage.codes.length !== values.length || storage.metaScale.length !== metaGroups) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot save "${name}": its 8-bit ${what} hold ${storage.codes.length} codes and ` +
        `${storage.metaScale.length} meta scales; expected ${values.length} and ${metaGroups}`,
    );
  }
  const descriptor = identifyInt8(name, what, values, storage, params);
  const tensors: [string, Tensor][] = [
    [key, new Tensor(shape, "U8", storage.codes)],
    [`${key}.meta_scale`, new Tensor([metaGroups], "F32", storage.metaScale)],
  ];
  if (storage.metaZero) {
    tensors.push([`${key}.meta_zero`, new Tensor([metaGroups], "F32", storage.metaZero)]);
  }
  return { tensors, descriptor };
}

/**
 * The safetensors tensors and the descriptor of a quantized weight `name`. Throws when a stored
 * value would change (scales not rounded to their declared precision, …).
 *
 * @example
 * ```ts
 * import { quantizedToTensors } from "./quantized_checkpoint.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const { tensors } = quantizedToTensors("w", {
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F16" }, rotation: { kind: "none" }, params: {},
 * });
 * if (tensors.map(([n]) => n).join() !== "w.codes,w.table,w.scales") throw new Error();
 * ```
 */
export function quantizedToTensors(
  name: string,
  qt: QuantizedTensor,
  sourceDtype?: string,
): { tensors: [string, Tensor][]; descriptor: QuantizedTensorDescriptor } {
  validateQuantized(qt, name);
  const stride = rowStrideWords(qt.paddedCols / qt.p, qt.codeBits);
  const gshape = groupShape(qt);
  const sc = paramTensors(name, "scales", qt.scales, qt.scaleStorage, gshape, qt.params);
  const tensors: [string, Tensor][] = [
    [`${name}.codes`, new Tensor([qt.shape[0], stride], "U32", qt.codes)],
    [
      `${name}.table`,
      floatTensor(name, "table", qt.table, qt.tableDtype, [2 ** qt.codeBits, qt.p]),
    ],
    ...sc.tensors,
  ];
  let zeros: StorageDescriptor | undefined;
  if (qt.zeros) {
    const zs: ParamStorage = qt.zeroStorage ?? { kind: "float", dtype: "F32" };
    const z = paramTensors(name, "zeros", qt.zeros, zs, gshape, qt.params);
    tensors.push(...z.tensors);
    zeros = z.descriptor;
  }
  const descriptor = describeQuantized(qt, sourceDtype, {
    scales: sc.descriptor,
    ...(zeros ? { zeros } : {}),
  });
  descriptor.checksum = partsChecksum(name, descriptor, new Map(tensors));
  return { tensors, descriptor };
}

/** The names of the safetensors tensors that make up quantized weight `name` per its descriptor. */
export function quantizedTensorNames(name: string, d: QuantizedTensorDescriptor): string[] {
  const names = [`${name}.codes`, `${name}.table`];
  for (const [what, s] of [["scales", d.scaleStorage], ["zeros", d.zeroStorage]] as const) {
    if (!s) continue;
    names.push(`${name}.${what}`);
    if (s.kind === "int8") {
      names.push(`${name}.${what}.meta_scale`);
      if (s.map === "affine") names.push(`${name}.${what}.meta_zero`);
    }
  }
  return names;
}

/** The checksum of a quantized tensor's stored parts, in {@linkcode quantizedTensorNames} order. */
function partsChecksum(
  name: string,
  d: QuantizedTensorDescriptor,
  parts: ReadonlyMap<string, Tensor>,
): string {
  return checksumOf(
    quantizedTensorNames(name, d).map((n) => parts.get(n)?.data ?? new Uint8Array()),
  );
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Checks a descriptor read from a file (types and ranges of every field); throws a `bad-file`
 * error naming the tensor and the field.
 *
 * @example
 * ```ts
 * import { parseDescriptor } from "./quantized_checkpoint.ts";
 * let threw = false;
 * try { parseDescriptor("w", { method: "higgs" }); } catch { threw = true; }
 * if (!threw) throw new Error();
 * ```
 */
export function parseDescriptor(name: string, raw: unknown): QuantizedTensorDescriptor {
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-file", `Quantized tensor "${name}": metadata ${msg}`);
  };
  if (!isObj(raw)) return bad("is not a JSON object");
  const int = (k: string, min = 1): number => {
    const v = raw[k];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      return bad(`field "${k}" is ${JSON.stringify(v)}; expected an integer ≥ ${min}`);
    }
    return v;
  };
  const method = raw.method;
  if (typeof method !== "string" || !QUANT_METHODS.includes(method as QuantMethod)) {
    bad(`field "method" is ${JSON.stringify(method)}; expected one of ${QUANT_METHODS.join(", ")}`);
  }
  const shape = raw.shape;
  if (
    !Array.isArray(shape) || shape.length !== 2 ||
    !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 1)
  ) {
    bad(`field "shape" is ${JSON.stringify(shape)}; expected [rows, cols] of positive integers`);
  }
  const groupAxis = raw.groupAxis;
  if (groupAxis !== 0 && groupAxis !== 1) {
    bad(`field "groupAxis" is ${JSON.stringify(groupAxis)}; expected 0 or 1`);
  }
  const tableDtype = raw.tableDtype;
  if (tableDtype !== "F32" && tableDtype !== "F16") {
    bad(`field "tableDtype" is ${JSON.stringify(tableDtype)}; expected "F32" or "F16"`);
  }
  const storage = (k: string): StorageDescriptor => {
    const s = raw[k];
    if (
      isObj(s) && s.kind === "float" &&
      (s.dtype === "F32" || s.dtype === "F16" || s.dtype === "BF16")
    ) {
      return { kind: "float", dtype: s.dtype };
    }
    if (
      isObj(s) && s.kind === "int8" && typeof s.group === "number" &&
      Number.isSafeInteger(s.group) && s.group >= 1 &&
      (s.map === "affine" || s.map === "dynamic") &&
      (s.dtype === "F16" || s.dtype === "F32") && typeof s.offset === "number" &&
      Number.isFinite(s.offset)
    ) {
      return { kind: "int8", group: s.group, map: s.map, dtype: s.dtype, offset: s.offset };
    }
    return bad(
      `field "${k}" is ${JSON.stringify(s)}; expected {kind: "float", dtype} or ` +
        `{kind: "int8", group, map, dtype, offset}`,
    );
  };
  const rot = raw.rotation;
  let rotation: Rotation;
  if (isObj(rot) && rot.kind === "none") rotation = { kind: "none" };
  else if (
    isObj(rot) && rot.kind === "hadamard" && typeof rot.size === "number" &&
    Number.isSafeInteger(rot.size) &&
    (rot.seed === null || (typeof rot.seed === "number" && Number.isSafeInteger(rot.seed)))
  ) {
    rotation = { kind: "hadamard", size: rot.size, seed: rot.seed as number | null };
  } else {
    return bad(
      `field "rotation" is ${
        JSON.stringify(rot)
      }; expected {kind: "none"} or {kind: "hadamard", size, seed}`,
    );
  }
  const params = raw.params ?? {};
  if (!isObj(params)) bad(`field "params" is not an object`);
  const d: QuantizedTensorDescriptor = {
    method: method as QuantMethod,
    shape: [(shape as number[])[0]!, (shape as number[])[1]!],
    paddedCols: int("paddedCols"),
    p: int("p"),
    codeBits: int("codeBits"),
    groupSize: int("groupSize"),
    groupAxis: groupAxis as 0 | 1,
    tableDtype: tableDtype as "F32" | "F16",
    rotation,
    scaleStorage: storage("scaleStorage"),
    params: params as QuantizedTensorDescriptor["params"],
  };
  if (raw.zeroStorage !== undefined) d.zeroStorage = storage("zeroStorage");
  if (typeof raw.sourceDtype === "string") d.sourceDtype = raw.sourceDtype;
  if (raw.checksum !== undefined) {
    if (typeof raw.checksum !== "string" || !CHECKSUM_PATTERN.test(raw.checksum)) {
      bad(`field "checksum" is ${JSON.stringify(raw.checksum)}; expected "xxh64:" + 16 hex digits`);
    }
    d.checksum = raw.checksum as string;
  }
  if (d.codeBits > 16) bad(`field "codeBits" is ${d.codeBits}; expected 1 to 16`);
  const along = d.groupAxis === 1 ? d.paddedCols : d.shape[0];
  if (d.paddedCols < d.shape[1] || d.paddedCols % d.p !== 0 || along % d.groupSize !== 0) {
    bad(
      `is inconsistent: paddedCols ${d.paddedCols}, cols ${d.shape[1]}, p ${d.p}, group size ` +
        `${d.groupSize} along axis ${d.groupAxis}`,
    );
  }
  return d;
}

/**
 * Rebuilds a quantized tensor from its descriptor and stored tensors (`get(name)` returns the
 * stored tensor or undefined), checking every dtype, shape and value: a tampered or truncated
 * checkpoint gives a `bad-file` error naming the tensor, never a wrong Ŵ.
 *
 * @example
 * ```ts
 * import { quantizedFromTensors, quantizedToTensors } from "./quantized_checkpoint.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const qt = {
 *   method: "rtn" as const, shape: [1, 4] as [number, number], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32" as const, groupSize: 4, groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F16" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const { tensors, descriptor } = quantizedToTensors("w", qt);
 * const m = new Map(tensors);
 * const back = quantizedFromTensors("w", descriptor, (n) => m.get(n));
 * if (back.codes[0] !== qt.codes[0]) throw new Error();
 * ```
 */
export function quantizedFromTensors(
  name: string,
  d: QuantizedTensorDescriptor,
  get: (name: string) => Tensor | undefined,
): QuantizedTensor {
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-file", `Quantized tensor "${name}": ${msg}`);
  };
  const need = (key: string, dtypes: readonly DType[], shape: number[]): Tensor => {
    const t = get(key);
    if (!t) return bad(`the file has no tensor ${q(key)}`);
    if (!dtypes.includes(t.dtype)) bad(`${q(key)} is ${t.dtype}; expected ${dtypes.join(" or ")}`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      bad(
        `${q(key)} has shape [${t.shape.join(", ")}]; the metadata implies [${shape.join(", ")}]`,
      );
    }
    return t;
  };
  const [rows] = d.shape;
  const stride = rowStrideWords(d.paddedCols / d.p, d.codeBits);
  const codesT = need(`${name}.codes`, ["U32", "I32"], [rows, stride]);
  const codesData = codesT.data as Uint32Array | Int32Array;
  const codes = codesData instanceof Uint32Array
    ? codesData
    : new Uint32Array(codesData.buffer, codesData.byteOffset, codesData.length);
  const tableT = need(`${name}.table`, [d.tableDtype], [2 ** d.codeBits, d.p]);
  const table = d.tableDtype === "F32"
    ? tableT.data as Float32Array
    : fromF16(tableT.data as Uint16Array);
  const gshape = groupShape(d);
  const groups = numel(gshape);
  const param = (
    what: "scales" | "zeros",
    s: StorageDescriptor,
  ): { values: Float32Array; storage: ParamStorage } => {
    const key = `${name}.${what}`;
    if (s.kind === "float") {
      const t = need(key, [s.dtype], gshape);
      const values = s.dtype === "F32"
        ? t.data as Float32Array
        : s.dtype === "F16"
        ? fromF16(t.data as Uint16Array)
        : fromBf16(t.data as Uint16Array);
      return { values, storage: { kind: "float", dtype: s.dtype } };
    }
    const metaGroups = Math.ceil(groups / s.group);
    const c = need(key, ["U8"], gshape).data as Uint8Array;
    const ms = need(`${key}.meta_scale`, ["F32"], [metaGroups]).data as Float32Array;
    const mz = s.map === "affine"
      ? need(`${key}.meta_zero`, ["F32"], [metaGroups]).data as Float32Array
      : undefined;
    for (const [k, arr] of [["meta_scale", ms], ["meta_zero", mz]] as const) {
      if (!arr) continue;
      for (let i = 0; i < arr.length; i++) {
        if (!Number.isFinite(arr[i]!)) {
          bad(`${what} ${k}[${i}] is ${arr[i]}; expected a finite number`);
        }
      }
    }
    const storage: Int8Storage = { kind: "int8", group: s.group, codes: c, metaScale: ms };
    if (mz) storage.metaZero = mz;
    return { values: decodeInt8(storage, groups, s), storage };
  };
  const sc = param("scales", d.scaleStorage);
  const qt: QuantizedTensor = {
    method: d.method,
    shape: [d.shape[0], d.shape[1]],
    paddedCols: d.paddedCols,
    p: d.p,
    codeBits: d.codeBits,
    codes,
    table,
    tableDtype: d.tableDtype,
    groupSize: d.groupSize,
    groupAxis: d.groupAxis,
    scales: sc.values,
    scaleStorage: sc.storage,
    rotation: d.rotation,
    params: d.params,
  };
  if (d.zeroStorage) {
    const z = param("zeros", d.zeroStorage);
    qt.zeros = z.values;
    qt.zeroStorage = z.storage;
  } else if (get(`${name}.zeros`)) {
    bad(`the file has ${q(`${name}.zeros`)} but the metadata declares no zeros`);
  }
  validateQuantized(qt, name);
  return qt;
}

/** The parsed `quantlab` metadata entry of one file. */
interface FileMeta {
  run: string | null;
  tensors: Map<string, QuantizedTensorDescriptor>;
}

/** Parses the `quantlab` metadata of a safetensors file; null when it has none. */
function parseFileMeta(path: string, metadata: Readonly<Record<string, string>>): FileMeta | null {
  const text = metadata.quantlab;
  if (text === undefined) return null;
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-file", `Quantized checkpoint file ${q(path)}: ${msg}`);
  };
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    return bad(`its "quantlab" metadata is not valid JSON (${(e as Error).message})`);
  }
  const dup = findDuplicateKey(text);
  if (dup !== null) bad(`its "quantlab" metadata has the key ${q(dup)} twice`);
  if (!isObj(root) || root.format !== QUANT_FORMAT_NAME) {
    return bad(`its "quantlab" metadata is not a ${QUANT_FORMAT_NAME} description`);
  }
  if (root.version !== QUANT_FORMAT_VERSION) {
    bad(
      `format version ${JSON.stringify(root.version)} is not supported; this quantlab reads ` +
        `version ${QUANT_FORMAT_VERSION}`,
    );
  }
  if (!isObj(root.tensors)) return bad(`its "quantlab" metadata has no "tensors" object`);
  const tensors = new Map<string, QuantizedTensorDescriptor>();
  for (const [name, raw] of Object.entries(root.tensors)) {
    tensors.set(name, parseDescriptor(name, raw));
  }
  return { run: typeof root.run === "string" ? root.run : null, tensors };
}

function fileMetadata(
  run: string | null,
  descriptors: Map<string, QuantizedTensorDescriptor>,
): Record<string, string> {
  return {
    format: "pt",
    quantlab: JSON.stringify({
      format: QUANT_FORMAT_NAME,
      version: QUANT_FORMAT_VERSION,
      run,
      tensors: Object.fromEntries(descriptors),
    }),
  };
}

/**
 * Writes quantized tensors (and plain tensors stored as they are) to one safetensors file,
 * atomically. Small-scale convenience; {@linkcode quantizeCheckpoint} streams instead.
 *
 * @example
 * ```ts
 * import { QuantizedCheckpoint, writeQuantizedSafetensors } from "./quantized_checkpoint.ts";
 * import { packCodes } from "../quant/packing.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeQuantizedSafetensors(path, new Map<string, unknown>([
 *   ["w", {
 *     method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *     codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *     tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *     scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 *   }],
 *   ["norm", Tensor.zeros([4])],
 * ]) as never);
 * const ck = await QuantizedCheckpoint.open(path);
 * const w = await ck.read("w");
 * ck.close();
 * await Deno.remove(path);
 * if (w.shape[1] !== 4 || ck.otherNames.join() !== "norm") throw new Error();
 * ```
 */
export async function writeQuantizedSafetensors(
  path: string,
  entries: ReadonlyMap<string, QuantizedTensor | Tensor>,
  run: string | null = null,
): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const descriptors = new Map<string, QuantizedTensorDescriptor>();
  const add = (n: string, t: Tensor): void => {
    if (tensors.has(n)) throw new QuantlabError("bad-argument", `Tensor name ${q(n)} occurs twice`);
    tensors.set(n, t);
  };
  for (const [name, v] of entries) {
    if (v instanceof Tensor) add(name, v);
    else {
      const { tensors: ts, descriptor } = quantizedToTensors(name, v);
      for (const [n, t] of ts) add(n, t);
      descriptors.set(name, descriptor);
    }
  }
  await writeSafetensors(path, tensors, fileMetadata(run, descriptors));
}

/**
 * A quantized checkpoint opened for lazy reading: a folder (sharded or not) or one safetensors
 * file written by {@linkcode quantizeCheckpoint} or {@linkcode writeQuantizedSafetensors}.
 * Opening reads only the headers; {@linkcode QuantizedCheckpoint.read} reads one tensor.
 */
export class QuantizedCheckpoint {
  /** The path that was opened. */
  readonly path: string;
  /** Names of the quantized weights, in file order. */
  readonly quantizedNames: string[];
  /** Names of the tensors stored as they are (embeddings, norms, …). */
  readonly otherNames: string[];
  /** The run fingerprint recorded by `quantizeCheckpoint` (null when absent). */
  readonly run: string | null;
  readonly #files: SafetensorsFile[];
  readonly #quantized: Map<string, { file: SafetensorsFile; d: QuantizedTensorDescriptor }>;
  readonly #other: Map<string, SafetensorsFile>;

  private constructor(
    path: string,
    files: SafetensorsFile[],
    quantized: Map<string, { file: SafetensorsFile; d: QuantizedTensorDescriptor }>,
    other: Map<string, SafetensorsFile>,
    run: string | null,
  ) {
    this.path = path;
    this.#files = files;
    this.#quantized = quantized;
    this.#other = other;
    this.quantizedNames = [...quantized.keys()];
    this.otherNames = [...other.keys()];
    this.run = run;
  }

  /** Opens a folder or file; a file or folder with no quantlab metadata is a `bad-file` error. */
  static async open(path: string): Promise<QuantizedCheckpoint> {
    const ck = await openCheckpoint(path);
    const paths = [...ck.files];
    ck.close();
    const files: SafetensorsFile[] = [];
    try {
      const quantized = new Map<string, { file: SafetensorsFile; d: QuantizedTensorDescriptor }>();
      const other = new Map<string, SafetensorsFile>();
      let any = false;
      let run: string | null = null;
      for (const p of paths) {
        const f = await SafetensorsFile.open(p);
        files.push(f);
        const meta = parseFileMeta(p, f.metadata);
        if (meta) {
          any = true;
          run ??= meta.run;
        }
        const parts = new Set<string>();
        for (const [name, d] of meta?.tensors ?? []) {
          if (quantized.has(name)) {
            throw new QuantlabError(
              "bad-file",
              `Quantized tensor ${q(name)} is described in two files`,
            );
          }
          quantized.set(name, { file: f, d });
          for (const n of quantizedTensorNames(name, d)) {
            if (!f.has(n)) {
              throw new QuantlabError(
                "bad-file",
                `Quantized tensor "${name}": the file ${q(p)} has no tensor ${q(n)}; it was ` +
                  `truncated or tampered with`,
              );
            }
            parts.add(n);
          }
        }
        for (const n of f.names()) if (!parts.has(n)) other.set(n, f);
      }
      if (!any) {
        throw new QuantlabError(
          "bad-file",
          `${q(path)} is not a quantlab quantized checkpoint: no file has "quantlab" metadata`,
        );
      }
      return new QuantizedCheckpoint(path, files, quantized, other, run);
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
  }

  /** The descriptor of quantized weight `name`. */
  descriptor(name: string): QuantizedTensorDescriptor {
    const e = this.#quantized.get(name);
    if (!e) {
      throw new QuantlabError(
        "not-found",
        `Checkpoint ${q(this.path)} has no quantized tensor ${q(name)}; it holds ` +
          `${this.quantizedNames.length} (${this.quantizedNames.slice(0, 5).map(q).join(", ")}…)`,
      );
    }
    return e.d;
  }

  /**
   * Reads and validates quantized weight `name`, checking its checksum when the descriptor has
   * one (`verify: false` skips that check, for measuring what it costs).
   */
  async read(name: string, opts: { verify?: boolean } = {}): Promise<QuantizedTensor> {
    const d = this.descriptor(name);
    const file = this.#quantized.get(name)!.file;
    const got = new Map<string, Tensor>();
    for (const n of quantizedTensorNames(name, d)) got.set(n, await file.read(n));
    if (file.has(`${name}.zeros`) && !got.has(`${name}.zeros`)) {
      got.set(`${name}.zeros`, await file.read(`${name}.zeros`));
    }
    if (d.checksum !== undefined && (opts.verify ?? true)) {
      const now = partsChecksum(name, d, got);
      if (now !== d.checksum) {
        throw new QuantlabError(
          "bad-file",
          `Quantized tensor ${q(name)} in ${q(file.path)}: its bytes (${
            quantizedTensorNames(name, d).map((n) => n.slice(name.length + 1)).join(", ")
          }) do not match their checksum (stored ${d.checksum}, now ${now}); the file was ` +
            "changed after it was written: quantize again or restore it",
        );
      }
    }
    return quantizedFromTensors(name, d, (n) => got.get(n));
  }

  /** Reads a tensor stored as it is. */
  readOther(name: string): Promise<Tensor> {
    const f = this.#other.get(name);
    if (!f) {
      return Promise.reject(
        new QuantlabError("not-found", `Checkpoint ${q(this.path)} has no plain tensor ${q(name)}`),
      );
    }
    return f.read(name);
  }

  /** Dtype and shape of a plain tensor. */
  otherInfo(name: string): { dtype: DType; shape: readonly number[] } {
    const f = this.#other.get(name);
    if (!f) {
      throw new QuantlabError(
        "not-found",
        `Checkpoint ${q(this.path)} has no plain tensor ${q(name)}`,
      );
    }
    const i = f.info(name);
    return { dtype: i.dtype, shape: i.shape };
  }

  /** Closes every file. */
  close(): void {
    for (const f of this.#files) f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// quantize: source checkpoint → quantized checkpoint (streaming, resumable)

const FLOAT_DTYPES: readonly DType[] = ["F32", "F16", "BF16", "F64"];
const EMBED =
  /(^|\.)(embed_tokens|embed_in|embed_positions|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|embeddings?|tok_embeddings)(\.|$)/;
const LM_HEAD = /(^|\.)(lm_head|embed_out)(\.|$)|^output\.weight$/;

/**
 * The tensor as row-major f32 [rows, cols] on a SharedArrayBuffer (so the worker pool reads it
 * without a copy). F16/BF16 widen exactly.
 *
 * @example
 * ```ts
 * import { toSharedF32 } from "./quantized_checkpoint.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const x = toSharedF32(new Tensor([2], "BF16", new Uint16Array([0x3f80, 0x4000])));
 * if (!(x.buffer instanceof SharedArrayBuffer) || x[1] !== 2) throw new Error();
 * ```
 */
export function toSharedF32(t: Tensor): Float32Array {
  const n = t.numel;
  const out = new Float32Array(new SharedArrayBuffer(n * 4));
  switch (t.dtype) {
    case "BF16": {
      const src = t.data as Uint16Array;
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      break;
    }
    case "F16":
      out.set(fromF16(t.data as Uint16Array));
      break;
    case "F32":
    case "F64":
      out.set(t.data as Float32Array | Float64Array);
      break;
    default:
      throw new QuantlabError(
        "unsupported",
        `Cannot quantize a ${t.dtype} tensor; use a float tensor`,
      );
  }
  return out;
}

/** Options of {@linkcode quantizeCheckpoint}. */
export interface QuantizeCheckpointOptions {
  /** Quantization method (default "higgs"). */
  method?: string;
  /** Method options. */
  options?: QuantOptions;
  /**
   * Per-tensor options merged over `options`, by tensor name (e.g. a bit allocation from
   * `quantlab allocate`: `{ "model.layers.0.mlp.down_proj.weight": { p: 2, gridSize: 4096 } }`).
   * Every name must be a tensor the run quantizes.
   */
  perTensor?: Readonly<Record<string, QuantOptions>>;
  /** Backend for the encoder (default CPU). */
  backend?: Backend;
  /** Quantize lm_head too (default false). */
  includeLmHead?: boolean;
  /** Quantize exactly these tensors (each must be a 2-D float tensor). */
  tensors?: readonly string[];
  /** No progress bar. */
  quiet?: boolean;
  /** Called after each tensor is quantized and durable (tests use it to simulate a kill). */
  onTensorDone?: (name: string) => void | Promise<void>;
}

/** What {@linkcode quantizeCheckpoint} did. */
export interface QuantizeSummary {
  /** Output folder or file. */
  out: string;
  /** Output safetensors files. */
  files: string[];
  /** Tensors quantized in this run. */
  quantized: number;
  /** Quantized tensors found done by an earlier run and skipped. */
  resumed: number;
  /** Tensors stored as they are. */
  copied: number;
  /** Weights in quantized tensors (this run and resumed). */
  quantizedWeights: number;
  /** Weights in all tensors. */
  totalWeights: number;
  /** Bits per weight over the quantized tensors (everything to decode counted). */
  bitsPerWeight: number;
  /** Wall time of this run in seconds. */
  seconds: number;
  /**
   * Tensors of this run zero-padded to whole Hadamard blocks or groups (a fixed `--hadamard` that
   * does not divide their width), one example, and what the padding costs in bits per quantized
   * weight (codes and scales of the padded columns); absent when nothing was padded.
   */
  padding?: { tensors: number; example: string; bitsPerWeight: number };
}

/**
 * Which tensors a run quantizes: an explicit list, or every 2-D float tensor except (for a
 * checkpoint folder) embeddings and, unless `includeLmHead`, the lm_head.
 *
 * @example
 * ```ts
 * import { selectTensors } from "./quantized_checkpoint.ts";
 * const s = selectTensors([
 *   ["model.embed_tokens.weight", "BF16", [10, 4]], ["model.layers.0.mlp.up_proj.weight", "BF16", [8, 4]],
 *   ["model.norm.weight", "BF16", [4]], ["lm_head.weight", "BF16", [10, 4]],
 * ], { folder: true });
 * if ([...s].join() !== "model.layers.0.mlp.up_proj.weight") throw new Error();
 * ```
 */
export function selectTensors(
  infos: readonly (readonly [string, DType, readonly number[]])[],
  opts: { folder: boolean; includeLmHead?: boolean; tensors?: readonly string[] },
): Set<string> {
  const byName = new Map(infos.map(([n, d, s]) => [n, { dtype: d, shape: s }]));
  if (opts.tensors && opts.tensors.length > 0) {
    for (const n of opts.tensors) {
      const i = byName.get(n);
      if (!i) {
        throw new QuantlabError(
          "not-found",
          `Tensor ${q(n)} is not in the checkpoint; it holds ${byName.size} tensors ` +
            `(${[...byName.keys()].slice(0, 5).map(q).join(", ")}…)`,
        );
      }
      if (i.shape.length !== 2 || !FLOAT_DTYPES.includes(i.dtype)) {
        throw new QuantlabError(
          "bad-argument",
          `Tensor ${q(n)} is ${i.dtype} [${
            i.shape.join(", ")
          }]; only 2-D float tensors can be quantized`,
        );
      }
    }
    return new Set(opts.tensors);
  }
  const out = new Set<string>();
  for (const [n, dtype, shape] of infos) {
    if (shape.length !== 2 || !FLOAT_DTYPES.includes(dtype) || numel(shape) === 0) continue;
    if (opts.folder && EMBED.test(n)) continue;
    if (opts.folder && !opts.includeLmHead && LM_HEAD.test(n)) continue;
    out.add(n);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw ioError(e, path, "inspect");
  }
}

async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw ioError(e, path, "write");
  }
}

async function copyAtomic(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.copyFile(from, tmp);
    await Deno.rename(tmp, to);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw ioError(e, to, "copy to");
  }
}

/** Removes `${path}.tmp-*` files a killed writer left next to `path`. */
async function removeStaleTemps(path: string): Promise<void> {
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "." : path.slice(0, i) || "/";
  const prefix = `${baseName(path)}.tmp-`;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.startsWith(prefix)) {
        await Deno.remove(joinPath(dir, e.name)).catch(() => {});
      }
    }
  } catch {
    // an unreadable folder fails later, with a better message
  }
}

async function sha256Hex(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** One line of the progress log. */
type LogLine = { tensor: string; part: string } | { file: string };

async function readLog(path: string): Promise<LogLine[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw ioError(e, path, "read progress log");
  }
  const out: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A line cut by a kill: everything after it is unknown, and the part files are checked anyway.
      break;
    }
  }
  return out;
}

async function appendLog(path: string, line: LogLine): Promise<void> {
  const f = await Deno.open(path, { append: true, create: true });
  try {
    await f.write(new TextEncoder().encode(JSON.stringify(line) + "\n"));
    await f.syncData();
  } finally {
    f.close();
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
 * import { QuantizedCheckpoint, quantizeCheckpoint } from "./quantized_checkpoint.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const w = Float32Array.from({ length: 8 * 64 }, (_, i) => Math.sin(i));
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([8, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { bits: 2, p: 2, hadamard: 64 }, quiet: true,
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
  // A Hugging Face cache repository folder reads as the snapshot its refs/main names.
  const input = await resolveModelPath(inputPath);
  const method = opts.method ?? "higgs";
  const quantizer = getQuantizer(method);
  const options = opts.options ?? {};
  let inputIsDir: boolean;
  try {
    inputIsDir = (await Deno.stat(input)).isDirectory;
  } catch (e) {
    throw ioError(e, input, "open checkpoint");
  }
  const ck = await openCheckpoint(input);
  const srcFiles = [...ck.files];
  const indexed = ck.indexMetadata !== null;
  ck.close();
  const singleOut = !inputIsDir && out.endsWith(".safetensors");
  const outDir = singleOut ? null : out;
  if (outDir) {
    await Deno.mkdir(outDir, { recursive: true }).catch((e) => {
      throw ioError(e, outDir, "create folder");
    });
  }
  const outFiles = srcFiles.map((f) => (singleOut ? out : joinPath(outDir!, baseName(f))));
  if (new Set(outFiles).size !== outFiles.length) {
    throw new QuantlabError(
      "bad-argument",
      `Source files of ${q(input)} share a file name; cannot map them to ${q(out)}`,
    );
  }
  for (let i = 0; i < srcFiles.length; i++) {
    const [a, b] = [await Deno.realPath(srcFiles[i]!), outFiles[i]!];
    if (await exists(b) && (await Deno.realPath(b)) === a) {
      throw new QuantlabError(
        "bad-argument",
        `Output ${q(b)} would overwrite its own source; choose another --out`,
      );
    }
  }

  // Headers of every source file: what to quantize, and the run's fingerprint.
  const headers: {
    path: string;
    names: string[];
    infos: Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>;
  }[] = [];
  for (const path of srcFiles) {
    const f = await SafetensorsFile.open(path);
    const infos = new Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>();
    for (const n of f.names()) {
      const i = f.info(n);
      infos.set(n, { dtype: i.dtype, shape: i.shape, bytes: i.byteLength });
    }
    headers.push({ path, names: f.names(), infos });
    f.close();
  }
  const all: [string, DType, readonly number[]][] = [];
  for (const h of headers) for (const [n, i] of h.infos) all.push([n, i.dtype, i.shape]);
  const selected = selectTensors(all, {
    folder: inputIsDir,
    includeLmHead: opts.includeLmHead,
    tensors: opts.tensors,
  });
  const allNames = new Set(all.map(([n]) => n));
  for (const n of selected) {
    for (const suffix of [".codes", ".table", ".scales", ".zeros"]) {
      if (allNames.has(n + suffix)) {
        throw new QuantlabError(
          "bad-argument",
          `Cannot quantize ${q(n)}: the checkpoint already holds ${q(n + suffix)}`,
        );
      }
    }
  }
  const perTensor = opts.perTensor ?? {};
  for (const n of Object.keys(perTensor)) {
    if (!selected.has(n)) {
      throw new QuantlabError(
        "bad-argument",
        `Per-tensor options name ${q(n)}, which this run does not quantize (a 2-D float ` +
          "weight of the checkpoint is needed)",
      );
    }
  }
  const fingerprintSource = JSON.stringify({
    version: QUANT_FORMAT_VERSION,
    method,
    options: { ...options, extra: options.extra ?? {} },
    ...(Object.keys(perTensor).length ? { perTensor } : {}),
    selected: [...selected].sort(),
    files: await Promise.all(
      srcFiles.map(async (f) => [baseName(f), (await Deno.stat(f)).size]),
    ),
  });
  const run = (await sha256Hex(fingerprintSource)).slice(0, 32);

  // The work folder: run identity, progress log, part files.
  const work = singleOut ? `${out}.quantlab-work` : joinPath(outDir!, ".quantlab-work");
  const runFile = joinPath(work, "run.json");
  const logFile = joinPath(work, "progress.jsonl");
  await Deno.mkdir(joinPath(work, "parts"), { recursive: true }).catch((e) => {
    throw ioError(e, work, "create folder");
  });
  const runText = JSON.stringify({ run, input, method, options }, null, 2) + "\n";
  if (await exists(runFile)) {
    const prev = JSON.parse(await Deno.readTextFile(runFile).catch(() => "{}"));
    if (prev.run !== run) {
      // A run that quantized nothing (e.g. stopped by a bad option) may be replaced; its output
      // files carry its own fingerprint, so they are rebuilt.
      if ((await readLog(logFile)).some((l) => "tensor" in l)) {
        throw new QuantlabError(
          "bad-argument",
          `${q(out)} holds an unfinished run with other options or inputs; delete ${q(work)} ` +
            `(and the output) or choose another --out`,
        );
      }
      await writeTextAtomic(logFile, "");
      await writeTextAtomic(runFile, runText);
    }
  } else {
    await writeTextAtomic(runFile, runText);
  }
  const log = await readLog(logFile);
  const doneParts = new Map<string, string>();
  for (const l of log) if ("tensor" in l) doneParts.set(l.tensor, l.part);

  const totalTensors = selected.size;
  const bar = progress(`quantize ${method}`, totalTensors, { quiet: opts.quiet ?? false });
  const padding = { tensors: 0, bits: 0, example: undefined as string | undefined };
  const summary: QuantizeSummary = {
    out,
    files: outFiles,
    quantized: 0,
    resumed: 0,
    copied: 0,
    quantizedWeights: 0,
    totalWeights: 0,
    bitsPerWeight: 0,
    seconds: 0,
  };
  let totalBits = 0;
  let resolvedParams: QuantizedTensorDescriptor["params"] | null = null;
  const countBits = (d: QuantizedTensorDescriptor, sizes: number): void => {
    resolvedParams ??= d.params;
    totalBits += sizes * 8;
    summary.quantizedWeights += d.shape[0] * d.shape[1];
  };

  for (let fi = 0; fi < headers.length; fi++) {
    const h = headers[fi]!;
    const outFile = outFiles[fi]!;
    for (const [, i] of h.infos) summary.totalWeights += numel(i.shape);
    const mine = h.names.filter((n) => selected.has(n));
    await removeStaleTemps(outFile);
    // A finished output file (same run) is skipped whole.
    if (await exists(outFile)) {
      let meta: FileMeta | null = null;
      try {
        const f = await SafetensorsFile.open(outFile);
        meta = parseFileMeta(outFile, f.metadata);
        if (meta?.run === run) {
          for (const [name, d] of meta.tensors) {
            let bytes = 0;
            for (const n of quantizedTensorNames(name, d)) bytes += f.info(n).byteLength;
            countBits(d, bytes);
          }
        }
        f.close();
      } catch {
        meta = null;
      }
      if (meta?.run === run) {
        summary.resumed += mine.length;
        summary.copied += h.names.length - mine.length;
        bar.tick(mine.length, `${baseName(outFile)} done earlier`);
        continue;
      }
    }
    // 1. Quantize each selected tensor of this file into its own part file.
    const src = await SafetensorsFile.open(h.path);
    try {
      const partOf = new Map<string, string>();
      for (let ti = 0; ti < h.names.length; ti++) {
        const name = h.names[ti]!;
        if (!selected.has(name)) continue;
        const part = joinPath(work, `parts/${fi}-${ti}.safetensors`);
        partOf.set(name, part);
        if (doneParts.get(name) === baseName(part) && await exists(part)) {
          summary.resumed++;
          bar.tick(1, `${name} (done earlier)`);
          continue;
        }
        const t = await src.read(name);
        const [rows, cols] = [t.shape[0]!, t.shape[1]!];
        const w = toSharedF32(t);
        const own = opts.perTensor?.[name];
        const qt = await quantizer.quantize(
          w,
          rows,
          cols,
          // Per-tensor options win; their method-specific `extra` adds to the run's.
          own ? { ...options, ...own, extra: { ...options.extra, ...own.extra } } : options,
          opts.backend,
          name,
        );
        if (qt.paddedCols > cols) {
          const pad = qt.paddedCols - cols;
          const scaleBits = qt.scaleStorage?.kind === "float" && qt.scaleStorage.dtype === "F32"
            ? 32
            : 16;
          const bits = rows * pad * (qt.codeBits / qt.p) +
            (qt.groupAxis === 1 ? (rows * pad / qt.groupSize) * scaleBits : 0);
          padding.tensors++;
          padding.bits += bits;
          padding.example ??= `${name}: width ${cols} → ${qt.paddedCols}`;
        }
        const { tensors, descriptor } = quantizedToTensors(name, qt, t.dtype);
        await writeSafetensors(
          part,
          new Map(tensors),
          fileMetadata(run, new Map([[name, descriptor]])),
        );
        await appendLog(logFile, { tensor: name, part: baseName(part) });
        summary.quantized++;
        bar.tick(1, name);
        await opts.onTensorDone?.(name);
      }
      // 2. Assemble the output file: parts and plain tensors, in source order, streamed.
      const specs: TensorSpec[] = [];
      const descriptors = new Map<string, QuantizedTensorDescriptor>();
      const plan:
        ({ kind: "part"; part: string; names: string[] } | { kind: "plain"; name: string })[] = [];
      for (const name of h.names) {
        const part = partOf.get(name);
        if (part === undefined) {
          const i = h.infos.get(name)!;
          specs.push({ name, dtype: i.dtype, shape: i.shape });
          plan.push({ kind: "plain", name });
          summary.copied++;
          continue;
        }
        const pf = await SafetensorsFile.open(part);
        try {
          const meta = parseFileMeta(part, pf.metadata);
          const d = meta?.tensors.get(name);
          if (!meta || meta.run !== run || !d) {
            throw new QuantlabError(
              "bad-file",
              `Part file ${q(part)} does not hold ${q(name)} of this run`,
            );
          }
          descriptors.set(name, d);
          const names = quantizedTensorNames(name, d);
          let bytes = 0;
          for (const n of names) {
            const i = pf.info(n);
            specs.push({ name: n, dtype: i.dtype, shape: i.shape });
            bytes += i.byteLength;
          }
          countBits(d, bytes);
          plan.push({ kind: "part", part, names });
        } finally {
          pf.close();
        }
      }
      const writer = await SafetensorsWriter.create(outFile, specs, fileMetadata(run, descriptors));
      try {
        for (const step of plan) {
          if (step.kind === "plain") {
            await writer.write(step.name, await src.read(step.name));
            continue;
          }
          const pf = await SafetensorsFile.open(step.part);
          try {
            for (const n of step.names) await writer.write(n, await pf.read(n));
          } finally {
            pf.close();
          }
        }
        await writer.close();
      } catch (e) {
        await writer.abort();
        throw e;
      }
      await appendLog(logFile, { file: baseName(outFile) });
      for (const part of partOf.values()) await Deno.remove(part).catch(() => {});
    } finally {
      src.close();
    }
  }
  bar.done();

  // Index, config and the other files of the folder.
  if (outDir) {
    if (indexed) {
      const weightMap: Record<string, string> = {};
      let totalSize = 0;
      for (const f of outFiles) {
        const sf = await SafetensorsFile.open(f);
        for (const n of sf.names()) {
          weightMap[n] = baseName(f);
          totalSize += sf.info(n).byteLength;
        }
        sf.close();
      }
      const sorted = Object.fromEntries(
        Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      await writeTextAtomic(
        joinPath(outDir, INDEX_FILE),
        JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + "\n",
      );
    }
    if (inputIsDir) {
      let config: Record<string, unknown> = {};
      const cfgPath = joinPath(input, "config.json");
      if (await exists(cfgPath)) {
        try {
          const parsed = JSON.parse(await Deno.readTextFile(cfgPath));
          if (isObj(parsed)) config = parsed;
        } catch (e) {
          throw new QuantlabError(
            "bad-file",
            `${q(cfgPath)} is not valid JSON: ${(e as Error).message}`,
          );
        }
      }
      config.quantization_config = quantizationConfig(method, options, selected, all, run);
      // The parameters as the quantizer resolved them (defaults filled), from the first tensor.
      if (resolvedParams) {
        // With auto Hadamard blocks the block (and the default group) vary per tensor; each
        // tensor's descriptor holds its own.
        const auto = method === "higgs" && options.hadamard === undefined;
        (config.quantization_config as Record<string, unknown>).parameters = auto
          ? {
            ...(resolvedParams as Record<string, unknown>),
            hadamard: "auto",
            ...(options.groupSize === undefined ? { groupSize: "per tensor" } : {}),
          }
          : resolvedParams;
      }
      await writeTextAtomic(
        joinPath(outDir, "config.json"),
        JSON.stringify(config, null, 2) + "\n",
      );
      // Symlinked files (a Hugging Face cache snapshot) are copied as content, never as links.
      for (const name of await listFolderFiles(input)) {
        if (name.startsWith(".")) continue;
        if (name.endsWith(".safetensors") || name === "config.json") continue;
        if (name.endsWith(".safetensors.index.json")) continue;
        await copyAtomic(joinPath(input, name), joinPath(outDir, name));
      }
    }
  }
  await Deno.remove(work, { recursive: true }).catch(() => {});
  summary.bitsPerWeight = summary.quantizedWeights > 0 ? totalBits / summary.quantizedWeights : 0;
  if (padding.tensors > 0) {
    summary.padding = {
      tensors: padding.tensors,
      example: padding.example ?? "",
      bitsPerWeight: padding.bits / Math.max(1, summary.quantizedWeights),
    };
  }
  summary.seconds = (performance.now() - t0) / 1000;
  return summary;
}

function quantizationConfig(
  method: string,
  options: QuantOptions,
  selected: Set<string>,
  all: readonly (readonly [string, DType, readonly number[]])[],
  run: string,
): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    quant_method: "quantlab",
    format: QUANT_FORMAT_NAME,
    format_version: QUANT_FORMAT_VERSION,
    method,
  };
  const keys: [keyof QuantOptions, string][] = [
    ["bits", "bits"],
    ["p", "p"],
    ["gridSize", "n"],
    ["hadamard", "hadamard_size"],
    ["groupSize", "group_size"],
    ["axis", "group_axis"],
    ["seed", "seed"],
    ["scaleDtype", "scale_dtype"],
  ];
  for (const [k, name] of keys) if (options[k] !== undefined) cfg[name] = options[k];
  if (method === "higgs" && options.hadamard === undefined) {
    // Auto: each tensor's block is in its descriptor (rotation.size).
    cfg.hadamard_size = "auto";
    if (options.hadamardMax !== undefined) cfg.hadamard_max = options.hadamardMax;
  }
  if (options.extra && Object.keys(options.extra).length > 0) cfg.extra = options.extra;
  cfg.modules_not_to_convert = all.filter(([n, , s]) => s.length >= 2 && !selected.has(n)).map((
    [n],
  ) => n);
  cfg.run = run;
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// dequantize and error

/**
 * Writes the f32 reconstruction Ŵ of every quantized tensor of `quant` under its original name,
 * plus the plain tensors as stored (`tensors` restricts the output to those names), to one
 * safetensors file, atomically and one tensor at a time.
 *
 * @example
 * ```ts
 * import { dequantizeCheckpoint, quantizeCheckpoint } from "./quantized_checkpoint.ts";
 * import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const w = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.cos(i));
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([4, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { hadamard: 64 }, quiet: true,
 * });
 * await dequantizeCheckpoint(`${dir}/q.safetensors`, `${dir}/d.safetensors`, { quiet: true });
 * const f = await SafetensorsFile.open(`${dir}/d.safetensors`);
 * const shape = f.info("w").shape;
 * f.close();
 * await Deno.remove(dir, { recursive: true });
 * if (shape.join() !== "4,64") throw new Error();
 * ```
 */
export async function dequantizeCheckpoint(
  quant: string,
  out: string,
  opts: { tensors?: readonly string[]; quiet?: boolean } = {},
): Promise<{ tensors: number; seconds: number }> {
  const t0 = performance.now();
  const ck = await QuantizedCheckpoint.open(quant);
  try {
    const want = opts.tensors && opts.tensors.length > 0 ? new Set(opts.tensors) : null;
    for (const n of want ?? []) {
      if (!ck.quantizedNames.includes(n) && !ck.otherNames.includes(n)) {
        throw new QuantlabError("not-found", `Checkpoint ${q(quant)} has no tensor ${q(n)}`);
      }
    }
    const qnames = ck.quantizedNames.filter((n) => !want || want.has(n));
    const onames = ck.otherNames.filter((n) => !want || want.has(n));
    const specs: TensorSpec[] = [
      ...qnames.map((n) => ({ name: n, dtype: "F32" as const, shape: ck.descriptor(n).shape })),
      ...onames.map((n) => ({ name: n, ...ck.otherInfo(n) })),
    ];
    const bar = progress("dequantize", specs.length, { quiet: opts.quiet ?? false });
    const writer = await SafetensorsWriter.create(out, specs, { format: "pt" });
    try {
      for (const n of qnames) {
        const qt = await ck.read(n);
        await writer.write(n, new Tensor(qt.shape, "F32", await dequantizeParallel(qt)));
        bar.tick(1, n);
      }
      for (const n of onames) {
        await writer.write(n, await ck.readOther(n));
        bar.tick(1, n);
      }
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    bar.done();
    return { tensors: specs.length, seconds: (performance.now() - t0) / 1000 };
  } finally {
    ck.close();
  }
}

/**
 * Relative error ‖W − Ŵ‖²/‖W‖² and bits per weight of every quantized tensor of `quant`
 * against the original checkpoint (folder or file) `orig`.
 *
 * @example
 * ```ts
 * import { checkpointError, quantizeCheckpoint } from "./quantized_checkpoint.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * import { fillNormal } from "../core/prng.ts";
 * const dir = await Deno.makeTempDir();
 * const w = fillNormal(new Float32Array(4 * 64), 1);
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([4, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { hadamard: 64 }, quiet: true,
 * });
 * const errs = await checkpointError(`${dir}/w.safetensors`, `${dir}/q.safetensors`);
 * await Deno.remove(dir, { recursive: true });
 * if (!(errs[0]!.relMse < 0.05)) throw new Error();
 * ```
 */
export async function checkpointError(
  orig: string,
  quant: string,
  opts: { tensors?: readonly string[]; quiet?: boolean } = {},
): Promise<TensorError[]> {
  const ck = await QuantizedCheckpoint.open(quant);
  const src = await openCheckpoint(orig);
  try {
    const want = opts.tensors && opts.tensors.length > 0 ? new Set(opts.tensors) : null;
    const names = ck.quantizedNames.filter((n) => !want || want.has(n));
    for (const n of want ?? []) {
      if (!ck.quantizedNames.includes(n)) {
        throw new QuantlabError(
          "not-found",
          `Checkpoint ${q(quant)} has no quantized tensor ${q(n)}`,
        );
      }
    }
    const bar = progress("error", names.length, { quiet: opts.quiet ?? true });
    const out: TensorError[] = [];
    for (const n of names) {
      const t = await src.read(n);
      const qt = await ck.read(n);
      const [rows, cols] = qt.shape;
      if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) {
        throw new QuantlabError(
          "bad-shape",
          `Tensor ${q(n)} is [${t.shape.join(", ")}] in ${q(orig)} but [${rows}, ${cols}] in ${
            q(quant)
          }`,
        );
      }
      out.push(tensorError(n, toSharedF32(t), qt, await dequantizeParallel(qt)));
      bar.tick(1, n);
    }
    bar.done();
    return out;
  } finally {
    ck.close();
    src.close();
  }
}
