// This module is browser compatible.
/**
 * The descriptor of a quantized tensor in a portable quantized checkpoint (layout: see
 * `quantized_checkpoint.ts`): {@linkcode describeQuantized} and {@linkcode parseDescriptor}, and the
 * mapping between a {@linkcode QuantizedTensor} and its plain safetensors tensors
 * ({@linkcode quantizedToTensors}, {@linkcode quantizedFromTensors}).
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
import { isObj, q } from "./paths.ts";
import { CHECKSUM_PATTERN, checksumOf } from "./checksum.ts";

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

/**
 * The descriptor of a quantized tensor.
 *
 * @example
 * ```ts
 * import { describeQuantized } from "./quantized_descriptor.ts";
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
 * import { quantizedToTensors } from "./quantized_descriptor.ts";
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

/**
 * The checksum of a quantized tensor's stored parts (`parts` maps their names to the tensors), in
 * {@linkcode quantizedTensorNames} order; a missing part counts as no bytes.
 *
 * @example
 * ```ts
 * import { partsChecksum, quantizedToTensors } from "./quantized_descriptor.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const { tensors, descriptor } = quantizedToTensors("w", {
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F16" }, rotation: { kind: "none" }, params: {},
 * });
 * if (partsChecksum("w", descriptor, new Map(tensors)) !== descriptor.checksum) throw new Error();
 * ```
 */
export function partsChecksum(
  name: string,
  d: QuantizedTensorDescriptor,
  parts: ReadonlyMap<string, Tensor>,
): string {
  return checksumOf(
    quantizedTensorNames(name, d).map((n) => parts.get(n)?.data ?? new Uint8Array()),
  );
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

/**
 * Checks a descriptor read from a file (types and ranges of every field); throws a `bad-file`
 * error naming the tensor and the field.
 *
 * @example
 * ```ts
 * import { parseDescriptor } from "./quantized_descriptor.ts";
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
 * import { quantizedFromTensors, quantizedToTensors } from "./quantized_descriptor.ts";
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
