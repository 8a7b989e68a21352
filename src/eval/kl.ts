// This module is browser compatible.
/**
 * The KL divergence of one model's next-token distributions from another's, position by
 * position: the data-free metric of the linearity model (sensitivities on random tokens, and the
 * check of its predictions).
 *
 * @module
 */

/**
 * Log-softmax of each row of `logits` `[T, V]`, in f64.
 *
 * @example
 * ```ts
 * import { logSoftmaxRows } from "./kl.ts";
 * const lp = logSoftmaxRows(new Float32Array([0, 0]), 1, 2);
 * if (Math.abs(lp[0]! - Math.log(0.5)) > 1e-12) throw new Error();
 * ```
 */
export function logSoftmaxRows(logits: Float32Array, T: number, V: number): Float64Array {
  const out = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]!);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[t * V + v]! - max);
    const lse = max + Math.log(sum);
    for (let v = 0; v < V; v++) out[t * V + v] = logits[t * V + v]! - lse;
  }
  return out;
}

/**
 * Mean over the T positions of KL(p ‖ q) in nats, for log-probabilities `lp`, `lq` `[T, V]`.
 *
 * @example
 * ```ts
 * import { logSoftmaxRows, meanKl } from "./kl.ts";
 * const p = logSoftmaxRows(new Float32Array([0, 0]), 1, 2);
 * const q = logSoftmaxRows(new Float32Array([Math.log(3), 0]), 1, 2);
 * const want = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25);
 * if (Math.abs(meanKl(p, q, 1, 2) - want) > 1e-7) throw new Error();
 * ```
 */
export function meanKl(lp: Float64Array, lq: Float64Array, T: number, V: number): number {
  let kl = 0;
  for (let i = 0; i < T * V; i++) {
    const a = lp[i]!;
    kl += Math.exp(a) * (a - lq[i]!);
  }
  return kl / T;
}
