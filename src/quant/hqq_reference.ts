// This module is browser compatible.
/**
 * The specification of HQQ: the reference library's quantize + proximal optimizer loop, literally,
 * on its own group layout (`hqq.ts` explains where the fast paths differ, and the tests hold them
 * to this).
 *
 * @module
 */
import { checkWeights, groupLayout } from "./group_encoding.ts";
import { type HqqConfig, hqqLevels, type HqqTrace } from "./hqq_config.ts";

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even

/** What {@linkcode hqqReference} returns: the library's outputs before the f16 cast. */
export interface HqqReferenceResult {
  /** Code of each weight (flat index of W). */
  wq: Uint8Array;
  /** s' per group (f32). */
  invScale: Float32Array;
  /** Stored scale 1/s' per group (f32). */
  scale: Float32Array;
  /** Zero per group (f32). */
  zero: Float32Array;
  /** Group of each weight in the library's layout: ⌊i/g⌋ (axis 1) or i mod (N/g) (axis 0). */
  groupOf: (i: number) => number;
  /** Per-step errors of the reference loop. */
  trace: HqqTrace;
}

/**
 * The specification: HQQ as `Quantizer.quantize` + `optimize_weights_proximal_legacy` compute it,
 * on the flattened tensor reshaped to [−1, g] (axis 1) or [g, −1] (axis 0, strided groups), step by
 * step in f32 (`Math.fround` after each operation, `|x|^(p−1)` for every element). Slow; for tests.
 *
 * @example
 * ```ts
 * import { hqqReference } from "./hqq_reference.ts";
 * import { hqqConfig } from "./hqq_config.ts";
 * const w = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) * 0.02);
 * const r = hqqReference(w, 2, 64, hqqConfig());
 * if (r.zero.length !== 2 || r.trace.steps < 1) throw new Error();
 * ```
 */
export function hqqReference(
  w: Float32Array,
  rows: number,
  cols: number,
  c: HqqConfig,
  name = "tensor",
): HqqReferenceResult {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const fr = Math.fround;
  const n = rows * cols;
  const g = L.g;
  const G = n / g;
  const groupOf = c.axis === 1 ? (i: number) => Math.floor(i / g) : (i: number) => i % G;
  const { maxV } = hqqLevels(c.nbits);
  // min / max along the group axis
  const mn = new Float32Array(G).fill(Infinity);
  const mx = new Float32Array(G).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const gi = groupOf(i);
    if (w[i]! < mn[gi]!) mn[gi] = w[i]!;
    if (w[i]! > mx[gi]!) mx[gi] = w[i]!;
  }
  const s = new Float32Array(G);
  let z = new Float32Array(G);
  for (let gi = 0; gi < G; gi++) {
    const denom = fr(mx[gi]! - mn[gi]!);
    let sc = fr(maxV / denom);
    if (Math.abs(denom) <= fr(1e-4)) sc = 1;
    if (sc > 2e4) sc = 2e4;
    s[gi] = sc;
    z[gi] = fr(-mn[gi]! * sc);
    if (c.roundZero && mn[gi] !== mx[gi]) z[gi] = (z[gi]! + MAGIC) - MAGIC;
  }
  const quant = (x: number, gi: number): number => {
    const q = (fr(fr(x * s[gi]!) + z[gi]!) + MAGIC) - MAGIC;
    return q < 0 ? 0 : q > maxV ? maxV : q;
  };
  const errors: number[] = [];
  let stoppedEarly = false;
  if (c.optimize) {
    let beta = c.beta;
    const p = c.lpNorm;
    let best = 1e4;
    for (let it = 0; it < c.iters; it++) {
      const ib = fr(1 / beta);
      const acc = new Float64Array(G);
      let errSum = 0;
      for (let i = 0; i < n; i++) {
        const gi = c.axis === 1 ? Math.floor(i / g) : i % G;
        const x = w[i]!;
        let q = (fr(fr(x * s[gi]!) + z[gi]!) + MAGIC) - MAGIC; // W_q = clamp(round(W·s' + z))
        q = q < 0 ? 0 : q > maxV ? maxV : q;
        const wr = fr(fr(q - z[gi]!) / s[gi]!); // W_r
        const d = fr(x - wr);
        const ad = Math.abs(d);
        // shrink_lp_op: |d| − (1/β)·|d|^(p−1), clamp_min 0, times sign(d)
        const out = Math.max(fr(ad - fr(ib * fr(p === 1 ? 1 : Math.pow(ad, p - 1)))), 0);
        const we = fr(out * Math.sign(d));
        acc[gi] = acc[gi]! + fr(q - fr(fr(x - we) * s[gi]!));
        errSum += ad;
      }
      const zNew = new Float32Array(G);
      for (let gi = 0; gi < G; gi++) zNew[gi] = fr(acc[gi]! / g);
      z = zNew;
      beta *= c.kappa;
      const err = fr(errSum / n);
      errors.push(err);
      if (c.earlyStop) {
        if (err < best) best = err;
        else {
          stoppedEarly = true;
          break;
        }
      }
    }
  }
  const wq = new Uint8Array(n);
  for (let i = 0; i < n; i++) wq[i] = quant(w[i]!, groupOf(i));
  const scale = new Float32Array(G);
  for (let gi = 0; gi < G; gi++) scale[gi] = fr(1 / s[gi]!);
  return {
    wq,
    invScale: s,
    scale,
    zero: z,
    groupOf,
    trace: { errors, steps: errors.length, stoppedEarly },
  };
}
