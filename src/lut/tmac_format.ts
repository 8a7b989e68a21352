// This module is browser compatible.
/**
 * The `fast` numerics of 2-bit codes on a uniform table (RTN, HQQ 2-bit): T-MAC's bit-plane
 * lookup (arXiv 2407.00088), for the WebAssembly kernel of `cpu_tmac.ts` and as its spec.
 *
 * A uniform table is t[c] = tmin + delta·c, so ŵ = s·(tmin − z) + s·delta·c and a row's product
 * is Σ_g s·delta·Σ_i c_i·x_i + s·(tmin − z)·Σ_g x. Split c = c⁰ + 2·c¹ into bit planes: per quad of
 * 4 activations, the 16 partial sums T[p] = Σ_{k: bit k of p} x_k serve every plane of every row,
 * indexed by the 4 bits of one plane (one `i8x16.swizzle` looks up 16 such indices at once):
 *
 *     Σ_{i ∈ quad} c_i·x_i = T[p⁰] + 2·T[p¹]
 *
 * - **Tables** become i8 per block of 64 activations (16 quads), in f32 (what WebAssembly's
 *   f32x4 lanes compute the same way): the sums T in bit order k = 0…3 of f32(x), m = max|T| over
 *   the block, T8 = ⌊f32(T·f32(127/m)) + ½⌋, and the block's step stb = f32(m/127·delta); an error
 *   of about m/254·|delta| per lookup (the bound below measures the actual one).
 * - **Integer sums** per block and row, A = Σ_quads T8[p⁰] + 2·T8[p¹] (|A| ≤ 16·381: exact in
 *   i16), then in f32 with each operation rounded: G = G + A·stb per block, and per group
 *   y = y + (S·G + O·XG) with S = s, O = f32(s·f32(tmin − z)), XG = f32(Σ_g x).
 *
 * {@linkcode tmacRowsTs} is the spec (same integers, same f32 operations in the same order as the
 * WebAssembly lanes, so equal to the bit), {@linkcode tmacErrorBound} the bound on its distance
 * from the exact product, `tmac_layout.ts` the load-time layout the kernel reads. Where every
 * scale and zero is an f16 value, that layout keeps them as f16 and the kernel widens them exactly
 * (`halfToF32`): S and O are the same f32 values, so the results do not change.
 *
 * @module
 */
import type { QuantizedTensor } from "../quant/format.ts";
import { getCode, rowStrideWords } from "../quant/packing.ts";
import { int8Format, int8Table } from "./int8_format.ts";

/** Activations per table block (one f32 step each). */
export const TMAC_BLOCK = 64;

/** Weight rows per i16x8 lane group: the kernel's lanes are rows. */
export const TMAC_LANE_ROWS = 8;

/** Lane groups per tile: the rows that share each table load. */
export const TMAC_GROUPS_PER_TILE = 2;

/** Rows per tile (the repacked arrays pad the rows to a multiple). */
export const TMAC_TILE_ROWS = TMAC_LANE_ROWS * TMAC_GROUPS_PER_TILE;

/**
 * Whether a tensor takes the bit-plane kernel at `fast`: 2-bit scalar codes on an equally spaced
 * table, groups of a multiple of 64 along the input.
 *
 * @example
 * ```ts
 * import { tmacCovers } from "./tmac_format.ts";
 * const base = { p: 1, codeBits: 2, groupAxis: 1 as const, groupSize: 64 };
 * if (!tmacCovers({ ...base, table: new Float32Array([0, 1, 2, 3]) })) throw new Error();
 * if (tmacCovers({ ...base, table: new Float32Array([0, 1, 2, 4]) })) throw new Error();
 * ```
 */
export function tmacCovers(
  q: Pick<QuantizedTensor, "p" | "codeBits" | "groupAxis" | "groupSize" | "table">,
): boolean {
  return int8Format(q.p, q.codeBits, q.groupAxis, q.groupSize) === "n2" &&
    int8Table(q.table, 1).exact;
}

/** One activation row as the kernel reads it. */
export interface TmacTables {
  /** i8 partial sums, 16 per quad of activations (quad q at 16·q). */
  t8: Int8Array;
  /** f32 step per 64-activation block (the table's delta folded in). */
  stb: Float32Array;
  /** f32 Σx per group. */
  xg: Float32Array;
}

/**
 * The tables of `pc` activations `xp[off, off + pc)` (see the module doc), into `into` if given.
 *
 * @example
 * ```ts
 * import { tmacTables } from "./tmac_format.ts";
 * const x = new Float64Array(64);
 * x[0] = 1;
 * x[1] = -0.5;
 * const t = tmacTables(x, 0, 64, 64, 1);
 * // quad 0: T[1] = 1 → 127, T[2] = −0.5 → −63 (⌊−63.5 + ½⌋), T[3] = 0.5 → 64
 * if (t.t8[1] !== 127 || t.t8[2] !== -63 || t.t8[3] !== 64) throw new Error();
 * if (t.stb[0] !== Math.fround(1 / 127) || t.xg[0] !== 0.5) throw new Error();
 * ```
 */
export function tmacTables(
  xp: Float64Array,
  off: number,
  pc: number,
  g: number,
  delta: number,
  into?: TmacTables,
): TmacTables {
  const out = into ?? {
    t8: new Int8Array(pc * 4),
    stb: new Float32Array(pc / TMAC_BLOCK),
    xg: new Float32Array(pc / g),
  };
  const f = Math.fround, t = new Float32Array(TMAC_BLOCK * 4);
  for (let b = 0; b < pc / TMAC_BLOCK; b++) {
    let m = 0;
    for (let q = 0; q < TMAC_BLOCK / 4; q++) {
      const o = off + b * TMAC_BLOCK + 4 * q;
      const x0 = f(xp[o]!), x1 = f(xp[o + 1]!), x2 = f(xp[o + 2]!), x3 = f(xp[o + 3]!);
      // T[p] = T[p without its highest bit] + x_highest: the bit-order sum, one f32 add each.
      const v = t.subarray(16 * q, 16 * q + 16);
      v[0] = 0;
      v[1] = x0;
      v[2] = x1;
      v[3] = x0 + x1;
      for (let p = 4; p < 8; p++) v[p] = v[p - 4]! + x2;
      for (let p = 8; p < 16; p++) v[p] = v[p - 8]! + x3;
      for (let p = 0; p < 16; p++) {
        const a = Math.abs(v[p]!);
        if (a > m) m = a;
      }
    }
    const inv = m > 0 ? f(127 / m) : 0;
    const dst = b * TMAC_BLOCK * 4;
    // T·inv ≤ 127·(1 + 2⁻²³): + ½ is exact in f32 and the floor stays within ±127.
    for (let i = 0; i < TMAC_BLOCK * 4; i++) out.t8[dst + i] = Math.floor(f(t[i]! * inv) + 0.5);
    out.stb[b] = m;
  }
  tmacSteps(out.stb, xp, off, g, delta, out.xg);
  return out;
}

/**
 * The tables' scalars from each block's m = max|T| (held in `stb`, replaced by the step
 * f32(m/127·delta)) and the group sums f32(Σx) of `xp[off, …)` into `xg`: the part of
 * {@linkcode tmacTables} that the WebAssembly table builder leaves to its caller.
 *
 * @example
 * ```ts
 * import { tmacSteps } from "./tmac_format.ts";
 * const stb = new Float32Array([127]), xg = new Float32Array(1);
 * tmacSteps(stb, new Float64Array(64).fill(0.5), 0, 64, 0.25, xg);
 * if (stb[0] !== 0.25 || xg[0] !== 32) throw new Error();
 * ```
 */
export function tmacSteps(
  stb: Float32Array,
  xp: Float64Array,
  off: number,
  g: number,
  delta: number,
  xg: Float32Array,
): void {
  for (let b = 0; b < stb.length; b++) stb[b] = stb[b]! / 127 * delta;
  for (let gi = 0; gi < xg.length; gi++) {
    let s = 0;
    for (let i = off + gi * g; i < off + (gi + 1) * g; i++) s += xp[i]!;
    xg[gi] = s;
  }
}

/** The bit-plane index of plane `k` of codes 4q…4q+3 of row r. */
function planeIndex(q: QuantizedTensor, stride: number, r: number, quad: number, k: number) {
  let p = 0;
  for (let j = 0; j < 4; j++) p |= ((getCode(q.codes, stride, r, 4 * quad + j, 2) >> k) & 1) << j;
  return p;
}

/** S and O of row r, group gi (module doc). */
function affine(q: QuantizedTensor, r: number, gi: number, tmin: number): [number, number] {
  const gpr = q.paddedCols / q.groupSize;
  const s = q.scales[r * gpr + gi]!;
  const z = q.zeros ? q.zeros[r * gpr + gi]! : 0;
  return [s, Math.fround(s * Math.fround(tmin - z))];
}

/**
 * Rows `[start, end)` of the bit-plane `fast` product of one activation row (its
 * {@linkcode tmacTables}) into `out`, on the checkpoint's own packing: the spec of the kernel.
 *
 * @example
 * ```ts
 * import { tmacRowsTs, tmacTables } from "./tmac_format.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 2, codes: packCodes(new Array(64).fill(3), 1, 64, 2),
 *   table: new Float32Array([0, 1, 2, 3]), tableDtype: "F32" as const, groupSize: 64,
 *   groupAxis: 1 as const, scales: new Float32Array([0.5]), zeros: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const out = new Float32Array(1);
 * tmacRowsTs(q, tmacTables(new Float64Array(64).fill(1), 0, 64, 64, 1), out, 0, 1);
 * if (out[0] !== 64) throw new Error(String(out[0])); // 64 · (3 − 1) · 0.5
 * ```
 */
export function tmacRowsTs(
  q: QuantizedTensor,
  tab: TmacTables,
  out: Float32Array,
  start: number,
  end: number,
): void {
  const f = Math.fround, pc = q.paddedCols, g = q.groupSize;
  const stride = rowStrideWords(pc, 2);
  const tmin = q.table[0]!;
  for (let r = start; r < end; r++) {
    let y = 0;
    for (let gi = 0; gi < pc / g; gi++) {
      let G = 0;
      for (let b = gi * g / TMAC_BLOCK; b < (gi + 1) * g / TMAC_BLOCK; b++) {
        let a = 0;
        for (let quad = b * 16; quad < (b + 1) * 16; quad++) {
          a += tab.t8[16 * quad + planeIndex(q, stride, r, quad, 0)]! +
            2 * tab.t8[16 * quad + planeIndex(q, stride, r, quad, 1)]!;
        }
        G = f(G + f(a * tab.stb[b]!));
      }
      const [s, o] = affine(q, r, gi, tmin);
      y = f(y + f(f(s * G) + f(o * tab.xg[gi]!)));
    }
    out[r] = y;
  }
}

/**
 * Per row, the bound on |y_fast − y_exact| for one activation row `xp[off, off + pc)` (rotated,
 * f64) with tables `tab`: Σ_g |s|·Σ_lookups 2^plane·|stb·T8 − delta·T| (the tables' rounding)
 * plus `slack` times the magnitudes the f32 sums run over (Σ|ŵ·x|, Σ|s·stb·A|, Σ|O·XG|).
 *
 * @example
 * ```ts
 * import { tmacErrorBound, tmacTables } from "./tmac_format.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "rtn" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 2, codes: packCodes(new Array(64).fill(1), 1, 64, 2),
 *   table: new Float32Array([0, 1, 2, 3]), tableDtype: "F32" as const, groupSize: 64,
 *   groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * const x = new Float64Array(64).fill(0.25);
 * // Every quad's sums are multiples of 0.25 up to m = 1: 127/m·T is exact in f64 up to ½ steps.
 * const b = tmacErrorBound(q, tmacTables(x, 0, 64, 64, 1), x, 0);
 * if (!(b[0]! < 0.1)) throw new Error(String(b[0]));
 * ```
 */
export function tmacErrorBound(
  q: QuantizedTensor,
  tab: TmacTables,
  xp: Float64Array,
  off: number,
  slack = 1e-5,
): Float64Array {
  const [rows] = q.shape;
  const pc = q.paddedCols, g = q.groupSize, gpr = pc / g;
  const stride = rowStrideWords(pc, 2);
  const tmin = q.table[0]!, delta = q.table[1]! - q.table[0]!;
  const bound = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let e = 0, mag = 0;
    for (let gi = 0; gi < gpr; gi++) {
      const [s, o] = affine(q, r, gi, tmin);
      const z = q.zeros ? q.zeros[r * gpr + gi]! : 0;
      let sx = 0;
      for (let i = gi * g; i < (gi + 1) * g; i++) {
        const x = xp[off + i]!;
        sx += x;
        mag += Math.abs(s * (tmin + delta * getCode(q.codes, stride, r, i, 2) - z) * x);
      }
      mag += Math.abs(o * tab.xg[gi]!);
      e += Math.abs(s * (tmin - z) * (sx - tab.xg[gi]!)); // Σx rounded to f32
      for (let b = gi * g / TMAC_BLOCK; b < (gi + 1) * g / TMAC_BLOCK; b++) {
        let a = 0;
        for (let quad = b * 16; quad < (b + 1) * 16; quad++) {
          for (let k = 0; k < 2; k++) {
            const p = planeIndex(q, stride, r, quad, k);
            let t = 0;
            for (let j = 0; j < 4; j++) if (p & (1 << j)) t += xp[off + 4 * quad + j]!;
            const t8 = tab.t8[16 * quad + p]!;
            e += Math.abs(s) * 2 ** k * Math.abs(tab.stb[b]! * t8 - delta * t);
            a += 2 ** k * Math.abs(t8);
          }
        }
        mag += Math.abs(s * tab.stb[b]!) * a;
      }
      // f32 rounding of O = s·(tmin − z) against the f64 product.
      e += Math.abs(o - s * (tmin - z)) * Math.abs(tab.xg[gi]!);
    }
    bound[r] = e + slack * mag;
  }
  return bound;
}
