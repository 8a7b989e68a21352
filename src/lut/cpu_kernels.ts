// This module is browser compatible.
/**
 * The CPU inner loops of the lookup-table matmul, run on the worker pool by `cpu.ts` (so this
 * module imports nothing outside `src/lut/`: workers load it cold). This file holds the dispatch
 * and the generic loops; the unrolled per-format loops (`dot<bits>p<p>`, `rows<bits>p<p>`,
 * `decode<bits>p<p>F32`) are generated into `gen/cpu_unrolled.ts` by
 * `tools/gen_lut_cpu_kernels.ts`.
 *
 * Exactness and speed (the form chosen, per the issue): in the batch-1 loops the group scale and
 * zero are *folded* out of the inner loop instead of scaling the table per group,
 *
 *     Σ_{c∈group} (t[code_c] − z)·s·x_c = s·(Σ t[code_c]·x_c − z·Σ x_c),
 *
 * so the inner loop is one table load and one multiply-add per weight, Σ x per group is computed
 * once per call (it does not depend on the row), and no per-group table is ever built (a scaled
 * 256-pair table per group of 64 would cost more than the group itself). Everything runs in f64
 * (JavaScript numbers), so the fold's cancellation is invisible at f32 precision. For `groupAxis:
 * 0` the scale varies along the row instead: per block of g rows the activations are pre-scaled
 * once, xs_c = s_c·x_c, and Σ z_c·xs_c is subtracted, leaving the same inner loop.
 *
 * Batch 1 (`lutRows`): whole-row kernels for 4-bit p=1, 8-bit p=2 (HIGGS (2,256)), 2-bit, 3-bit
 * (three words = 32 codes) and 8-bit p=1 when groups hold whole chunks; otherwise `dotCodes` per
 * group, with chunk loops for 4-bit p=2 and any width dividing 32 and a generic bit-stream loop
 * for the rest (5, 6, 7, 9–16 bits). Several activation rows: each weight row is decoded once to
 * f32 (`dequantRows`, bit-identical to `decodeRotated`; per group a scaled table when it is
 * smaller than the group) and dotted with every activation row.
 *
 * @module
 */
import {
  decode4p1F32,
  decode8p2F32,
  dot2p1,
  dot3p1,
  dot4p1,
  dot4p2,
  dot8p1,
  dot8p2,
  type RowKernel,
  rows2p1,
  rows3p1,
  rows4p1,
  rows8p1,
  rows8p2,
} from "./gen/cpu_unrolled.ts";

/** Shapes and format of one prepared tensor, as the workers see it. */
export interface LutKernelMeta {
  /** Output features (rows of the weight). */
  rows: number;
  /** Padded input width (columns of the rotated weight). */
  pc: number;
  /** Weights per code (1 or 2). */
  p: number;
  /** Bits per code. */
  bits: number;
  /** Group size g. */
  g: number;
  /** Group axis. */
  axis: 0 | 1;
  /** Words per packed row. */
  stride: number;
  /** Codes per row (pc / p). */
  cpr: number;
  /** Whether zeros are present. */
  hasZeros: boolean;
  /** Activation rows. */
  batch: number;
}

// ---------------------------------------------------------------------------------------------
// Σ_j table[code_j] · v[...] over a code range (batch 1).

/**
 * Codes in one aligned chunk of the fast loops: lcm(bits, 32)/bits, so a chunk starts at a word
 * boundary and no code straddles two chunks.
 *
 * @example
 * ```ts
 * import { chunkCodes } from "./cpu_kernels.ts";
 * if (chunkCodes(4) !== 8 || chunkCodes(3) !== 32 || chunkCodes(12) !== 8) throw new Error();
 * ```
 */
export function chunkCodes(bits: number): number {
  // lcm(bits, 32) / bits: whole words per chunk, codes never straddle a chunk.
  let a = bits, b = 32;
  while (b) [a, b] = [b, a % b];
  return 32 / a;
}

function dotGeneric(
  codes: Uint32Array,
  wb: number,
  j0: number,
  n: number,
  bits: number,
  p: number,
  T: Float64Array,
  v: Float64Array,
  vb: number,
): number {
  const mask = (1 << bits) - 1;
  let acc = 0;
  for (let j = j0; j < j0 + n; j++) {
    const bit = j * bits;
    const w = wb + (bit >>> 5);
    const sh = bit & 31;
    let code = codes[w]! >>> sh;
    if (sh + bits > 32) code |= codes[w + 1]! << (32 - sh);
    code &= mask;
    if (p === 1) {
      acc += T[code]! * v[vb + j]!;
    } else {
      const t = code * p;
      const c = vb + j * p;
      for (let k = 0; k < p; k++) acc += T[t + k]! * v[c + k]!;
    }
  }
  return acc;
}

// Any width dividing 32 (1, 2, 4, 8, 16 bits), any p.
function dotWords(
  codes: Uint32Array,
  w: number,
  nw: number,
  bits: number,
  p: number,
  T: Float64Array,
  v: Float64Array,
  c: number,
): number {
  const mask = (1 << bits) - 1;
  let acc = 0;
  for (const end = w + nw; w < end; w++) {
    const u = codes[w]!;
    for (let s = 0; s < 32; s += bits) {
      const t = ((u >>> s) & mask) * p;
      for (let k = 0; k < p; k++) acc += T[t + k]! * v[c++]!;
    }
  }
  return acc;
}

/**
 * Σ over codes j ∈ [j0, j0 + n) of a row whose packed words start at `wb`:
 * Σ_k table[code_j·p + k] · v[vb + j·p + k]. Fast loops run over the aligned whole chunks, the
 * generic loop over the rest.
 *
 * @example
 * ```ts
 * import { dotCodes } from "./cpu_kernels.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const codes = packCodes([1, 0, 3, 2], 1, 4, 2);
 * const t = new Float64Array([0, 1, 2, 3]);
 * const v = new Float64Array([1, 1, 1, 1]);
 * if (dotCodes(codes, 0, 0, 4, 2, 1, t, v, 0) !== 6) throw new Error();
 * ```
 */
export function dotCodes(
  codes: Uint32Array,
  wb: number,
  j0: number,
  n: number,
  bits: number,
  p: number,
  T: Float64Array,
  v: Float64Array,
  vb: number,
): number {
  const cc = chunkCodes(bits);
  if (j0 % cc !== 0 || n < cc) return dotGeneric(codes, wb, j0, n, bits, p, T, v, vb);
  const chunks = Math.floor(n / cc);
  const w = wb + (j0 * bits) / 32;
  const c = vb + j0 * p;
  let acc: number;
  if (p === 1 && bits === 4) acc = dot4p1(codes, w, chunks, T, v, c);
  else if (p === 2 && bits === 8) acc = dot8p2(codes, w, chunks, T, v, c);
  else if (p === 1 && bits === 2) acc = dot2p1(codes, w, chunks, T, v, c);
  else if (p === 1 && bits === 3) acc = dot3p1(codes, w, chunks, T, v, c);
  else if (p === 1 && bits === 8) acc = dot8p1(codes, w, chunks, T, v, c);
  else if (p === 2 && bits === 4) acc = dot4p2(codes, w, chunks, T, v, c);
  else if (32 % bits === 0) acc = dotWords(codes, w, chunks, bits, p, T, v, c);
  else return dotGeneric(codes, wb, j0, n, bits, p, T, v, vb);
  const done = chunks * cc;
  if (done < n) acc += dotGeneric(codes, wb, j0 + done, n - done, bits, p, T, v, vb);
  return acc;
}

/**
 * Writes table[code_j·p + k] for codes j ∈ [j0, j0 + n) of a row into `dst` from `d0`
 * (n·p values): the decode step shared by the batched loops and the BLAS tiles.
 *
 * @example
 * ```ts
 * import { decodeCodes } from "./cpu_kernels.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const dst = new Float64Array(4);
 * decodeCodes(packCodes([1, 0], 1, 2, 3), 0, 0, 2, 3, 2, new Float64Array(16).map((_, i) => i), dst, 0);
 * if (dst.join() !== "2,3,0,1") throw new Error();
 * ```
 */
export function decodeCodes(
  codes: Uint32Array,
  wb: number,
  j0: number,
  n: number,
  bits: number,
  p: number,
  T: Float64Array,
  dst: Float64Array,
  d0: number,
): void {
  const mask = (1 << bits) - 1;
  let j = j0;
  const end = j0 + n;
  let d = d0;
  if (32 % bits === 0) {
    const per = 32 / bits;
    // Head up to a word boundary, then whole words, then the tail.
    const aligned = Math.min(end, Math.ceil(j0 / per) * per);
    for (; j < aligned; j++) {
      const bit = j * bits;
      const t = ((codes[wb + (bit >>> 5)]! >>> (bit & 31)) & mask) * p;
      for (let k = 0; k < p; k++) dst[d++] = T[t + k]!;
    }
    let w = wb + (j * bits) / 32;
    if (p === 1) {
      for (; j + per <= end; j += per, w++) {
        const u = codes[w]!;
        for (let s = 0; s < 32; s += bits) dst[d++] = T[(u >>> s) & mask]!;
      }
    } else if (p === 2) {
      for (; j + per <= end; j += per, w++) {
        const u = codes[w]!;
        for (let s = 0; s < 32; s += bits) {
          const t = ((u >>> s) & mask) << 1;
          dst[d++] = T[t]!;
          dst[d++] = T[t + 1]!;
        }
      }
    }
  }
  for (; j < end; j++) {
    const bit = j * bits;
    const w = wb + (bit >>> 5);
    const sh = bit & 31;
    let code = codes[w]! >>> sh;
    if (sh + bits > 32) code |= codes[w + 1]! << (32 - sh);
    const t = (code & mask) * p;
    for (let k = 0; k < p; k++) dst[d++] = T[t + k]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Row kernels (pool entry points).

/**
 * Rows `[start, end)` of `out[b, r] = Σ_c Ŵrot[r, c] · xp[b, c]` straight from the packed codes.
 * `xp` is the prepared (padded, rotated) activation `[batch, pc]`; `xsum` holds Σ xp per group
 * `[batch, pc/g]` (only for `groupAxis: 1` with zeros); `out` is `[batch, rows]`.
 *
 * @example
 * ```ts
 * import { lutRows } from "./cpu_kernels.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const meta = { rows: 1, pc: 4, p: 1, bits: 2, g: 4, axis: 1 as const, stride: 1, cpr: 4,
 *   hasZeros: false, batch: 1 };
 * const out = new Float32Array(1);
 * lutRows(meta, packCodes([0, 1, 2, 3], 1, 4, 2), new Float64Array([0, 1, 2, 3]),
 *   new Float32Array([0.5]), null, new Float64Array([1, 1, 1, 1]), null, out, 0, 1);
 * if (out[0] !== 3) throw new Error();
 * ```
 */
export function lutRows(
  meta: LutKernelMeta,
  codes: Uint32Array,
  table: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xp: Float64Array,
  xsum: Float64Array | null,
  out: Float32Array,
  start: number,
  end: number,
): number {
  if (meta.axis === 1) rowsAxis1(meta, codes, table, scales, zeros, xp, xsum, out, start, end);
  else rowsAxis0(meta, codes, table, scales, zeros, xp, out, start, end);
  return end - start;
}

/** The specialised batch-1 row kernel for a format, or null (then `dotCodes` per group). */
function rowKernel(bits: number, p: number): RowKernel | null {
  if (p === 1 && bits === 4) return rows4p1;
  if (p === 2 && bits === 8) return rows8p2;
  if (p === 1 && bits === 2) return rows2p1;
  if (p === 1 && bits === 3) return rows3p1;
  if (p === 1 && bits === 8) return rows8p1;
  return null;
}

function rowsAxis1(
  m: LutKernelMeta,
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xp: Float64Array,
  xsum: Float64Array | null,
  out: Float32Array,
  start: number,
  end: number,
): void {
  const { pc, p, bits, g, stride, batch } = m;
  if (batch > 1) return rowsBatched(m, codes, T, scales, zeros, xp, out, start, end);
  const gpr = pc / g;
  const G = g / p;
  const cc = chunkCodes(bits);
  const kernel = G % cc === 0 ? rowKernel(bits, p) : null;
  if (kernel) {
    kernel(codes, T, scales, zeros, xsum, xp, out, start, end, stride, gpr, G / cc);
    return;
  }
  for (let r = start; r < end; r++) {
    const wb = r * stride;
    const sb = r * gpr;
    let tot = 0;
    for (let gi = 0; gi < gpr; gi++) {
      let acc = dotCodes(codes, wb, gi * G, G, bits, p, T, xp, 0);
      if (zeros) acc -= zeros[sb + gi]! * xsum![gi]!;
      tot += scales[sb + gi]! * acc;
    }
    out[r] = tot;
  }
}

// Several activation rows: decode each weight row once to f32 (exactly as decodeRotated), then
// one dot product per activation row.
function rowsBatched(
  m: LutKernelMeta,
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xp: Float64Array,
  out: Float32Array,
  start: number,
  end: number,
): void {
  const { rows, pc, batch } = m;
  const row = new Float32Array(pc);
  for (let r = start; r < end; r++) {
    dequantRows(m, codes, T, scales, zeros, row, r, 0, 1);
    for (let b = 0; b < batch; b++) {
      const o = b * pc;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let c = 0;
      for (; c + 4 <= pc; c += 4) {
        a0 += row[c]! * xp[o + c]!;
        a1 += row[c + 1]! * xp[o + c + 1]!;
        a2 += row[c + 2]! * xp[o + c + 2]!;
        a3 += row[c + 3]! * xp[o + c + 3]!;
      }
      for (; c < pc; c++) a0 += row[c]! * xp[o + c]!;
      out[b * rows + r] = a0 + a1 + a2 + a3;
    }
  }
}

function rowsAxis0(
  m: LutKernelMeta,
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xp: Float64Array,
  out: Float32Array,
  start: number,
  end: number,
): void {
  const { pc, p, bits, g, stride, cpr, batch } = m;
  if (batch > 1) return rowsBatched(m, codes, T, scales, zeros, xp, out, start, end);
  const xs = new Float64Array(pc);
  for (let r0 = start; r0 < end;) {
    const gr = Math.floor(r0 / g);
    const r1 = Math.min(end, (gr + 1) * g);
    // Pre-scale the activations by this row block's per-column scales (and fold the zeros).
    const sb = gr * pc;
    let cz = 0;
    for (let c = 0; c < pc; c++) {
      const v = scales[sb + c]! * xp[c]!;
      xs[c] = v;
      if (zeros) cz += zeros[sb + c]! * v;
    }
    for (let r = r0; r < r1; r++) {
      out[r] = dotCodes(codes, r * stride, 0, cpr, bits, p, T, xs, 0) - cz;
    }
    r0 = r1;
  }
}

/**
 * Rows `[r0 + start, r0 + end)` of the rotated-domain weight Ŵrot, decoded to f32 into `dst`
 * (row `r` at `(r − r0)·pc`), bit-identical to `decodeRotated`: the tile producer of the
 * BLAS path for larger batches.
 *
 * @example
 * ```ts
 * import { dequantRows } from "./cpu_kernels.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const meta = { rows: 1, pc: 4, p: 1, bits: 2, g: 4, axis: 1 as const, stride: 1, cpr: 4,
 *   hasZeros: true, batch: 1 };
 * const dst = new Float32Array(4);
 * dequantRows(meta, packCodes([0, 1, 2, 3], 1, 4, 2), new Float64Array([0, 1, 2, 3]),
 *   new Float32Array([0.5]), new Float32Array([1]), dst, 0, 0, 1);
 * if (dst.join() !== "-0.5,0,0.5,1") throw new Error();
 * ```
 */
export function dequantRows(
  m: LutKernelMeta,
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  dst: Float32Array,
  r0: number,
  start: number,
  end: number,
): number {
  const { pc, p, bits, g, stride, cpr, axis } = m;
  const gpr = pc / g;
  const tl = T.length;
  if (axis === 1 && tl <= 2 * g) {
    // A scaled table per group, st[k] = (t[k] − z)·s rounded to f32 exactly as decodeRotated
    // rounds each weight, then one lookup per code.
    const st = new Float32Array(tl);
    const G = g / p;
    for (let r = r0 + start; r < r0 + end; r++) {
      const o = (r - r0) * pc;
      for (let gi = 0; gi < gpr; gi++) {
        const s = scales[r * gpr + gi]!;
        const z = zeros ? zeros[r * gpr + gi]! : 0;
        for (let k = 0; k < tl; k++) st[k] = (T[k]! - z) * s;
        decodeCodesF32(codes, r * stride, gi * G, G, bits, p, st, dst, o + gi * g);
      }
    }
    return end - start;
  }
  const row = new Float64Array(pc);
  for (let r = r0 + start; r < r0 + end; r++) {
    decodeCodes(codes, r * stride, 0, cpr, bits, p, T, row, 0);
    const o = (r - r0) * pc;
    if (axis === 1) {
      for (let gi = 0; gi < gpr; gi++) {
        const s = scales[r * gpr + gi]!;
        const z = zeros ? zeros[r * gpr + gi]! : 0;
        for (let c = gi * g; c < (gi + 1) * g; c++) dst[o + c] = (row[c]! - z) * s;
      }
    } else {
      const sb = Math.floor(r / g) * pc;
      if (zeros) {
        for (let c = 0; c < pc; c++) dst[o + c] = (row[c]! - zeros[sb + c]!) * scales[sb + c]!;
      } else {
        for (let c = 0; c < pc; c++) dst[o + c] = row[c]! * scales[sb + c]!;
      }
    }
  }
  return end - start;
}

// decodeCodes for an f32 (pre-scaled) table into an f32 destination, with word loops for the
// widths that divide 32.
function decodeCodesF32(
  codes: Uint32Array,
  wb: number,
  j0: number,
  n: number,
  bits: number,
  p: number,
  T: Float32Array,
  dst: Float32Array,
  d: number,
): void {
  const mask = (1 << bits) - 1;
  const end = j0 + n;
  let j = j0;
  if (32 % bits === 0 && (j0 * bits) % 32 === 0) {
    const per = 32 / bits;
    let w = wb + (j0 * bits) / 32;
    if ((p === 1 && bits === 4) || (p === 2 && bits === 8)) {
      const nw = Math.floor((end - j) / per);
      if (bits === 4) decode4p1F32(codes, w, nw, T, dst, d);
      else decode8p2F32(codes, w, nw, T, dst, d);
      j += nw * per;
      d += nw * per * p;
    } else if (p === 1) {
      for (; j + per <= end; j += per, w++) {
        const u = codes[w]!;
        for (let s = 0; s < 32; s += bits) dst[d++] = T[(u >>> s) & mask]!;
      }
    } else {
      for (; j + per <= end; j += per, w++) {
        const u = codes[w]!;
        for (let s = 0; s < 32; s += bits) {
          const t = ((u >>> s) & mask) * p;
          for (let k = 0; k < p; k++) dst[d++] = T[t + k]!;
        }
      }
    }
  }
  for (; j < end; j++) {
    const bit = j * bits;
    const w = wb + (bit >>> 5);
    const sh = bit & 31;
    let code = codes[w]! >>> sh;
    if (sh + bits > 32) code |= codes[w + 1]! << (32 - sh);
    const t = (code & mask) * p;
    for (let k = 0; k < p; k++) dst[d++] = T[t + k]!;
  }
}
