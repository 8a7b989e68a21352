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
import { unpackCodes } from "./packing.ts";

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
 * import { higgsQuantize, resolveHiggsParams } from "./higgs.ts";
 * import { dequantize } from "./dequantize.ts";
 * const params = resolveHiggsParams({ p: 1, bits: 1, hadamard: 64 });
 * const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.3));
 * const grid = { p: 1, n: 2, points: new Float32Array([-0.798, 0.798]) };
 * const u = unbiasScales(w, await higgsQuantize(w, 1, 64, params, grid));
 * const e = dequantize(u).map((v, i) => v - w[i]!);
 * const dot = w.reduce((s, v, i) => s + v * e[i]!, 0);
 * if (Math.abs(dot) > 1e-3 * w.reduce((s, v) => s + v * v, 0)) throw new Error(String(dot));
 * ```
 */
export function unbiasScales(w: Float32Array, q: QuantizedTensor): QuantizedTensor {
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
  const { p, groupSize: g, paddedCols: pc, table } = q;
  const h = q.rotation.kind === "hadamard" ? q.rotation.size : 0;
  const seed = q.rotation.kind === "hadamard" ? q.rotation.seed : null;
  const f16 = q.scaleStorage.dtype === "F16";
  const gpr = pc / g, cpr = pc / p;
  const codes = unpackCodes(q.codes, rows, cpr, q.codeBits);
  const scales = q.scales.slice();
  const x = new Float32Array(pc);
  for (let r = 0; r < rows; r++) {
    x.fill(0);
    x.set(w.subarray(r * cols, (r + 1) * cols));
    if (h) {
      fwhtBlocks(
        x,
        pc,
        Math.round(Math.log2(h)),
        1 / Math.sqrt(h),
        seed === null ? 0 : 1,
        seed ?? 0,
        0,
        pc / h,
      );
    }
    for (let k = 0; k < gpr; k++) {
      let xx = 0, xd = 0;
      for (let c = k * g; c < (k + 1) * g; c++) {
        const d = table[codes[r * cpr + Math.floor(c / p)]! * p + (c % p)]!;
        xx += x[c]! * x[c]!;
        xd += x[c]! * d;
      }
      if (!(xd > 0)) continue;
      const s = xx / xd;
      const stored = f16 ? f16BitsToF32(f32ToF16Bits(s)) : Math.fround(s);
      if (!Number.isFinite(stored)) {
        throw new QuantlabError(
          "bad-value",
          `The unbiased scale ${s} of row ${r}, group ${k} does not fit in f16 (max 65504); ` +
            "use --scale-dtype F32",
        );
      }
      scales[r * gpr + k] = stored;
    }
  }
  return { ...q, scales, params: { ...q.params, scaleRule: "unbiased" } };
}
