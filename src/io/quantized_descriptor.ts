// This module is browser compatible.
/**
 * The descriptor of a quantized tensor in a portable quantized checkpoint (layout: see
 * `quantized_checkpoint.ts`): its fields, the names of the stored tensors it describes, and
 * {@linkcode parseDescriptor}, which checks one read from a file. Turning a
 * `QuantizedTensor` into its descriptor and plain safetensors tensors and back is
 * `quantized_tensors.ts`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { QUANT_METHODS, type QuantMethod, type Rotation } from "../quant/format.ts";
import type { MetaMap } from "../quant/meta_quant.ts";
import { isObj } from "./paths.ts";
import { CHECKSUM_PATTERN } from "./checksum.ts";

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
