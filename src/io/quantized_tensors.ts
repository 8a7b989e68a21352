// This module is browser compatible.
/**
 * A {@linkcode QuantizedTensor} as the plain safetensors tensors and descriptor of a portable
 * quantized checkpoint (layout: see `quantized_checkpoint.ts`; the descriptor's fields and checks:
 * `quantized_descriptor.ts`): {@linkcode describeQuantized}, {@linkcode quantizedToTensors},
 * {@linkcode quantizedFromTensors} and the checksum of the stored parts. Storing never changes a
 * value: parameters are written in their declared precision or the write throws, and 8-bit
 * meta-quantized ones are written with the decoder that reproduces them exactly.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, numel, Tensor } from "../core/tensor.ts";
import { fromBf16, fromF16, toBf16, toF16 } from "../core/dtype.ts";
import { type ParamStorage, type QuantizedTensor, validateQuantized } from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { dynamicMap, type Int8Storage, metaDequantize } from "../quant/meta_quant.ts";
import { q } from "./paths.ts";
import { checksumOf } from "./checksum.ts";
import {
  type QuantizedTensorDescriptor,
  quantizedTensorNames,
  type StorageDescriptor,
} from "./quantized_descriptor.ts";

/**
 * The descriptor of a quantized tensor.
 *
 * @example
 * ```ts
 * import { describeQuantized } from "./quantized_tensors.ts";
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
 * import { quantizedToTensors } from "./quantized_tensors.ts";
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
 * import { partsChecksum, quantizedToTensors } from "./quantized_tensors.ts";
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

/**
 * Rebuilds a quantized tensor from its descriptor and stored tensors (`get(name)` returns the
 * stored tensor or undefined), checking every dtype, shape and value: a tampered or truncated
 * checkpoint gives a `bad-file` error naming the tensor, never a wrong Ŵ.
 *
 * @example
 * ```ts
 * import { quantizedFromTensors, quantizedToTensors } from "./quantized_tensors.ts";
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
