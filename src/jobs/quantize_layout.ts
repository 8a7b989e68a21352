/**
 * The planned layout of a quantize run's output files (`quantize_checkpoint.ts`).
 *
 * Every output tensor's size follows from its shape and the settings before anything is
 * quantized: a tensor kept as it is keeps its source dtype and shape, and a quantized one stores
 * what its method's `Quantizer.layout` says. So each output file — the source file's tensors in
 * source order, a quantized weight as its parts (codes, table, scales, zeros) — gets its data
 * offsets up front, behind a header reserved at a length fixed by the plan: the exact tensor
 * entries plus a budget for the `quantlab` metadata, whose descriptors (checksums, the decoder's
 * offset, method parameters) are known only after quantizing. The plan depends only on the
 * source headers and the settings — never on the shard count — so a single run and every shard
 * compute the same offsets, write each tensor once at its place in a preallocated file, and the
 * header (space-padded to the reserved length, as safetensors allows) is written last.
 *
 * @module
 */
import type { DType } from "../core/tensor.ts";
import { QuantlabError } from "../core/errors.ts";
import type { QuantizedLayout } from "../quant/format.ts";
import { fileMetadata, type QuantizedTensorDescriptor } from "../io/quantized_checkpoint.ts";
import { layoutTensorSpecs, paddedHeader } from "../io/quantized_layout.ts";
import { encodeHeader, type TensorSpec } from "../io/safetensors_format.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import { q } from "../io/paths.ts";

/** One source file's header: its tensors in order. */
export interface SourceHeader {
  /** The source file. */
  path: string;
  /** Its tensor names, in file order. */
  names: string[];
  /** Dtype, shape and bytes of each tensor. */
  infos: Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>;
}

/** Reads the headers of the source files (nothing else). */
export async function readSourceHeaders(paths: readonly string[]): Promise<SourceHeader[]> {
  const headers: SourceHeader[] = [];
  for (const path of paths) {
    const f = await SafetensorsFile.open(path);
    const infos = new Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>();
    for (const n of f.names()) {
      const i = f.info(n);
      infos.set(n, { dtype: i.dtype, shape: i.shape, bytes: i.byteLength });
    }
    headers.push({ path, names: f.names(), infos });
    f.close();
  }
  return headers;
}

/** One tensor of an output file, at its planned place. */
export interface PlannedEntry {
  /** The source tensor's name. */
  name: string;
  /** Its layout when quantized; absent for a tensor stored as it is. */
  layout?: QuantizedLayout;
  /** The stored tensors (one, or the quantized parts in order). */
  specs: TensorSpec[];
  /** Byte offset of its first stored tensor in the file. */
  offset: number;
  /** Its stored bytes. */
  bytes: number;
}

/** The plan of one output file. */
export interface FilePlan {
  /** Its source file's header. */
  source: SourceHeader;
  /** Reserved header length (the 8-byte length included): where the data starts. */
  headerLength: number;
  /** Total size of the file. */
  size: number;
  /** Every stored tensor, in file order. */
  specs: TensorSpec[];
  /** Its tensors in source order. */
  entries: PlannedEntry[];
}

/** Header room per quantized tensor for its descriptor, with margin (see the module doc). */
export function descriptorBudget(name: string, settings: string): number {
  // A descriptor holds ~20 fixed fields and the method's parameters (≈ its settings); it is
  // JSON inside a JSON string, so quotes are escaped: twice its size is a safe bound.
  return 2 * (1024 + 2 * name.length + settings.length);
}

/**
 * Plans the output file of `source`: `layoutFor(name, rows, cols)` gives each selected tensor's
 * layout, `budgetFor(name)` its descriptor's header room ({@linkcode descriptorBudget}).
 *
 * @example
 * ```ts
 * import { planFile } from "./quantize_layout.ts";
 * const infos = new Map([["w", { dtype: "BF16" as const, shape: [2, 8], bytes: 32 }],
 *   ["n", { dtype: "F32" as const, shape: [8], bytes: 32 }]]);
 * const plan = planFile({ path: "m.safetensors", names: ["w", "n"], infos }, new Set(["w"]), () => ({
 *   shape: [2, 8], paddedCols: 8, p: 1, codeBits: 4, tableDtype: "F16", groupSize: 8,
 *   groupAxis: 1, scaleStorage: { kind: "float", dtype: "F16" },
 * }), () => 4096);
 * // codes 2×1 U32, table 16×1 F16, scales 2×1 F16, then the norm.
 * if (plan.size !== plan.headerLength + 8 + 32 + 4 + 32) throw new Error();
 * ```
 */
export function planFile(
  source: SourceHeader,
  selected: ReadonlySet<string>,
  layoutFor: (name: string, rows: number, cols: number) => QuantizedLayout,
  budgetFor: (name: string) => number,
): FilePlan {
  const parts: { name: string; layout?: QuantizedLayout; specs: TensorSpec[] }[] = [];
  let budget = 256; // the metadata's envelope and run id
  for (const name of source.names) {
    const i = source.infos.get(name)!;
    if (!selected.has(name)) {
      parts.push({ name, specs: [{ name, dtype: i.dtype, shape: [...i.shape] }] });
      continue;
    }
    const layout = layoutFor(name, i.shape[0]!, i.shape[1]!);
    parts.push({ name, layout, specs: layoutTensorSpecs(name, layout) });
    budget += budgetFor(name);
  }
  const specs = parts.flatMap((p) => p.specs);
  const reserved = encodeHeader(specs, { format: "pt", quantlab: "x".repeat(budget) });
  const headerLength = reserved.bytes.length;
  const entries: PlannedEntry[] = [];
  let offset = headerLength, k = 0;
  for (const p of parts) {
    let bytes = 0;
    for (let j = 0; j < p.specs.length; j++) bytes += reserved.byteLengths[k++]!;
    entries.push({ ...p, offset, bytes });
    offset += bytes;
  }
  return { source, headerLength, size: offset, specs, entries };
}

/**
 * The header of a planned file for run `run`, with the descriptors of its quantized tensors
 * (in file order), padded to the reserved length.
 */
export function plannedHeader(
  plan: FilePlan,
  run: string,
  descriptorOf: (name: string) => QuantizedTensorDescriptor | undefined,
): Uint8Array {
  const descriptors = new Map<string, QuantizedTensorDescriptor>();
  for (const e of plan.entries) {
    if (!e.layout) continue;
    const d = descriptorOf(e.name);
    if (!d) {
      throw new QuantlabError("bad-file", `No descriptor for ${q(e.name)} of this run`);
    }
    descriptors.set(e.name, d);
  }
  return paddedHeader(plan.specs, fileMetadata(run, descriptors), plan.headerLength);
}
