// This module is browser compatible.
/**
 * Heavy-tailed test distributions from the project's PRNG, for the experiments that show what the
 * Hadamard rotation does to non-Gaussian weights (higgs.md §4 quotes HIGGS errors on them):
 * Laplace(0, 1) and Student-t(ν). Both are deterministic functions of the seed.
 *
 * @module
 */
import { QuantlabError } from "./errors.ts";
import { fillNormal, fillUniform } from "./prng.ts";

/**
 * Fills `out` with Laplace(0, 1) samples (variance 2) by the inverse CDF of the uniforms of
 * stream `seed`.
 *
 * @example
 * ```ts
 * import { fillLaplace } from "./distributions.ts";
 * const x = fillLaplace(new Float64Array(20000), 1);
 * const v = x.reduce((s, a) => s + a * a, 0) / x.length;
 * if (Math.abs(v - 2) > 0.1) throw new Error(String(v));
 * ```
 */
export function fillLaplace<T extends Float32Array | Float64Array>(out: T, seed: number): T {
  fillUniform(out, seed);
  for (let i = 0; i < out.length; i++) {
    const d = out[i]! - 0.5;
    out[i] = -Math.sign(d) * Math.log(1 - 2 * Math.abs(d));
  }
  return out;
}

/**
 * Fills `out` with Student-t samples of `nu` (an integer ≥ 1) degrees of freedom: a normal of
 * stream `seed` over √(χ²_ν/ν), χ²_ν a sum of ν squared normals of stream `seed + 1`.
 *
 * @example
 * ```ts
 * import { fillStudentT } from "./distributions.ts";
 * const x = fillStudentT(new Float64Array(20000), 5, 1);
 * const v = x.reduce((s, a) => s + a * a, 0) / x.length; // ν/(ν − 2) = 5/3
 * if (Math.abs(v - 5 / 3) > 0.15) throw new Error(String(v));
 * ```
 */
export function fillStudentT<T extends Float32Array | Float64Array>(
  out: T,
  nu: number,
  seed: number,
): T {
  if (!Number.isInteger(nu) || nu < 1 || nu > 1000) {
    throw new QuantlabError(
      "bad-argument",
      `Student-t degrees of freedom ${nu} is not valid; use an integer in [1, 1000]`,
    );
  }
  const n = out.length;
  fillNormal(out, seed);
  const c = fillNormal(new Float64Array(nu * n), seed + 1);
  for (let i = 0; i < n; i++) {
    let chi = 0;
    for (let k = 0; k < nu; k++) chi += c[nu * i + k]! ** 2;
    out[i] = out[i]! / Math.sqrt(chi / nu);
  }
  return out;
}
