/**
 * `quantlab info MODEL`: what a checkpoint folder or `.safetensors` file holds, from headers and
 * JSON files only — architecture, parameters by kind, stored dtypes, context length, vocabulary,
 * tokenizer, quantization config and (with `--tensors`) one row per tensor.
 *
 * @module
 */
import { type CheckpointReport, inspectCheckpoint } from "../io/inspect.ts";
import { loadHfConfig, loadTokenizer } from "../model/loader.ts";
import type { LlamaConfig } from "../model/config.ts";
import { formatTable } from "./table.ts";

/** A model folder or file, described for `info` (text or `--json`). */
export interface ModelInfo {
  /** The checkpoint's files, tensors and parameters. */
  report: CheckpointReport;
  /** The parsed config.json (a folder of a supported architecture), else null. */
  config: LlamaConfig | null;
  /** Why config.json was not read, when it was not. */
  configNote: string | null;
  /** The tokenizer, when the folder has one. */
  tokenizer: { type: string; vocabSize: number; specials: string } | null;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Reads everything `info` shows about `path`.
 *
 * @example
 * ```ts
 * import { readModelInfo } from "./model_info.ts";
 * const i = await readModelInfo("assets/tiny-llama");
 * if (i.config?.numLayers !== 4 || i.tokenizer === null) throw new Error();
 * ```
 */
export async function readModelInfo(path: string): Promise<ModelInfo> {
  const report = await inspectCheckpoint(path);
  let config: LlamaConfig | null = null;
  let configNote: string | null = null;
  let tokenizer: ModelInfo["tokenizer"] = null;
  if (await isDir(path)) {
    try {
      config = (await loadHfConfig(path)).config;
    } catch (e) {
      configNote = (e as Error).message;
    }
    try {
      const tok = await loadTokenizer(path);
      const raw = JSON.parse(await Deno.readTextFile(`${path}/tokenizer.json`));
      tokenizer = {
        type: String(raw?.model?.type ?? "unknown"),
        vocabSize: tok.vocabSize,
        specials: tok.describeSpecials(),
      };
    } catch {
      tokenizer = null;
    }
  } else configNote = "a single .safetensors file has no config.json";
  return { report, config, configNote, tokenizer };
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}K`;
  return String(n);
}

/**
 * The text report of `info MODEL` (with the per-tensor table when `tensors`).
 *
 * @example
 * ```ts
 * import { modelInfoText, readModelInfo } from "./model_info.ts";
 * const t = modelInfoText(await readModelInfo("assets/tiny-llama"), false);
 * if (!/parameters\s+4\.46M/.test(t)) throw new Error(t);
 * ```
 */
export function modelInfoText(info: ModelInfo, tensors: boolean): string {
  const { report: r, config: c, tokenizer: tok } = info;
  const k = r.paramsByKind;
  const parts = [
    ["embedding", k.embedding],
    ["projections", k.projection],
    ["norms", k.norm],
    ["lm_head", k.lm_head],
    ["biases", k.bias],
    ["other", k.other],
  ].filter(([, n]) => (n as number) > 0).map(([what, n]) => `${what} ${count(n as number)}`);
  const dtypes = Object.entries(r.storedDtypes)
    .map(([d, v]) => `${d} (${v.tensors} tensors, ${mib(v.bytes)})`).join(", ");
  const lines: [string, string][] = [
    [
      "path",
      `${r.path} (${r.quantized ? "quantized" : "dense"}; ${r.files.length} file${
        r.files.length === 1 ? "" : "s"
      }, ${mib(r.totalBytes)})`,
    ],
    [
      "architecture",
      c
        ? `${c.architecture}: ${c.numLayers} layers, hidden ${c.hiddenSize}, MLP ` +
          `${c.intermediateSize}, ${c.numHeads} heads (${c.numKvHeads} KV, head ${c.headDim})`
        : `unknown (${info.configNote})`,
    ],
    [
      "parameters",
      `${count(r.totalParams)} = ${parts.join(" + ")}` +
      (c?.tieWordEmbeddings ? " (lm_head tied to the embedding)" : ""),
    ],
    ["stored dtypes", dtypes || "none"],
  ];
  if (c) {
    lines.push(["context length", `${c.maxPositionEmbeddings} (max_position_embeddings)`]);
    lines.push(["vocabulary", String(c.vocabSize)]);
  }
  lines.push([
    "tokenizer",
    tok ? `${tok.type}, ${tok.vocabSize} tokens; ${tok.specials}` : "none (no tokenizer.json)",
  ]);
  const q = r.quantizedSummary;
  if (q) {
    const b = q.bits;
    const cfg = c?.quantization;
    lines.push([
      "quantization",
      (cfg ? `${String(cfg.method ?? cfg.quant_method ?? "?")} (quantization_config); ` : "") +
      `${q.tensors} tensors, ${count(q.weights)} weights at ${b.total.toFixed(4)} bits/weight ` +
      `= codes ${b.codes.toFixed(4)} + scales ${b.scales.toFixed(4)} + table ` +
      `${b.table.toFixed(4)} + padding ${b.padding.toFixed(4)}`,
    ]);
  } else lines.push(["quantization", "none"]);
  let text = lines.map(([a, b]) => `${a.padEnd(15)} ${b}`).join("\n");
  if (tensors) {
    const rows = r.tensors.map((t) => [
      t.name,
      t.shape.join("x"),
      t.quant ? t.quant.method : t.dtype,
      t.quant ? t.quant.bits.total.toFixed(4) : String(t.bytes * 8 / Math.max(1, t.elements)),
      t.quant ? String(t.quant.hadamard) : "",
      t.kind,
    ]);
    text += "\n\n" +
      formatTable(["tensor", "shape", "method", "bits/weight", "hadamard", "kind"], rows);
  }
  return text;
}

/**
 * The `--json` body of `info MODEL` (schema `quantlab.info`).
 *
 * @example
 * ```ts
 * import { modelInfoJson, readModelInfo } from "./model_info.ts";
 * const j = modelInfoJson(await readModelInfo("assets/tiny-llama"));
 * if ((j.parameters as { total: number }).total !== 4458752) throw new Error();
 * ```
 */
export function modelInfoJson(info: ModelInfo): Record<string, unknown> {
  const { report: r, config: c, tokenizer } = info;
  return {
    path: r.path,
    quantized: r.quantized,
    files: r.files,
    totalBytes: r.totalBytes,
    architecture: c
      ? {
        name: c.architecture,
        layers: c.numLayers,
        hiddenSize: c.hiddenSize,
        intermediateSize: c.intermediateSize,
        heads: c.numHeads,
        kvHeads: c.numKvHeads,
        headDim: c.headDim,
        tiedEmbeddings: c.tieWordEmbeddings,
      }
      : null,
    parameters: { total: r.totalParams, byKind: r.paramsByKind },
    storedDtypes: r.storedDtypes,
    contextLength: c?.maxPositionEmbeddings ?? null,
    vocabSize: c?.vocabSize ?? null,
    tokenizer,
    quantization: r.quantizedSummary
      ? {
        config: c?.quantization ?? null,
        tensors: r.quantizedSummary.tensors,
        weights: r.quantizedSummary.weights,
        bitsPerWeight: r.quantizedSummary.bits,
      }
      : null,
    tensors: r.tensors,
  };
}
