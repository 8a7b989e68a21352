// This module is browser compatible.
/**
 * The TypeScript version of the `fast` CPU LUT kernels: the numerics of `int8_format.ts` on the
 * packed codes, for engines without WebAssembly SIMD (and as the tests' second opinion), plus
 * {@linkcode int8ErrorBound}, the bound on its distance from the exact product.
 *
 * @module
 */
import type { QuantizedTensor } from "../quant/format.ts";
import { getCode, rowStrideWords } from "../quant/packing.ts";
import { INT8_BLOCK, type Int8Activations, type Int8Table } from "./int8_format.ts";

/**
 * Rows `[start, end)` of the `fast` product of one activation row (already quantized by
 * `quantizeActivations`) into `out[start, end)`, in f64 apart from the i8/7-bit inputs.
 *
 * @example
 * ```ts
 * import { int8RowsTs } from "./int8_fallback.ts";
 * import { int8Table, quantizeActivations } from "./int8_format.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const table = new Float32Array(16).map((_, i) => i);
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 4, codes: packCodes(new Array(64).fill(2), 1, 64, 4), table,
 *   tableDtype: "F32" as const, groupSize: 64, groupAxis: 1 as const,
 *   scales: new Float32Array([0.5]), scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const a = quantizeActivations(new Float64Array(64).fill(1), 0, 64, 64);
 * const out = new Float32Array(1);
 * int8RowsTs(q, int8Table(table, 1), a, out, 0, 1);
 * if (out[0] !== 64) throw new Error(); // 64 · 2 · 0.5
 * ```
 */
export function int8RowsTs(
  q: QuantizedTensor,
  t: Int8Table,
  a: Int8Activations,
  out: Float32Array,
  start: number,
  end: number,
): void {
  const pc = q.paddedCols, p = q.p, g = q.groupSize, bits = q.codeBits;
  const stride = rowStrideWords(pc / p, bits);
  const gpr = pc / g;
  for (let r = start; r < end; r++) {
    let tot = 0;
    for (let gi = 0; gi < gpr; gi++) {
      let gs = 0;
      for (let b0 = gi * g; b0 < (gi + 1) * g; b0 += INT8_BLOCK) {
        let dot = 0;
        for (let i = b0; i < b0 + INT8_BLOCK; i++) {
          const c = getCode(q.codes, stride, r, Math.floor(i / p), bits);
          dot += t.t7[c * p + (i % p)]! * a.q[i]!;
        }
        gs += dot * a.dx[b0 / INT8_BLOCK]!;
      }
      const z = q.zeros ? q.zeros[r * gpr + gi]! : 0;
      tot += q.scales[r * gpr + gi]! * (gs * t.delta + (t.tmin - z) * a.xg[gi]!);
    }
    out[r] = tot;
  }
}

/**
 * Per row, the bound of the module doc of `int8_format.ts` on |y_fast − y_exact| for one
 * activation row `xp[off, off + pc)` (rotated, f64) quantized as `a`, plus `slack`·Σ|ŵ·x| for the
 * kernels' f32 rounding.
 *
 * @example
 * ```ts
 * import { int8ErrorBound } from "./int8_fallback.ts";
 * import { int8Table, quantizeActivations } from "./int8_format.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const table = new Float32Array(16).map((_, i) => i);
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 4, codes: packCodes(new Array(64).fill(2), 1, 64, 4), table,
 *   tableDtype: "F32" as const, groupSize: 64, groupAxis: 1 as const,
 *   scales: new Float32Array([1]), scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const x = new Float64Array(64).fill(1);
 * // An exact table and activations that 8 bits hold (up to dx's f32 rounding): a tiny bound.
 * const b = int8ErrorBound(q, int8Table(table, 1), quantizeActivations(x, 0, 64, 64), x, 0, 0);
 * if (!(b[0]! < 1e-5)) throw new Error(String(b[0]));
 * ```
 */
export function int8ErrorBound(
  q: QuantizedTensor,
  t: Int8Table,
  a: Int8Activations,
  xp: Float64Array,
  off: number,
  slack = 1e-5,
): Float64Array {
  const [rows] = q.shape;
  const pc = q.paddedCols, p = q.p, g = q.groupSize, bits = q.codeBits;
  const stride = rowStrideWords(pc / p, bits);
  const gpr = pc / g;
  const bound = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let e = 0, mag = 0;
    for (let i = 0; i < pc; i++) {
      const gi = Math.floor(i / g);
      const s = Math.abs(q.scales[r * gpr + gi]!);
      const z = q.zeros ? q.zeros[r * gpr + gi]! : 0;
      const c = getCode(q.codes, stride, r, Math.floor(i / p), bits);
      const k = c * p + (i % p);
      const t7 = t.t7[k]!;
      const x = xp[off + i]!;
      const xq = a.q[i]! * a.dx[Math.floor(i / INT8_BLOCK)]!;
      const tab = q.table[c * p + (i % p)]!;
      const lv = t.tmin + t.delta * t7; // the rounded level t̃
      e += s * Math.abs(lv - z) * Math.abs(xq - x) + s * Math.abs(lv - tab) * Math.abs(x);
      mag += s * Math.abs((tab - z) * x);
    }
    bound[r] = e + slack * mag;
  }
  return bound;
}
