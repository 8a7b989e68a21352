/**
 * What a checkpoint holds, without reading its weights: the files and their sizes, every stored
 * tensor's dtype and shape, the parameters by kind (embedding, projections, norms, …), and for a
 * quantlab quantized checkpoint each quantized tensor's method, bits per weight by part and
 * Hadamard block (from the descriptors and the tables' shapes; codes are not read). A folder's
 * `config.json`, tokenizer and `quantization_config` are read too. `quantlab info MODEL` prints
 * it; `quantlab quantize` uses it for its summary.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, numel } from "../core/tensor.ts";
import { openCheckpoint } from "./sharded.ts";
import { QuantizedCheckpoint, quantizedTensorNames } from "./quantized_checkpoint.ts";
import { type BitsSplit, bitsSplit } from "./bits_split.ts";

/** What a parameter is for, by its name. */
export type ParamKind = "embedding" | "projection" | "norm" | "lm_head" | "bias" | "other";

/** One logical tensor: a plain stored tensor, or a quantized weight (all its parts). */
export interface InspectedTensor {
  /** Tensor name (a quantized weight's own name, not its `.codes` part). */
  name: string;
  /** What it is for. */
  kind: ParamKind;
  /** Original shape. */
  shape: number[];
  /** Original element count. */
  elements: number;
  /** Stored dtype of a plain tensor; "quantized" for a quantized weight. */
  dtype: DType | "quantized";
  /** Stored bytes (all parts of a quantized weight). */
  bytes: number;
  /** For a quantized weight: method, bits per weight by part, Hadamard block (0: none). */
  quant: { method: string; bits: BitsSplit; hadamard: number; p: number; group: number } | null;
}

/** A checkpoint, described. */
export interface CheckpointReport {
  /** The path given. */
  path: string;
  /** Its safetensors files with their sizes in bytes. */
  files: { path: string; bytes: number }[];
  /** Bytes of all safetensors files. */
  totalBytes: number;
  /** True for a quantlab quantized checkpoint. */
  quantized: boolean;
  /** Every logical tensor, in stored order. */
  tensors: InspectedTensor[];
  /** Parameters (original elements) by kind; they add up to `totalParams`. */
  paramsByKind: Record<ParamKind, number>;
  /** All parameters. */
  totalParams: number;
  /** Stored tensors (parts included) by dtype: count and bytes. */
  storedDtypes: Record<string, { tensors: number; bytes: number }>;
  /** Over the quantized tensors: weights, and bits per weight by part (weight-averaged). */
  quantizedSummary: { tensors: number; weights: number; bits: BitsSplit } | null;
}

const EMBED = /(^|\.)(embed_tokens|wte|wpe|word_embeddings|tok_embeddings|embed_in)\.weight$/;
const LM_HEAD = /(^|\.)(lm_head|embed_out)\.weight$|^output\.weight$/;

/**
 * The kind of a parameter by its name and shape.
 *
 * @example
 * ```ts
 * import { paramKind } from "./inspect.ts";
 * if (paramKind("model.layers.0.self_attn.q_proj.weight", [8, 8]) !== "projection") throw new Error();
 * if (paramKind("model.norm.weight", [8]) !== "norm") throw new Error();
 * ```
 */
export function paramKind(name: string, shape: readonly number[]): ParamKind {
  if (EMBED.test(name)) return "embedding";
  if (LM_HEAD.test(name)) return "lm_head";
  if (/norm|ln_\d|ln_f/i.test(name)) return "norm";
  if (name.endsWith(".bias")) return "bias";
  if (shape.length === 2) return "projection";
  return "other";
}

function emptyKinds(): Record<ParamKind, number> {
  return { embedding: 0, projection: 0, norm: 0, lm_head: 0, bias: 0, other: 0 };
}

async function openQuantized(path: string): Promise<QuantizedCheckpoint | null> {
  try {
    return await QuantizedCheckpoint.open(path);
  } catch (e) {
    if (e instanceof QuantlabError && /no file has "quantlab" metadata/.test(e.message)) {
      return null;
    }
    throw e;
  }
}

/**
 * Describes the checkpoint at `path` (a folder with `model.safetensors` or a sharded index, or one
 * `.safetensors` file), reading headers only.
 *
 * @example
 * ```ts
 * import { inspectCheckpoint } from "./inspect.ts";
 * const r = await inspectCheckpoint("assets/tiny-llama");
 * if (r.quantized || r.totalParams !== Object.values(r.paramsByKind).reduce((a, b) => a + b)) {
 *   throw new Error();
 * }
 * ```
 */
export async function inspectCheckpoint(path: string): Promise<CheckpointReport> {
  const ck = await openCheckpoint(path);
  const qk = await openQuantized(path).catch((e) => {
    ck.close();
    throw e;
  });
  try {
    const files = await Promise.all(
      ck.files.map(async (f) => ({ path: f, bytes: (await Deno.stat(f)).size })),
    );
    const storedDtypes: CheckpointReport["storedDtypes"] = {};
    const info = new Map<string, { dtype: DType; shape: readonly number[]; bytes: number }>();
    for (const n of ck.names()) {
      const i = await ck.info(n);
      const bytes = i.byteLength;
      info.set(n, { dtype: i.dtype, shape: i.shape, bytes });
      const d = (storedDtypes[i.dtype] ??= { tensors: 0, bytes: 0 });
      d.tensors++;
      d.bytes += bytes;
    }
    const parts = new Set<string>();
    const tensors: InspectedTensor[] = [];
    let qWeights = 0;
    const qBits = { codes: 0, padding: 0, scales: 0, table: 0, total: 0 };
    for (const name of qk?.quantizedNames ?? []) {
      const d = qk!.descriptor(name);
      const names = quantizedTensorNames(name, d);
      if (ck.has(`${name}.zeros`) && !names.includes(`${name}.zeros`)) names.push(`${name}.zeros`);
      for (const n of names) parts.add(n);
      const bits = bitsSplit({
        ...d,
        hasZeros: ck.has(`${name}.zeros`),
        tableLength: numel(info.get(`${name}.table`)?.shape ?? [0]),
      });
      const elements = d.shape[0] * d.shape[1];
      qWeights += elements;
      for (const k of Object.keys(qBits) as (keyof BitsSplit)[]) qBits[k] += bits[k] * elements;
      tensors.push({
        name,
        kind: paramKind(name, d.shape),
        shape: [...d.shape],
        elements,
        dtype: "quantized",
        bytes: names.reduce((a, n) => a + (info.get(n)?.bytes ?? 0), 0),
        quant: {
          method: d.method,
          bits,
          hadamard: d.rotation.kind === "hadamard" ? d.rotation.size : 0,
          p: d.p,
          group: d.groupSize,
        },
      });
    }
    for (const [name, i] of info) {
      if (parts.has(name)) continue;
      tensors.push({
        name,
        kind: paramKind(name, i.shape),
        shape: [...i.shape],
        elements: numel(i.shape),
        dtype: i.dtype,
        bytes: i.bytes,
        quant: null,
      });
    }
    const paramsByKind = emptyKinds();
    for (const t of tensors) paramsByKind[t.kind] += t.elements;
    const per = (x: number): number => (qWeights > 0 ? x / qWeights : 0);
    return {
      path,
      files,
      totalBytes: files.reduce((a, f) => a + f.bytes, 0),
      quantized: qk !== null,
      tensors,
      paramsByKind,
      totalParams: tensors.reduce((a, t) => a + t.elements, 0),
      storedDtypes,
      quantizedSummary: qk === null ? null : {
        tensors: qk.quantizedNames.length,
        weights: qWeights,
        bits: {
          codes: per(qBits.codes),
          padding: per(qBits.padding),
          scales: per(qBits.scales),
          table: per(qBits.table),
          total: per(qBits.total),
        },
      },
    };
  } finally {
    qk?.close();
    ck.close();
  }
}
