// This module is browser compatible.
/**
 * The demo experiment: quantize one synthetic Gaussian weight matrix with every method and report
 * relative error t² = ‖W−Ŵ‖²/‖W‖², bits per weight (codes + scales + zeros at their stored
 * precision, table amortized) and time. For HIGGS the grid's own Gaussian MSE is the prediction
 * the rotation makes possible: t² should equal it.
 *
 * @module
 */
import { fillNormal } from "../core/prng.ts";
import type { Backend } from "../gpu/backend.ts";
import { bitsPerWeight } from "../quant/format.ts";
import { dequantize } from "../quant/dequantize.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import { getQuantizer } from "../quant/registry.ts";
import { relativeMse } from "../quant/error_metrics.ts";
import { loadGrid } from "../grids/load.ts";
import { unbiasedMse } from "../quant/higgs_unbiased.ts";

/** One configuration of the demo. */
export interface DemoMethod {
  /** Row label. */
  label: string;
  /** Registered method name. */
  method: string;
  /** Its options. */
  options: QuantOptions;
  /**
   * The bit class it competes in (2, 3 or 4 bits per weight, nominal). The first HIGGS method of
   * each class is that class's reference: the perplexity table pairs every other method with it.
   */
  bitClass: 2 | 3 | 4;
}

/** One row of the demo table. */
export interface DemoRow {
  /** Row label. */
  label: string;
  /** Relative error ‖W−Ŵ‖²/‖W‖². */
  relError: number;
  /** Bits per weight, table included. */
  bitsPerWeight: number;
  /** For HIGGS: the grid's per-coordinate MSE on N(0, I_p) (the predicted t²). */
  gridMse: number | null;
  /** Wall-clock seconds of the quantization. */
  seconds: number;
}

/** The methods the demo compares, at about 2, 3 and 4 bits (HIGGS with an explicit h = 1024). */
export const DEMO_METHODS: readonly DemoMethod[] = [
  {
    label: "higgs (2,16) h1024",
    method: "higgs",
    options: { p: 2, bits: 2, hadamard: 1024 },
    bitClass: 2,
  },
  {
    label: "higgs (2,16) h1024 unbiased",
    method: "higgs",
    options: { p: 2, bits: 2, hadamard: 1024, extra: { scaleRule: "unbiased" } },
    bitClass: 2,
  },
  { label: "hqq int2 g64", method: "hqq", options: { bits: 2, groupSize: 64 }, bitClass: 2 },
  {
    label: "higgs (2,64) h1024",
    method: "higgs",
    options: { p: 2, bits: 3, hadamard: 1024 },
    bitClass: 3,
  },
  {
    label: "higgs (2,64) h1024 unbiased",
    method: "higgs",
    options: { p: 2, bits: 3, hadamard: 1024, extra: { scaleRule: "unbiased" } },
    bitClass: 3,
  },
  { label: "hqq int3 g64", method: "hqq", options: { bits: 3, groupSize: 64 }, bitClass: 3 },
  { label: "rtn int3 g64", method: "rtn", options: { bits: 3, groupSize: 64 }, bitClass: 3 },
  {
    label: "higgs (2,256) h1024",
    method: "higgs",
    options: { p: 2, bits: 4, hadamard: 1024 },
    bitClass: 4,
  },
  {
    label: "higgs (1,16) h1024",
    method: "higgs",
    options: { p: 1, bits: 4, hadamard: 1024 },
    bitClass: 4,
  },
  { label: "nf4 g64", method: "nf4", options: { groupSize: 64 }, bitClass: 4 },
  { label: "af4 g64", method: "af4", options: { groupSize: 64 }, bitClass: 4 },
  { label: "fp4 g64", method: "fp4", options: { groupSize: 64 }, bitClass: 4 },
  { label: "hqq int4 g64", method: "hqq", options: { bits: 4, groupSize: 64 }, bitClass: 4 },
  { label: "rtn int4 g64", method: "rtn", options: { bits: 4, groupSize: 64 }, bitClass: 4 },
];

/**
 * Runs the demo on a `rows × cols` N(0, 1) matrix drawn with `seed`.
 *
 * @example
 * ```ts
 * import { runDemo } from "./demo.ts";
 * const rows = await runDemo({
 *   rows: 4, cols: 256, seed: 1,
 *   methods: [{ label: "nf4", method: "nf4", options: { groupSize: 64 }, bitClass: 4 }],
 * });
 * if (!(rows[0]!.relError > 0 && rows[0]!.relError < 0.02)) throw new Error();
 * ```
 */
export async function runDemo(opts: {
  rows: number;
  cols: number;
  seed: number;
  methods?: readonly DemoMethod[];
  backend?: Backend;
  onRow?: (r: DemoRow) => void;
}): Promise<DemoRow[]> {
  const w = fillNormal(new Float32Array(opts.rows * opts.cols), opts.seed);
  const out: DemoRow[] = [];
  for (const m of opts.methods ?? DEMO_METHODS) {
    const t0 = performance.now();
    const q = await getQuantizer(m.method).quantize(
      w,
      opts.rows,
      opts.cols,
      m.options,
      opts.backend,
      "W",
    );
    const seconds = (performance.now() - t0) / 1000;
    // The grid's Gaussian MSE predicts t²: as is for RMS scales, t²/(1 − t²) for unbiased ones.
    const mse = m.method === "higgs" ? (await loadGrid(q.p, 2 ** q.codeBits)).mse : null;
    const gridMse = mse !== null && q.params.scaleRule === "unbiased" ? unbiasedMse(mse) : mse;
    const row: DemoRow = {
      label: m.label,
      relError: relativeMse(w, dequantize(q)),
      bitsPerWeight: bitsPerWeight(q),
      gridMse,
      seconds,
    };
    out.push(row);
    opts.onRow?.(row);
  }
  return out;
}
