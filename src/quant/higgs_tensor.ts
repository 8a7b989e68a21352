// This module is browser compatible.
/**
 * The parts both HIGGS encoders (`higgs.ts` on the CPU, `higgs_gpu.ts` on WebGPU) share, so they
 * produce the same record from the same numbers: the decoding table, the stored scale's rounding,
 * the input and overflow checks, the row packing of codes and the {@linkcode QuantizedTensor}.
 *
 * @module
 */
import { assertFinite, QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import type { QuantizedTensor } from "./format.ts";
import { higgsPaddedCols, type HiggsParams } from "./higgs_params.ts";

/**
 * Rounds a scale to its stored precision (f16 round-to-nearest-even, or f32).
 *
 * @example
 * ```ts
 * import { roundScale } from "./higgs_tensor.ts";
 * if (roundScale(1 + 2 ** -12, "F16") !== 1) throw new Error();
 * ```
 */
export function roundScale(s: number, dtype: "F16" | "F32"): number {
  return dtype === "F16" ? f16BitsToF32(f32ToF16Bits(s)) : Math.fround(s);
}

/**
 * The decoding table: the grid points (n·p values) rounded to `tableDtype`, padded with zeros to
 * 2^codeBits points when n is not a power of two (padding points are never chosen).
 *
 * @example
 * ```ts
 * import { higgsTable } from "./higgs_tensor.ts";
 * import { resolveHiggsParams } from "./higgs_params.ts";
 * const t = higgsTable(new Float32Array([-1.1, 0.3, 1]), resolveHiggsParams({ p: 1, gridSize: 3 }));
 * if (t.length !== 4 || t[3] !== 0) throw new Error();
 * ```
 */
export function higgsTable(points: Float32Array, params: HiggsParams): Float32Array {
  const { p, gridSize: n, codeBits, tableDtype } = params;
  if (points.length !== n * p) {
    throw new QuantlabError(
      "bad-shape",
      `Grid (${p}, ${n}) needs ${n * p} values but holds ${points.length}`,
    );
  }
  const out = new Float32Array(2 ** codeBits * p);
  for (let i = 0; i < n * p; i++) {
    out[i] = tableDtype === "F16" ? f16BitsToF32(f32ToF16Bits(points[i]!)) : points[i]!;
  }
  return out;
}

/** Checks the input of a quantizer: shape and finiteness (errors name the tensor). */
export function checkWeight(w: Float32Array, rows: number, cols: number, name: string): void {
  for (const [k, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new QuantlabError(
        "bad-shape",
        `Tensor "${name}": ${k} is ${v}; expected a positive integer`,
      );
    }
  }
  if (w.length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Tensor "${name}" holds ${w.length} values; shape [${rows}, ${cols}] needs ${rows * cols}`,
    );
  }
  assertFinite(w, name);
}

/** Throws the error of a scale that does not fit its storage (f16). */
export function scaleOverflow(name: string, s: number, row: number, group: number): never {
  throw new QuantlabError(
    "bad-value",
    `Tensor "${name}": the scale ${s} of row ${row}, group ${group} does not fit in f16 ` +
      `(max 65504); use --scale-dtype F32`,
  );
}

/** Builds the QuantizedTensor record around computed codes and scales. */
export function higgsTensor(
  rows: number,
  cols: number,
  params: HiggsParams,
  codes: Uint32Array,
  scales: Float32Array,
  table: Float32Array,
): QuantizedTensor {
  const paddedCols = higgsPaddedCols(cols, params);
  return {
    method: "higgs",
    shape: [rows, cols],
    paddedCols,
    p: params.p,
    codeBits: params.codeBits,
    codes,
    table,
    tableDtype: params.tableDtype,
    groupSize: params.groupSize,
    groupAxis: 1,
    scales,
    scaleStorage: { kind: "float", dtype: params.scaleDtype },
    rotation: params.hadamard
      ? { kind: "hadamard", size: params.hadamard, seed: params.seed }
      : { kind: "none" },
    params: {
      bits: params.bits,
      p: params.p,
      n: params.gridSize,
      hadamard: params.hadamard,
      groupSize: params.groupSize,
      seed: params.seed,
      scaleDtype: params.scaleDtype,
      tableDtype: params.tableDtype,
      // Recorded only when not the default, so earlier checkpoints read back identically.
      ...(params.scaleRule === "unbiased" ? { scaleRule: params.scaleRule } : {}),
    },
  };
}

/** Packs `rows × cpr` codes into `out` from word `at`, rows `stride` words apart (packing.ts layout). */
export function packRows(
  src: Uint16Array,
  rows: number,
  cpr: number,
  bits: number,
  out: Uint32Array,
  at: number,
  stride: number,
): void {
  for (let r = 0; r < rows; r++) {
    const base = at + r * stride;
    out.fill(0, base, base + stride);
    const s0 = r * cpr;
    if (32 % bits === 0) {
      const per = 32 / bits;
      for (let j = 0, wi = base; j < cpr; j += per, wi++) {
        let word = 0;
        const lim = Math.min(per, cpr - j);
        for (let k = 0; k < lim; k++) word |= src[s0 + j + k]! << (k * bits);
        out[wi] = word >>> 0;
      }
    } else {
      for (let j = 0; j < cpr; j++) {
        const c = src[s0 + j]!;
        const bit = j * bits;
        const wi = base + (bit >>> 5);
        const sh = bit & 31;
        out[wi] = (out[wi]! | (c << sh)) >>> 0;
        if (sh + bits > 32) out[wi + 1] = (out[wi + 1]! | (c >>> (32 - sh))) >>> 0;
      }
    }
  }
}
