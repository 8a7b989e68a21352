// This module is browser compatible.
/**
 * Global-norm gradient clipping (PyTorch's `clip_grad_norm_`): when the L2 norm of all gradients
 * together exceeds `maxNorm`, every gradient is scaled by `maxNorm / (norm + 1e-6)`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/**
 * Clips `grads` in place to global L2 norm `maxNorm` (0 or Infinity: no clipping) and returns the
 * norm before clipping (summed in f64).
 *
 * @example
 * ```ts
 * import { clipGradNorm } from "./grad_clip.ts";
 * const g = new Float32Array([3, 4]);
 * const norm = clipGradNorm(g, 1);
 * if (norm !== 5 || Math.abs(g[0]! - 0.6) > 1e-6 || Math.abs(g[1]! - 0.8) > 1e-6) throw new Error();
 * ```
 */
export function clipGradNorm(grads: Float32Array, maxNorm: number): number {
  if (!(maxNorm >= 0)) {
    throw new QuantlabError("bad-argument", `Gradient clip norm ${maxNorm} is not ≥ 0`);
  }
  let ss = 0;
  for (let i = 0; i < grads.length; i++) ss += grads[i]! * grads[i]!;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && maxNorm < Infinity && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (let i = 0; i < grads.length; i++) grads[i] = grads[i]! * s;
  }
  return norm;
}
