// This module is browser compatible.
/**
 * Unbiased scales for HIGGS. Nearest-point coding with an MSE-optimal (Lloyd) grid shrinks the
 * weights: each cell's point is the mean of its cell, so the error e = x − Q(x) is orthogonal to
 * Q(x), not to x, and ⟨x, Q(x)⟩ = ‖x‖²·(1 − t²). The quantized layer is the original scaled by
 * about 1 − t² plus noise: a coherent error that the model feels much more than the isotropic
 * noise the linearity model's sensitivities are measured with (on the embedded tiny model, 1.4–15×
 * the KL of Gaussian noise of the same t² per projection).
 *
 * The unbiased rule keeps the codes and replaces each group's scale by s' = ‖x‖²/⟨x, d⟩, with x
 * the group's rotated weights and d its decoded grid values: then ⟨x, s'·d − x⟩ = 0, the error
 * has no component along the weights (per group, hence per Hadamard block, as the rotation is
 * orthogonal), and the relative MSE grows from t² to about t²/(1 − t²). Decoding and inference are
 * unchanged: only the stored scales differ.
 *
 * @module
 */
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import { QuantlabError } from "../core/errors.ts";
import { fwhtBlocks } from "../hadamard/fwht.ts";
import type { QuantizedTensor } from "./format.ts";
import { rowStrideWords, unpackCodes } from "./packing.ts";
import { parallelFor, poolSize, sharedF32, toShared } from "../cpu/pool.ts";

/**
 * The relative MSE of the unbiased rule for a grid of relative MSE `t2` (the Lloyd identity
 * ‖Q(x)‖² = ‖x‖² − ‖e‖² gives t²/(1 − t²)).
 *
 * @example
 * ```ts
 * import { unbiasedMse } from "./higgs_unbiased.ts";
 * if (Math.abs(unbiasedMse(0.1) - 0.1 / 0.9) > 1e-15) throw new Error();
 * ```
 */
export function unbiasedMse(t2: number): number {
  return t2 / (1 - t2);
}

/**
 * Returns `q` (a HIGGS tensor of the f32 weights `w` [rows, cols]) with unbiased scales (see the
 * module doc) rounded to the stored precision; groups whose ⟨x, d⟩ ≤ 0 (all-zero or padding) keep
 * theirs. Errors: `bad-argument` for a non-HIGGS tensor or a shape mismatch, `bad-value` when a
 * scale overflows f16.
 *
 * @example
 * ```ts
 * import { unbiasScales } from "./higgs_unbiased.ts";
 * import { higgsQuantize } from "./higgs.ts";
 * import { resolveHiggsParams } from "./higgs_params.ts";
 * import { dequantize } from "./dequantize.ts";
 * const params = resolveHiggsParams({ p: 1, bits: 1, hadamard: 64 });
 * const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3));
 * const grid = { p: 1, n: 2, points: new Float32Array([-0.798, 0.798]) };
 * const u = await unbiasScales(w, await higgsQuantize(w, 1, 64, params, grid));
 * const e = dequantize(u).map((v, i) => v - w[i]!);
 * const dot = w.reduce((s, v, i) => s + v * e[i]!, 0);
 * if (Math.abs(dot) > 1e-3 * w.reduce((s, v) => s + v * v, 0)) throw new Error(String(dot));
 * ```
 */
export async function unbiasScales(
  w: Float32Array,
  q: QuantizedTensor,
): Promise<QuantizedTensor> {
  const [rows, cols] = q.shape;
  if (q.method !== "higgs" || q.scaleStorage.kind !== "float" || q.groupAxis !== 1) {
    throw new QuantlabError(
      "bad-argument",
      `Unbiased scales apply to HIGGS tensors with float scales; got ${q.method}`,
    );
  }
  if (w.length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Weights hold ${w.length} values; the tensor is ${rows} × ${cols}`,
    );
  }
  const h = q.rotation.kind === "hadamard" ? q.rotation.size : 0;
  const seed = q.rotation.kind === "hadamard" ? q.rotation.seed : null;
  const scales = sharedF32(q.scales.length);
  scales.set(q.scales);
  const minChunk = Math.max(1, Math.ceil((1 << 16) / q.paddedCols));
  const pooled = rows >= 2 * minChunk && poolSize() > 1;
  const results = await parallelFor(
    import.meta.url,
    "unbiasRows",
    rows,
    [
      pooled ? toShared(w) : w,
      cols,
      q.paddedCols,
      h,
      seed ?? -1,
      q.groupSize,
      q.p,
      q.codeBits,
      pooled ? toShared(q.codes) : q.codes,
      q.table,
      q.scaleStorage.dtype === "F16",
      scales,
    ],
    { minChunk },
  );
  for (const r of results as ([number, number, number] | null)[]) {
    if (r) {
      throw new QuantlabError(
        "bad-value",
        `The unbiased scale ${r[2]} of row ${r[0]}, group ${r[1]} does not fit in f16 ` +
          "(max 65504); use --scale-dtype F32",
      );
    }
  }
  return { ...q, scales, params: { ...q.params, scaleRule: "unbiased" } };
}

/**
 * The pool's chunk function of {@linkcode unbiasScales}: rows `[start, end)` — rotate the row
 * again, decode its codes, set each group's scale to ‖x‖²/⟨x, d⟩ in `scales` (left as it is where
 * ⟨x, d⟩ ≤ 0). Returns [row, group, scale] of the first scale that overflows f16, or null.
 *
 * @example
 * ```ts
 * import { unbiasRows } from "./higgs_unbiased.ts";
 * import { packCodes } from "./packing.ts";
 * // One row, no rotation, p = 1, table [−1, 1]: x = [2, −2] codes [1, 0] → s = 8 / 4 = 2.
 * const scales = new Float32Array([1]);
 * const codes = packCodes([1, 0], 1, 2, 1);
 * unbiasRows(new Float32Array([2, -2]), 2, 2, 0, -1, 2, 1, 1, codes, new Float32Array([-1, 1]), true, scales, 0, 1);
 * if (scales[0] !== 2) throw new Error(String(scales[0]));
 * ```
 */
export function unbiasRows(
  w: Float32Array,
  cols: number,
  pc: number,
  h: number,
  seed: number,
  g: number,
  p: number,
  codeBits: number,
  packed: Uint32Array,
  table: Float32Array,
  f16: boolean,
  scales: Float32Array,
  start: number,
  end: number,
): [number, number, number] | null {
  const gpr = pc / g, cpr = pc / p;
  const stride = rowStrideWords(cpr, codeBits);
  const x = new Float32Array(pc);
  const codes = new Uint16Array(cpr);
  for (let r = start; r < end; r++) {
    x.fill(0);
    x.set(w.subarray(r * cols, (r + 1) * cols));
    if (h) {
      fwhtBlocks(
        x,
        pc,
        Math.round(Math.log2(h)),
        1 / Math.sqrt(h),
        seed < 0 ? 0 : 1,
        Math.max(seed, 0),
        0,
        pc / h,
      );
    }
    unpackCodes(packed.subarray(r * stride, (r + 1) * stride), 1, cpr, codeBits, codes);
    for (let k = 0; k < gpr; k++) {
      let xx = 0, xd = 0;
      for (let c = k * g; c < (k + 1) * g; c++) {
        const d = table[codes[Math.floor(c / p)]! * p + (c % p)]!;
        xx += x[c]! * x[c]!;
        xd += x[c]! * d;
      }
      if (!(xd > 0)) continue;
      const s = xx / xd;
      const stored = f16 ? f16BitsToF32(f32ToF16Bits(s)) : Math.fround(s);
      if (!Number.isFinite(stored)) return [r, k, s];
      scales[r * gpr + k] = stored;
    }
  }
  return null;
}
