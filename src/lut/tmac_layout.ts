// This module is browser compatible.
/**
 * The repacked layout of the bit-plane `fast` kernel (`cpu_tmac.ts`) and its inverse: rows padded
 * to tiles of `TMAC_TILE_ROWS` (lane groups of 8 rows); per tile, per 64-activation block, per
 * quad pair j (activations 8j…8j + 7 of the block), per lane group, 16 bytes: byte 2i + k holds
 * row i's plane-k index of quad 2j in its low nibble and of quad 2j + 1 in its high nibble (bit n
 * of an index = bit k of code 4·quad + n) — the same bytes as the packed codes. Scales and zeros:
 * per tile and group, the tile's rows side by side (f32); or, where every scale and zero is
 * f16-exact ({@linkcode tmacHalfExact}: F16 storage, the default), both as f16 in the bytes of the
 * f32 scales alone — per tile and group, the 16 scales then the 16 zeros ({@linkcode tmacRepackHalf})
 * — which the kernel widens exactly ({@linkcode halfToF32}), so the zeros' f32 array is freed.
 *
 * @module
 */
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { TMAC_BLOCK, TMAC_TILE_ROWS } from "./tmac_format.ts";

/** Byte of 4 codes → plane-0 index | plane-1 index << 4, and the inverse. */
const SPLIT = new Uint8Array(256), JOIN = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  let p0 = 0, p1 = 0;
  for (let n = 0; n < 4; n++) {
    p0 |= ((v >> (2 * n)) & 1) << n;
    p1 |= ((v >> (2 * n + 1)) & 1) << n;
  }
  SPLIT[v] = p0 | p1 << 4;
  JOIN[p0 | p1 << 4] = v;
}

/** Geometry of a tensor's repacked form. */
export function tmacGeometry(q: QuantizedTensor) {
  const pc = q.paddedCols, nblk = pc / TMAC_BLOCK, gpr = pc / q.groupSize;
  const tiles = Math.ceil(q.shape[0] / TMAC_TILE_ROWS);
  return { pc, nblk, gpr, tiles, codeBytes: tiles * nblk * 16 * TMAC_TILE_ROWS };
}

/** Offset of row r's byte pair (j, k = 0) in block b of the repacked codes. */
function at(r: number, b: number, j: number, nblk: number): number {
  const T = TMAC_TILE_ROWS, t = Math.floor(r / T), lg = (r % T) >> 3;
  return ((t * nblk + b) * 8 + j) * 16 * (T / 8) + lg * 16 + 2 * (r & 7);
}

/**
 * Repacks `rows` rows of 2-bit codes (`src`: the checkpoint's packing as bytes, pc/4 per row)
 * into `dst` and per-group values `s`, `z` (row-major [rows, gpr]) into `sd`, `zd` (module doc;
 * `sd` null: the codes only, for {@linkcode tmacRepackHalf}); padding rows get 0.
 *
 * @example
 * ```ts
 * import { tmacRepack } from "./tmac_layout.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const codes = new Array(64).fill(0);
 * codes[0] = 3; // row 0, quad 0: both planes' bit 0
 * codes[5] = 2; // row 0, quad 1: plane 1, bit 1
 * const src = new Uint8Array(packCodes(codes, 1, 64, 2).buffer);
 * const dst = new Uint8Array(256), sd = new Float32Array(16);
 * tmacRepack(src, 1, 64, 64, new Float32Array([2]), null, dst, sd, null);
 * if (dst[0] !== 0x01 || dst[1] !== 0x21 || sd[0] !== 2 || sd[1] !== 0) throw new Error();
 * ```
 */
export function tmacRepack(
  src: Uint8Array,
  rows: number,
  pc: number,
  g: number,
  s: Float32Array,
  z: Float32Array | null,
  dst: Uint8Array,
  sd: Float32Array | null,
  zd: Float32Array | null,
): void {
  const nblk = pc / TMAC_BLOCK, gpr = pc / g, bpr = pc / 4, T = TMAC_TILE_ROWS;
  dst.fill(0);
  sd?.fill(0);
  zd?.fill(0);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nblk; b++) {
      for (let j = 0; j < 8; j++) {
        const lo = SPLIT[src[r * bpr + 16 * b + 2 * j]!]!,
          hi = SPLIT[src[r * bpr + 16 * b + 2 * j + 1]!]!;
        const o = at(r, b, j, nblk);
        dst[o] = (lo & 15) | (hi & 15) << 4;
        dst[o + 1] = (lo >> 4) | (hi & 0xf0);
      }
    }
    for (let gi = 0; sd && gi < gpr; gi++) {
      const o = (Math.floor(r / T) * gpr + gi) * T + r % T;
      sd[o] = s[r * gpr + gi]!;
      if (z && zd) zd[o] = z[r * gpr + gi]!;
    }
  }
}

/**
 * The inverse of {@linkcode tmacRepack}: the checkpoint's codes, scales and zeros back (`sd` null:
 * the codes only).
 *
 * @example
 * ```ts
 * import { tmacRepack, tmacUnpack } from "./tmac_layout.ts";
 * const src = new Uint8Array(32 * 16).map((_, i) => (i * 37) & 255); // 32 rows × 64 codes
 * const s = new Float32Array(32).map((_, i) => i), dst = new Uint8Array(src.length);
 * const sd = new Float32Array(32);
 * tmacRepack(src, 32, 64, 64, s, null, dst, sd, null);
 * const back = new Uint8Array(src.length), s2 = new Float32Array(32);
 * tmacUnpack(dst, sd, null, 32, 64, 64, back, s2, null);
 * if (back.join() !== src.join() || s2.join() !== s.join()) throw new Error();
 * ```
 */
export function tmacUnpack(
  dst: Uint8Array,
  sd: Float32Array | null,
  zd: Float32Array | null,
  rows: number,
  pc: number,
  g: number,
  src: Uint8Array,
  s: Float32Array | null,
  z: Float32Array | null,
): void {
  const nblk = pc / TMAC_BLOCK, gpr = pc / g, bpr = pc / 4, T = TMAC_TILE_ROWS;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nblk; b++) {
      for (let j = 0; j < 8; j++) {
        const o = at(r, b, j, nblk);
        const p0 = dst[o]!, p1 = dst[o + 1]!;
        src[r * bpr + 16 * b + 2 * j] = JOIN[(p0 & 15) | (p1 & 15) << 4]!;
        src[r * bpr + 16 * b + 2 * j + 1] = JOIN[(p0 >> 4) | (p1 & 0xf0)]!;
      }
    }
    for (let gi = 0; sd && s && gi < gpr; gi++) {
      const o = (Math.floor(r / T) * gpr + gi) * T + r % T;
      s[r * gpr + gi] = sd[o]!;
      if (z && zd) z[r * gpr + gi] = zd[o]!;
    }
  }
}

/**
 * Whether every value of the arrays is finite and an f16 value (round trip f32 → f16 → f32 exact):
 * what the f16 layout of scales and zeros needs to give the same results bit for bit.
 *
 * @example
 * ```ts
 * import { tmacHalfExact } from "./tmac_layout.ts";
 * if (!tmacHalfExact([new Float32Array([0.5, -0, 2 ** -24, 65504])])) throw new Error();
 * if (tmacHalfExact([new Float32Array([0.1])])) throw new Error(); // not an f16 value
 * ```
 */
export function tmacHalfExact(arrays: Float32Array[]): boolean {
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v) || !Object.is(f16BitsToF32(f32ToF16Bits(v)), v)) return false;
    }
  }
  return true;
}

const f32Bits = new Uint32Array(1), f32View = new Float32Array(f32Bits.buffer);

/**
 * The kernel's f16 → f32 widening, operation for operation (the spec of `halvesToF32` in
 * `tools/gen_lut_tmac.ts`): the f32 bits' high half s000eeeeemmmmmmm (the pattern shifted right by
 * 3 with its sign, masked by 0x8fff) and low half mmm0…0 (shifted left by 13), read as f32, times
 * 2^112 (exact: the result is the f16 value, subnormals and −0 included). Finite patterns only.
 *
 * @example
 * ```ts
 * import { halfToF32 } from "./tmac_layout.ts";
 * if (halfToF32(0x3c00) !== 1 || halfToF32(0x0001) !== 2 ** -24 || halfToF32(0xc000) !== -2) {
 *   throw new Error();
 * }
 * if (!Object.is(halfToF32(0x8000), -0)) throw new Error();
 * ```
 */
export function halfToF32(h: number): number {
  const hi = ((h << 16 >> 16) >> 3) & 0x8fff, lo = (h << 13) & 0xffff;
  f32Bits[0] = hi << 16 | lo;
  return Math.fround(f32View[0]! * 2 ** 112);
}

/**
 * Scales `s` and zeros `z` (row-major [rows, gpr], every value f16-exact) into `hd` as f16 (module
 * doc: per tile and group, 16 scales then 16 zeros; padding rows 0), 2·tiles·gpr·16 halves.
 *
 * @example
 * ```ts
 * import { tmacRepackHalf } from "./tmac_layout.ts";
 * const hd = new Uint16Array(32);
 * tmacRepackHalf(1, 1, new Float32Array([1]), new Float32Array([-2]), hd);
 * if (hd[0] !== 0x3c00 || hd[16] !== 0xc000 || hd[1] !== 0) throw new Error();
 * ```
 */
export function tmacRepackHalf(
  rows: number,
  gpr: number,
  s: Float32Array,
  z: Float32Array,
  hd: Uint16Array,
): void {
  const T = TMAC_TILE_ROWS;
  hd.fill(0);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < gpr; gi++) {
      const o = (Math.floor(r / T) * gpr + gi) * 2 * T + r % T;
      hd[o] = f32ToF16Bits(s[r * gpr + gi]!);
      hd[o + T] = f32ToF16Bits(z[r * gpr + gi]!);
    }
  }
}

/**
 * The inverse of {@linkcode tmacRepackHalf}: the f32 scales and zeros back, bit for bit.
 *
 * @example
 * ```ts
 * import { tmacRepackHalf, tmacUnpackHalf } from "./tmac_layout.ts";
 * const s = new Float32Array([0.5, 2 ** -20]), z = new Float32Array([-0, 3]);
 * const hd = new Uint16Array(64);
 * tmacRepackHalf(2, 1, s, z, hd);
 * const s2 = new Float32Array(2), z2 = new Float32Array(2);
 * tmacUnpackHalf(hd, 2, 1, s2, z2);
 * if (s2.join() !== s.join() || !Object.is(z2[0], -0) || z2[1] !== 3) throw new Error();
 * ```
 */
export function tmacUnpackHalf(
  hd: Uint16Array,
  rows: number,
  gpr: number,
  s: Float32Array,
  z: Float32Array,
): void {
  const T = TMAC_TILE_ROWS;
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < gpr; gi++) {
      const o = (Math.floor(r / T) * gpr + gi) * 2 * T + r % T;
      s[r * gpr + gi] = halfToF32(hd[o]!);
      z[r * gpr + gi] = halfToF32(hd[o + T]!);
    }
  }
}
