/**
 * The end of a quantize run (`quantize_checkpoint.ts`): recognising an output file a run of the
 * same id already finished, and the folder's other files — the index of a sharded source,
 * `config.json` with its `quantization_config`, and the copied tokenizer and JSON files.
 *
 * @module
 */
import type { DType } from "../core/tensor.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import {
  parseFileMeta,
  QUANT_FORMAT_NAME,
  QUANT_FORMAT_VERSION,
  type QuantizedTensorDescriptor,
  quantizedTensorNames,
} from "../io/quantized_checkpoint.ts";
import { SafetensorsFile } from "../io/safetensors.ts";
import { INDEX_FILE } from "../io/sharded.ts";
import { baseName, joinPath } from "../io/paths.ts";
import { copyFileAtomic, pathExists, writeFileAtomic } from "../io/atomic.ts";
import type { FilePlan } from "./quantize_layout.ts";

/** The quantized tensors of a finished output file of run `run`, or null (missing, another run). */
export async function finishedFile(
  path: string,
  run: string,
): Promise<{ descriptor: QuantizedTensorDescriptor; bytes: number }[] | null> {
  if (!(await pathExists(path))) return null;
  try {
    const f = await SafetensorsFile.open(path);
    try {
      const meta = parseFileMeta(path, f.metadata);
      if (meta?.run !== run) return null;
      const out: { descriptor: QuantizedTensorDescriptor; bytes: number }[] = [];
      for (const [name, d] of meta.tensors) {
        let bytes = 0;
        for (const n of quantizedTensorNames(name, d)) bytes += f.info(n).byteLength;
        out.push({ descriptor: d, bytes });
      }
      return out;
    } finally {
      f.close();
    }
  } catch {
    return null;
  }
}

/** What the folder's files are made from. */
export interface FolderFiles {
  /** The source folder. */
  input: string;
  /** The source's config.json and the files to copy (null for a single-file source). */
  extras: { config: Record<string, unknown>; copy: string[] } | null;
  /** Whether the source has an index. */
  indexed: boolean;
  /** The output files' plans with their staged paths. */
  files: { plan: FilePlan; path: string }[];
  /** The method, its options and the run's extra config keys. */
  method: string;
  options: QuantOptions;
  config?: Readonly<Record<string, unknown>>;
  /** The quantized tensors and every tensor (name, dtype, shape). */
  selected: ReadonlySet<string>;
  all: readonly (readonly [string, DType, readonly number[]])[];
  /** The run id. */
  run: string;
  /** The parameters as the quantizer resolved them for the first tensor (null: none). */
  resolvedParams: QuantizedTensorDescriptor["params"] | null;
}

/** Writes the index (sharded sources), `config.json` and the copied files into `dir`. */
export async function writeFolderFiles(dir: string, f: FolderFiles): Promise<void> {
  if (f.indexed) {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    for (const { plan, path } of f.files) {
      for (const e of plan.entries) {
        for (const s of e.specs) weightMap[s.name] = baseName(path);
        totalSize += e.bytes;
      }
    }
    const sorted = Object.fromEntries(
      Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    await writeFileAtomic(
      joinPath(dir, INDEX_FILE),
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + "\n",
    );
  }
  if (!f.extras) return;
  const config = { ...f.extras.config };
  config.quantization_config = {
    ...quantizationConfig(f.method, f.options, f.selected, f.all, f.run),
    ...f.config,
  };
  // The parameters as the quantizer resolved them (defaults filled), from the first tensor.
  if (f.resolvedParams) {
    // With auto Hadamard blocks the block (and the default group) vary per tensor; each
    // tensor's descriptor holds its own.
    const auto = f.method === "higgs" && f.options.hadamard === undefined;
    (config.quantization_config as Record<string, unknown>).parameters = auto
      ? {
        ...(f.resolvedParams as Record<string, unknown>),
        hadamard: "auto",
        ...(f.options.groupSize === undefined ? { groupSize: "per tensor" } : {}),
      }
      : f.resolvedParams;
  }
  await writeFileAtomic(joinPath(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  // Symlinked files (a Hugging Face cache snapshot) are copied as content, never as links.
  for (const name of f.extras.copy) {
    await copyFileAtomic(joinPath(f.input, name), joinPath(dir, name));
  }
}

function quantizationConfig(
  method: string,
  options: QuantOptions,
  selected: ReadonlySet<string>,
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
