// This module is browser compatible.
/**
 * Planned quantized-checkpoint files: the safetensors tensors a quantized weight will be stored
 * as, from its {@linkcode QuantizedLayout} alone (before it is quantized), and a header padded to
 * a length fixed in advance. With both, a quantize run computes every output file's data offsets
 * before it quantizes anything, identically in a single run and in every shard, so each tensor is
 * written once, in place, and the header last (`src/jobs/quantize_layout.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { numel } from "../core/tensor.ts";
import type { ParamLayout, QuantizedLayout } from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { encodeHeader, type TensorSpec } from "./safetensors_format.ts";

/**
 * The safetensors tensors (names, dtypes, shapes) that store quantized weight `name` with layout
 * `l`, in the order `quantizedToTensors` gives them (`quantized_tensors.ts`).
 *
 * @example
 * ```ts
 * import { layoutTensorSpecs } from "./quantized_layout.ts";
 * const specs = layoutTensorSpecs("w", {
 *   shape: [2, 8], paddedCols: 8, p: 1, codeBits: 4, tableDtype: "F16", groupSize: 4,
 *   groupAxis: 1, scaleStorage: { kind: "float", dtype: "F16" },
 * });
 * if (specs.map((s) => s.shape.join("x")).join() !== "2x1,16x1,2x2") throw new Error();
 * ```
 */
export function layoutTensorSpecs(name: string, l: QuantizedLayout): TensorSpec[] {
  const [rows] = l.shape;
  const gshape = l.groupAxis === 1
    ? [rows, l.paddedCols / l.groupSize]
    : [rows / l.groupSize, l.paddedCols];
  const specs: TensorSpec[] = [
    {
      name: `${name}.codes`,
      dtype: "U32",
      shape: [rows, rowStrideWords(l.paddedCols / l.p, l.codeBits)],
    },
    { name: `${name}.table`, dtype: l.tableDtype, shape: [2 ** l.codeBits, l.p] },
  ];
  const param = (what: string, s: ParamLayout): void => {
    const key = `${name}.${what}`;
    if (s.kind === "float") {
      specs.push({ name: key, dtype: s.dtype, shape: gshape });
      return;
    }
    const metaGroups = Math.ceil(numel(gshape) / s.group);
    specs.push({ name: key, dtype: "U8", shape: gshape });
    specs.push({ name: `${key}.meta_scale`, dtype: "F32", shape: [metaGroups] });
    if (s.metaZero) specs.push({ name: `${key}.meta_zero`, dtype: "F32", shape: [metaGroups] });
  };
  param("scales", l.scaleStorage);
  if (l.zeroStorage) param("zeros", l.zeroStorage);
  return specs;
}

/**
 * The header of a safetensors file holding `specs` (in this order) with `metadata`, padded with
 * spaces to exactly `length` bytes (the 8-byte length included; a multiple of 8), so its data
 * starts at `length` whatever the metadata turns out to be. Throws when it does not fit.
 *
 * @example
 * ```ts
 * import { paddedHeader } from "./quantized_layout.ts";
 * const h = paddedHeader([{ name: "w", dtype: "F16", shape: [3] }], { a: "b" }, 128);
 * if (h.length !== 128 || h[127] !== 0x20) throw new Error();
 * ```
 */
export function paddedHeader(
  specs: readonly TensorSpec[],
  metadata: Readonly<Record<string, string>>,
  length: number,
): Uint8Array {
  const h = encodeHeader(specs, metadata).bytes;
  if (length % 8 !== 0 || h.length > length) {
    throw new QuantlabError(
      "bad-argument",
      `The planned safetensors header of ${length} bytes cannot hold this header ` +
        `(${h.length} bytes, multiple of 8)`,
    );
  }
  const out = new Uint8Array(length).fill(0x20, 8);
  out.set(h.subarray(8), 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(length - 8), true);
  return out;
}
