// This module is browser compatible.
/**
 * The demo experiment: quantize one synthetic Gaussian weight matrix with several methods and
 * report relative error t² = ‖W−Ŵ‖²/‖W‖² and bits per weight.
 *
 * @module
 */
import { fillNormal } from "../core/prng.ts";
import { bitsPerWeight, type QuantizedTensor } from "../quant/format.ts";
import { decodeRotated } from "../quant/decode.ts";
import { packCodes } from "../quant/packing.ts";
import { fromF16, toF16 } from "../core/dtype.ts";

/** One row of the demo table. */
export interface DemoRow {
  method: string;
  relError: number;
  bitsPerWeight: number;
  seconds: number;
}

/**
 * Symmetric absmax round-to-nearest with an f16 scale per group of `g` (the simplest baseline).
 *
 * @example
 * ```ts
 * import { absmaxRtn } from "./demo.ts";
 * const q = absmaxRtn(new Float32Array([1, -1, 0.5, 0]), 1, 4, 4, 4);
 * if (q.codeBits !== 4) throw new Error();
 * ```
 */
export function absmaxRtn(
  w: Float32Array,
  rows: number,
  cols: number,
  bits: number,
  g: number,
): QuantizedTensor {
  const levels = 2 ** bits;
  const half = levels / 2 - 1 || 1; // codes 0…2^b−1 map to (k − zero): symmetric around `zero`
  const groups = (rows * cols) / g;
  const rawScales = new Float32Array(groups);
  for (let i = 0; i < groups; i++) {
    let m = 0;
    for (let j = i * g; j < (i + 1) * g; j++) m = Math.max(m, Math.abs(w[j]!));
    rawScales[i] = m / half;
  }
  const scales = fromF16(toF16(rawScales));
  const zero = levels / 2 - (bits === 1 ? 0.5 : 1);
  const codes = new Uint16Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const s = scales[Math.floor(i / g)]!;
    const k = s > 0 ? Math.round(w[i]! / s + zero) : zero;
    codes[i] = Math.min(levels - 1, Math.max(0, Math.round(k)));
  }
  return {
    method: "rtn",
    shape: [rows, cols],
    paddedCols: cols,
    p: 1,
    codeBits: bits,
    codes: packCodes(codes, rows, cols, bits),
    table: Float32Array.from({ length: levels }, (_, k) => k),
    tableDtype: "F32",
    groupSize: g,
    groupAxis: 1,
    scales,
    scaleStorage: { kind: "float", dtype: "F16" },
    zeros: new Float32Array(groups).fill(zero),
    zeroStorage: { kind: "float", dtype: "F32" },
    rotation: { kind: "none" },
    params: { symmetric: true, bits, groupSize: g },
  };
}

/**
 * Relative squared error ‖W−Ŵ‖²/‖W‖².
 *
 * @example
 * ```ts
 * import { relativeError } from "./demo.ts";
 * if (relativeError(new Float32Array([1, 1]), new Float32Array([1, 0])) !== 0.5) throw new Error();
 * ```
 */
export function relativeError(w: Float32Array, what: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < w.length; i++) {
    const d = w[i]! - what[i]!;
    num += d * d;
    den += w[i]! * w[i]!;
  }
  return den > 0 ? num / den : num;
}

/**
 * Runs the demo on a `rows × cols` N(0, 1) matrix drawn with `seed`.
 *
 * @example
 * ```ts
 * import { runDemo } from "./demo.ts";
 * const rows = await runDemo({ rows: 8, cols: 256, seed: 1 });
 * if (rows.length === 0 || rows.some((r) => !(r.relError > 0))) throw new Error();
 * ```
 */
export async function runDemo(
  opts: { rows: number; cols: number; seed: number; onRow?: (r: DemoRow) => void },
): Promise<DemoRow[]> {
  const w = fillNormal(new Float32Array(opts.rows * opts.cols), opts.seed);
  const out: DemoRow[] = [];
  for (const bits of [2, 3, 4, 8]) {
    const t0 = performance.now();
    const q = absmaxRtn(w, opts.rows, opts.cols, bits, 64);
    const what = decodeRotated(q);
    const row: DemoRow = {
      method: `rtn-absmax int${bits} g64`,
      relError: relativeError(w, what),
      bitsPerWeight: bitsPerWeight(q),
      seconds: (performance.now() - t0) / 1000,
    };
    out.push(row);
    opts.onRow?.(row);
    await Promise.resolve();
  }
  return out;
}
