/**
 * The perplexity table on the embedded default: the project's tiny Llama (`assets/tiny-llama`,
 * trained by `quantlab train` on Brown) with every projection quantized by each method, evaluated
 * on the first windows of Brown's test split (or all of it), against the dense model on the same
 * windows (a paired comparison: ΔPPL with its standard error over windows), and against the HIGGS
 * reference of the method's bit class (the same pairing, with its z: whether the difference
 * between two methods at equal bits is more than noise).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { loadBrown } from "../data/brown.ts";
import { pairedCompare } from "../eval/paired.ts";
import { evaluatePerplexity, type PerplexityRun } from "../eval/perplexity.ts";
import type { Backend } from "../gpu/backend.ts";
import { LutLinear } from "../lut/linear.ts";
import { loadModel, loadTokenizer } from "../model/loader.ts";
import { LINEAR_KINDS, linearName } from "../model/types.ts";
import { bitsPerWeight } from "../quant/format.ts";
import { getQuantizer } from "../quant/registry.ts";
import { DEMO_METHODS, type DemoMethod } from "./demo.ts";
import { TINY_LLAMA } from "./embedded_models.ts";

/** The embedded default model's folder. */
export const TINY_MODEL_URL: URL = TINY_LLAMA.url;

/**
 * The demo's methods for the tiny model: as `DEMO_METHODS`, but HIGGS rotates blocks of 256 (its
 * widths, 256 and 768, are multiples of 256; blocks of 1024 would pad 256 columns to 1024).
 */
export const TINY_METHODS: readonly DemoMethod[] = DEMO_METHODS.map((m) =>
  m.method === "higgs"
    ? { ...m, label: m.label.replace("h1024", "h256"), options: { ...m.options, hadamard: 256 } }
    : m
);

/** One row of the table. */
export interface TinyPplRow {
  /** Method label ("dense" for the baseline). */
  label: string;
  /** Bits per weight over the quantized projections (32 for dense). */
  bitsPerWeight: number;
  /** Perplexity. */
  ppl: number;
  /** Its standard error over windows. */
  pplSe: number | null;
  /** PPL − dense PPL on the same windows (null for dense). */
  deltaPpl: number | null;
  /** Standard error of that difference, from the paired per-window NLL differences. */
  deltaPplSe: number | null;
  /** The paired difference to the HIGGS reference of the same bit class (null for dense and
   * for the references themselves). */
  vsReference: ReferenceDelta | null;
  /** NLL sum of each window (nats), in order: what the paired columns were computed from. */
  windowNll: number[];
}

/** A method minus its bit class's HIGGS reference, paired window by window. */
export interface ReferenceDelta {
  /** The reference's label. */
  reference: string;
  /** PPL − reference PPL on the same windows. */
  deltaPpl: number;
  /** Its standard error (from the per-window NLL differences). */
  deltaPplSe: number | null;
  /** Mean per-window NLL difference over its standard error (> 2: reliably worse). */
  z: number | null;
}

/** Options of {@linkcode runTinyPplTable}. */
export interface TinyPplOptions {
  /** Methods (default {@linkcode TINY_METHODS}). */
  methods?: readonly DemoMethod[];
  /** Window length in tokens (default 256). */
  ctx?: number;
  /** Number of windows of the test split (default 16), or "all" for the whole split. */
  windows?: number | "all";
  /** Model folder (default the embedded one). */
  modelDir?: string;
  /** Encoder backend for the quantizers. */
  backend?: Backend;
  /** Called after each row. */
  onRow?: (r: TinyPplRow) => void;
}

/**
 * Builds the table (see the module doc). Errors: `not-found` when the model folder is missing.
 *
 * @example
 * ```ts
 * import { runTinyPplTable } from "./tiny_ppl.ts";
 * const rows = await runTinyPplTable({
 *   methods: [{ label: "nf4 g64", method: "nf4", options: { groupSize: 64 }, bitClass: 4 }],
 *   windows: 2,
 * });
 * if (!(rows[1]!.ppl > rows[0]!.ppl * 0.9)) throw new Error();
 * ```
 */
export async function runTinyPplTable(opts: TinyPplOptions): Promise<TinyPplRow[]> {
  const dir = opts.modelDir ?? TINY_MODEL_URL.pathname;
  try {
    await Deno.stat(`${dir}/config.json`);
  } catch {
    throw new QuantlabError(
      "not-found",
      `No model at ${dir}; train it with: quantlab train --out ${dir}`,
    );
  }
  const ctx = opts.ctx ?? 256, count = opts.windows ?? 16;
  const tok = await loadTokenizer(dir);
  const all = tok.encode(await loadBrown("test"));
  const ids = count === "all" ? all : all.slice(0, Math.min(all.length, ctx * count));
  const dense = await loadModel(dir);
  const evaluate = (m: typeof dense) => evaluatePerplexity(m, ids, { ctx });
  const base: PerplexityRun = await evaluate(dense);
  const rows: TinyPplRow[] = [{
    label: "dense (f32 compute, bf16 weights)",
    bitsPerWeight: 16,
    ppl: base.ppl,
    pplSe: base.pplSe,
    deltaPpl: null,
    deltaPplSe: null,
    vsReference: null,
    windowNll: base.windows.map((w) => w.nll),
  }];
  opts.onRow?.(rows[0]!);
  const references = new Map<number, { label: string; run: PerplexityRun }>();
  for (const m of opts.methods ?? TINY_METHODS) {
    const model = await loadModel(dir);
    const q = getQuantizer(m.method);
    let bits = 0, weights = 0;
    for (let l = 0; l < model.config.numLayers; l++) {
      for (const kind of LINEAR_KINDS) {
        const lin = model.getLinear(l, kind);
        const t = await q.quantize(
          lin.weightF32!(),
          lin.outFeatures,
          lin.inFeatures,
          m.options,
          opts.backend,
          linearName(l, kind),
        );
        const n = lin.outFeatures * lin.inFeatures;
        bits += bitsPerWeight(t) * n;
        weights += n;
        model.setLinear(l, kind, new LutLinear(t, undefined, linearName(l, kind)));
      }
    }
    const run = await evaluate(model);
    const cmp = pairedCompare({ windows: base.windows }, { windows: run.windows });
    const ref = references.get(m.bitClass);
    if (!ref && m.method === "higgs") references.set(m.bitClass, { label: m.label, run });
    // ΔPPL ≈ PPL·ΔNLL for small differences: its SE from the per-token NLL difference's.
    const row: TinyPplRow = {
      label: m.label,
      bitsPerWeight: bits / weights,
      ppl: run.ppl,
      pplSe: run.pplSe,
      deltaPpl: cmp.deltaPpl,
      deltaPplSe: cmp.deltaMeanNllSe === null ? null : run.ppl * cmp.deltaMeanNllSe,
      vsReference: ref ? referenceDelta(ref.label, ref.run, run) : null,
      windowNll: run.windows.map((w) => w.nll),
    };
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

function referenceDelta(label: string, ref: PerplexityRun, run: PerplexityRun): ReferenceDelta {
  const c = pairedCompare({ windows: ref.windows }, { windows: run.windows });
  return {
    reference: label,
    deltaPpl: c.deltaPpl!,
    deltaPplSe: c.deltaMeanNllSe === null ? null : run.ppl * c.deltaMeanNllSe,
    z: c.z,
  };
}
