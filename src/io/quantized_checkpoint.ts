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
 * `quantizeCheckpoint` (`src/jobs/quantize_checkpoint.ts`) plans every output file's layout up
 * front (`quantized_layout.ts`: the header space-padded to a reserved length), holds one tensor at
 * a time, writes each at its planned offset in a work folder beside the output
 * (`OUT.quantlab-work/`) and renames the output into place when it is complete; a killed run
 * resumes (`--resume`) at tensor granularity. Every output file's metadata carries the run id.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, Tensor } from "../core/tensor.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
import { openCheckpoint } from "./sharded.ts";
import { findDuplicateKey } from "./safetensors_json.ts";
import { isObj, q } from "./paths.ts";
import {
  parseDescriptor,
  QUANT_FORMAT_NAME,
  QUANT_FORMAT_VERSION,
  type QuantizedTensorDescriptor,
  quantizedTensorNames,
} from "./quantized_descriptor.ts";
import { partsChecksum, quantizedFromTensors, quantizedToTensors } from "./quantized_tensors.ts";

export * from "./quantized_descriptor.ts";
export * from "./quantized_tensors.ts";

/** The parsed `quantlab` metadata entry of one file. */
export interface FileMeta {
  /** Fingerprint of the run that wrote the file. */
  run: string | null;
  /** Descriptors by tensor name. */
  tensors: Map<string, QuantizedTensorDescriptor>;
}

/** Parses the `quantlab` metadata of a safetensors file; null when it has none. */
export function parseFileMeta(
  path: string,
  metadata: Readonly<Record<string, string>>,
): FileMeta | null {
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

/** The safetensors `__metadata__` of a quantized checkpoint file written by run `run`. */
export function fileMetadata(
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
 * atomically. Small-scale convenience; `quantizeCheckpoint` streams instead.
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

  /** Paths of the safetensors files of the checkpoint. */
  get files(): string[] {
    return this.#files.map((f) => f.path);
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
    // Structure first (its errors are the more specific), then the bytes against the checksum.
    const qt = quantizedFromTensors(name, d, (n) => got.get(n));
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
    return qt;
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
