/**
 * One tensor of a quantize run (`quantize_checkpoint.ts`): read from the source, quantized (or
 * kept as it is), checked against its planned layout (`quantize_layout.ts`) and written at its
 * planned offset in the output file, synced before the run's log records it.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { toSharedF32 } from "../core/dtype.ts";
import type { Backend } from "../gpu/backend.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import type { Quantizer, QuantOptions } from "../quant/quantizer.ts";
import { type QuantizedTensorDescriptor, quantizedToTensors } from "../io/quantized_checkpoint.ts";
import type { SafetensorsFile } from "../io/safetensors.ts";
import { tensorBytes } from "../io/safetensors_format.ts";
import { type PlannedFile, writeAtAndSync } from "../io/planned_file.ts";
import { q } from "../io/paths.ts";
import type { PlannedEntry } from "./quantize_layout.ts";
import { mergeOptions } from "./quantize_run.ts";

/** Tensors zero-padded to whole blocks or groups, and what the padding costs. */
export interface PaddingTally {
  /** Padded tensors. */
  tensors: number;
  /** Bits spent on padded columns (codes and scales). */
  bits: number;
  /** One example, "name: width a → b". */
  example?: string;
}

/** How the run encodes a tensor. */
export interface TensorEncoder {
  /** The method's quantizer. */
  quantizer: Quantizer;
  /** The run's options. */
  options: QuantOptions;
  /** Per-tensor options. */
  perTensor: Readonly<Record<string, QuantOptions>>;
  /** The encoder's backend. */
  backend?: Backend;
  /** A data-aware job's own encoder (GPTQ), in place of the quantizer. */
  encode?: (name: string, w: Float32Array, rows: number, cols: number) => Promise<QuantizedTensor>;
}

function tallyPadding(name: string, qt: QuantizedTensor, padding: PaddingTally): void {
  const [rows, cols] = qt.shape;
  if (qt.paddedCols <= cols) return;
  const pad = qt.paddedCols - cols;
  const scaleBits = qt.scaleStorage?.kind === "float" && qt.scaleStorage.dtype === "F32" ? 32 : 16;
  const bits = rows * pad * (qt.codeBits / qt.p) +
    (qt.groupAxis === 1 ? (rows * pad / qt.groupSize) * scaleBits : 0);
  padding.tensors++;
  padding.bits += bits;
  padding.example ??= `${name}: width ${cols} → ${qt.paddedCols}`;
}

/**
 * Reads `entry` from `src`, quantizes it when planned so, and writes it in place into `out`
 * (synced); returns the quantized tensor's descriptor (undefined for a tensor kept as it is).
 * A quantized result whose stored tensors differ from the plan is an error naming the tensor.
 */
export async function writeEntry(
  src: SafetensorsFile,
  entry: PlannedEntry,
  out: PlannedFile,
  enc: TensorEncoder,
  padding: PaddingTally,
): Promise<QuantizedTensorDescriptor | undefined> {
  const t = await src.read(entry.name);
  if (!entry.layout) {
    await writeAtAndSync(out, entry.offset, [tensorBytes(t)]);
    return undefined;
  }
  const name = entry.name;
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  const w = toSharedF32(t);
  const qt = enc.encode ? await enc.encode(name, w, rows, cols) : await enc.quantizer.quantize(
    w,
    rows,
    cols,
    mergeOptions(enc.options, enc.perTensor[name]),
    enc.backend,
    name,
  );
  tallyPadding(name, qt, padding);
  const { tensors, descriptor } = quantizedToTensors(name, qt, t.dtype);
  const got = tensors.map(([n, x]) => `${n} ${x.dtype} [${x.shape.join(", ")}]`).join("; ");
  const want = entry.specs.map((s) => `${s.name} ${s.dtype} [${s.shape.join(", ")}]`).join("; ");
  if (got !== want) {
    throw new QuantlabError(
      "unsupported",
      `Quantized ${q(name)} stores ${got}; its method's layout planned ${want}: the method's ` +
        "layout() does not describe its output",
    );
  }
  await writeAtAndSync(out, entry.offset, tensors.map(([, x]) => tensorBytes(x)));
  return descriptor;
}
