// This module is browser compatible.
/**
 * The pooled CPU kernels of HQQ (`hqq.ts`): per-group initialisation, one step of the proximal
 * optimizer, and the final encoding. Each works on a range of groups (or rows) so
 * `parallelFor` can split it across workers; all arithmetic is f32 (`Math.fround` after every
 * operation, round half to even), in the order of the reference library's float32 path.
 *
 * Groups: group gi covers g consecutive columns of a row (axis 1, elements gi·g + k) or g
 * consecutive rows of one column (axis 0, elements (⌊gi/cols⌋·g + k)·cols + gi mod cols).
 *
 * @module
 */

/** Group geometry (the fields of `GroupLayout` the kernels read). */
export interface HqqLayout {
  rows: number;
  cols: number;
  g: number;
  axis: 0 | 1;
  count: number;
}

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even

/**
 * Initial inverse scale s' = maxV/(max − min) (1 where |max − min| ≤ 1e-4, at most 2e4) and
 * zero z = −min·s' (rounded half-to-even with `roundZero`, except for constant groups, whose zero
 * stays exact) for groups [start, end).
 *
 * @example
 * ```ts
 * import { hqqInitChunk } from "./hqq_kernel.ts";
 * const inv = new Float32Array(1);
 * const zero = new Float32Array(1);
 * hqqInitChunk(new Float32Array([-1, 0, 2, 0.5]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   15, true, inv, zero, 0, 1);
 * if (inv[0] !== 5 || zero[0] !== 5) throw new Error();
 * ```
 */
export function hqqInitChunk(
  w: Float32Array,
  L: HqqLayout,
  maxV: number,
  roundZero: boolean,
  inv: Float32Array,
  zero: Float32Array,
  start: number,
  end: number,
): void {
  const fr = Math.fround;
  const { g, cols } = L;
  const step = L.axis === 1 ? 1 : cols;
  const small = fr(1e-4);
  for (let gi = start; gi < end; gi++) {
    const base = L.axis === 1 ? gi * g : (Math.floor(gi / cols) * g) * cols + (gi % cols);
    let mn = Infinity;
    let mx = -Infinity;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    const denom = fr(mx - mn);
    let s = Math.abs(denom) <= small ? 1 : fr(maxV / denom);
    if (s > 2e4) s = 2e4;
    let z = fr(-mn * s);
    if (roundZero && mn !== mx) z = (z + MAGIC) - MAGIC;
    inv[gi] = s;
    zero[gi] = z;
  }
}

/**
 * One optimizer step for groups [start, end): W_q = clamp(round(W·s' + z)), W_r = (W_q − z)/s',
 * W_e = shrink_p(W − W_r), z ← mean(W_q − (W − W_e)·s'). Returns Σ|W − W_r| over the range (f64)
 * for the early-stop rule. `thr` is a lower bound below which the shrink is exactly 0, so
 * `|x|^(p−1)` is only evaluated where it can matter.
 *
 * @example
 * ```ts
 * import { hqqStepChunk } from "./hqq_kernel.ts";
 * const zero = new Float32Array([0.4]);
 * const err = hqqStepChunk(new Float32Array([0, 1, 2, 3]), { rows: 1, cols: 4, g: 4, axis: 1,
 *   count: 1 }, 3, new Float32Array([1]), zero, 0, 10, -0.3, 0, 1);
 * if (Math.abs(err - 1.6) > 1e-6 || Math.abs(zero[0]!) > 1e-6) throw new Error();
 * ```
 */
export function hqqStepChunk(
  w: Float32Array,
  L: HqqLayout,
  maxV: number,
  inv: Float32Array,
  zero: Float32Array,
  invBeta: number,
  thr: number,
  pm1: number,
  start: number,
  end: number,
): number {
  const fr = Math.fround;
  const { g, cols } = L;
  const step = L.axis === 1 ? 1 : cols;
  const ib = fr(invBeta);
  let total = 0;
  for (let gi = start; gi < end; gi++) {
    const base = L.axis === 1 ? gi * g : (Math.floor(gi / cols) * g) * cols + (gi % cols);
    const s = inv[gi]!;
    const z = zero[gi]!;
    // |W − W_r| = |W·s' + z − W_q|/s': accumulate |t − q| (t = the f32 value that was rounded)
    // and divide once per group; elements that may reach the shrink threshold take the exact
    // reference path.
    const thrS = thr * s * (1 - 1e-4);
    let acc = 0;
    let err = 0;
    for (let i = base, e = base + g * step; i < e; i += step) {
      const x = w[i]!;
      const ws = fr(x * s);
      const t = fr(ws + z);
      const q = Math.min(Math.max((t + MAGIC) - MAGIC, 0), maxV);
      err += Math.abs(t - q); // branch-free: the sign is unpredictable
      const term = fr(q - ws);
      acc += term;
      if (Math.abs(t - q) > thrS) {
        // Rare for typical weights: |x|^(p−1) only where the shrink can be nonzero.
        const d = fr(x - fr(fr(q - z) / s));
        const ad = Math.abs(d);
        if (ad > thr) {
          const sh = fr(ad - fr(ib * fr(Math.pow(ad, pm1))));
          if (sh > 0) acc += fr(q - fr(fr(x - (d < 0 ? -sh : sh)) * s)) - term;
        }
      }
    }
    zero[gi] = fr(acc / g);
    total += err / s;
  }
  return total;
}

/**
 * Encodes rows [start, end) with codes clamp(round(W·s' + z), 0, maxV) and packs them (format
 * layout, `stride` words per row).
 *
 * @example
 * ```ts
 * import { hqqEncodeChunk } from "./hqq_kernel.ts";
 * const packed = new Uint32Array(1);
 * hqqEncodeChunk(new Float32Array([0, 1, 2, 3]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   3, 2, new Float32Array([1]), new Float32Array([0]), packed, 1, 0, 1);
 * if (packed[0] !== 0b11100100) throw new Error();
 * ```
 */
export function hqqEncodeChunk(
  w: Float32Array,
  L: HqqLayout,
  maxV: number,
  bits: number,
  inv: Float32Array,
  zero: Float32Array,
  packed: Uint32Array,
  stride: number,
  start: number,
  end: number,
): void {
  const fr = Math.fround;
  const { g, cols } = L;
  const gpr = cols / g;
  for (let r = start; r < end; r++) {
    let acc = 0;
    let nb = 0;
    let wi = r * stride;
    const rowBase = r * cols;
    const gRow = L.axis === 1 ? r * gpr : Math.floor(r / g) * cols;
    // Axis 1: one (s', z) per segment of g columns; axis 0: one per column.
    const seg = L.axis === 1 ? g : 1;
    for (let c0 = 0, gi = gRow; c0 < cols; c0 += seg, gi++) {
      const s = inv[gi]!;
      const z = zero[gi]!;
      for (let i = rowBase + c0, e = i + seg; i < e; i++) {
        const q = Math.min(Math.max((fr(fr(w[i]! * s) + z) + MAGIC) - MAGIC, 0), maxV) | 0;
        acc |= q << nb;
        nb += bits;
        if (nb >= 32) {
          packed[wi++] = acc;
          nb -= 32;
          acc = nb > 0 ? q >>> (bits - nb) : 0;
        }
      }
    }
    if (nb > 0) packed[wi] = acc;
  }
}
