// This module is browser compatible.
/**
 * The group encoder on the CPU: per-group statistics with the optional clipping search,
 * parameters at their stored precision, and the codes, as worker-pool kernels over
 * SharedArrayBuffers; {@linkcode encodeGroups} is the one entry point and hands a WebGPU backend
 * to `group_encoder_gpu.ts`. Codes are computed against the stored (f16- or f32-rounded) scale
 * and zero, so the decoder sees exactly what the encoder assumed. Constant groups are exact
 * (decoded = the constant when its value fits the stored precision; always with F32): table mode
 * uses a power-of-two level (±max|level| or ±½) with scale |c|/|level|; affine mode uses s = |c|,
 * z ∈ {0, 1}. All-zero groups decode to 0.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { parallelFor, poolSize, sharedF32, sharedU32, toShared } from "../cpu/pool.ts";
import type { Backend } from "../gpu/backend.ts";
import { rowStrideWords } from "./packing.ts";
import {
  type EncodedGroups,
  type EncodeMode,
  type GroupLayout,
  type GroupParams,
  nearestIndex,
  roundTo,
} from "./group_encoding.ts";
import { encodeGroupsGpu } from "./group_encoder_gpu.ts";

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even

/** Squared error of one group for a candidate clip ratio (f32 candidate parameters). */
function candidateError(
  w: Float32Array,
  base: number,
  step: number,
  g: number,
  mn: number,
  mx: number,
  p: number,
  m: EncodeMode,
): number {
  const fr = Math.fround;
  let err = 0;
  if (m.kind === "table") {
    const a = Math.max(Math.abs(mn), Math.abs(mx));
    const s = fr(fr(a * p) / m.levelMax);
    const inv = s > 0 ? fr(1 / s) : 0;
    const { sorted } = m;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      const d = x - sorted[nearestIndex(m, fr(x * inv))]! * s;
      err += d * d;
    }
  } else {
    const mnp = fr(mn * p);
    const mxp = fr(mx * p);
    const s = fr(fr(mxp - mnp) / m.maxq);
    if (s === 0) return 0;
    let z = fr(-mnp / s);
    if (m.roundZero) z = (z + MAGIC) - MAGIC;
    const inv = fr(1 / s);
    const maxq = m.maxq;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      let q = (fr(fr(x * inv) + z) + MAGIC) - MAGIC;
      q = q < 0 ? 0 : q > maxq ? maxq : q;
      const d = x - (q - z) * s;
      err += d * d;
    }
  }
  return err;
}

/**
 * Pool kernel: per-group statistics for groups [start, end): `stats[3i..3i+2]` = min, max and the
 * chosen clip ratio (1 without a search).
 *
 * @example
 * ```ts
 * import { affineMode } from "./group_encoding.ts";
 * import { groupStatsChunk } from "./group_encoder.ts";
 * const stats = new Float32Array(3);
 * groupStatsChunk(new Float32Array([1, -2, 3, 0]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   affineMode(2, true), stats, 0, 1);
 * if (stats.join() !== "-2,3,1") throw new Error();
 * ```
 */
export function groupStatsChunk(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  stats: Float32Array,
  start: number,
  end: number,
): void {
  const { g, cols } = L;
  const step = L.axis === 1 ? 1 : cols;
  const ratios = m.ratios;
  for (let gi = start; gi < end; gi++) {
    const base = L.axis === 1 ? gi * g : (Math.floor(gi / cols) * g) * cols + (gi % cols);
    let mn = Infinity;
    let mx = -Infinity;
    for (let k = 0, i = base; k < g; k++, i += step) {
      const x = w[i]!;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    let best = 1;
    if (ratios && ratios.length > 1 && mn !== mx) {
      let bestErr = Infinity;
      for (let r = 0; r < ratios.length; r++) {
        const e = candidateError(w, base, step, g, mn, mx, ratios[r]!, m);
        if (e < bestErr) {
          bestErr = e;
          best = ratios[r]!;
        }
      }
    }
    stats[3 * gi] = mn;
    stats[3 * gi + 1] = mx;
    stats[3 * gi + 2] = best;
  }
}

/**
 * Turns statistics into parameters at the stored precision (`dtype`); throws when a scale does
 * not fit f16. Codes are then computed against these rounded values.
 *
 * @example
 * ```ts
 * import { groupParams } from "./group_encoder.ts";
 * import { tableMode } from "./group_encoding.ts";
 * const m = tableMode(new Float32Array([-1.5, -0.5, 0.5, 1.5]), 2);
 * const p = groupParams(new Float32Array([-3, 1, 1]), m, "F32");
 * if (p.scales[0] !== 2 || p.enc[0] !== 0.5) throw new Error();
 * ```
 */
export function groupParams(
  stats: Float32Array,
  m: EncodeMode,
  dtype: "F16" | "F32",
  name = "tensor",
): GroupParams {
  const count = stats.length / 3;
  const fr = Math.fround;
  const scales = new Float32Array(count);
  const zeros = m.kind === "affine" ? new Float32Array(count) : undefined;
  const enc = new Float32Array(2 * count);
  for (let gi = 0; gi < count; gi++) {
    const mn = stats[3 * gi]!;
    const mx = stats[3 * gi + 1]!;
    const p = stats[3 * gi + 2]!;
    let s: number;
    let z = 0;
    if (m.kind === "table") {
      if (mn === mx && mn !== 0) s = roundTo(Math.abs(mn) / m.constLevel, dtype);
      else s = roundTo(fr(fr(Math.max(Math.abs(mn), Math.abs(mx)) * p) / m.levelMax), dtype);
    } else if (mn === mx) {
      s = roundTo(Math.abs(mn), dtype);
      z = mn < 0 ? 1 : 0;
    } else {
      const mnp = fr(mn * p);
      const mxp = fr(mx * p);
      s = roundTo(fr(fr(mxp - mnp) / m.maxq), dtype);
      if (s > 0) {
        z = fr(-mnp / s);
        if (m.roundZero) z = (z + MAGIC) - MAGIC;
        z = roundTo(z, dtype);
      }
    }
    if (!Number.isFinite(s) || !Number.isFinite(z)) {
      throw new QuantlabError(
        "bad-value",
        `Cannot quantize "${name}": group ${gi} needs a scale of ${
          Math.max(Math.abs(mn), Math.abs(mx))
        }-magnitude weights that does not fit ${dtype}; use scale dtype F32`,
      );
    }
    scales[gi] = s;
    if (zeros) zeros[gi] = z;
    enc[2 * gi] = s > 0 ? fr(1 / s) : 0;
    enc[2 * gi + 1] = z;
  }
  return { scales, zeros, enc };
}

/**
 * Pool kernel: encodes rows [start, end) with per-group `enc` = [1/scale, zero] and packs the codes
 * into `packed` (format layout, `stride` words per row).
 *
 * @example
 * ```ts
 * import { affineMode } from "./group_encoding.ts";
 * import { encodeRowsChunk } from "./group_encoder.ts";
 * const packed = new Uint32Array(1);
 * encodeRowsChunk(new Float32Array([0, 1, 2, 3]), { rows: 1, cols: 4, g: 4, axis: 1, count: 1 },
 *   affineMode(2, true), new Float32Array([1, 0]), packed, 1, 0, 1);
 * if (packed[0] !== 0b11100100) throw new Error();
 * ```
 */
export function encodeRowsChunk(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  enc: Float32Array,
  packed: Uint32Array,
  stride: number,
  start: number,
  end: number,
): void {
  const fr = Math.fround;
  const { g, cols } = L;
  const bits = m.bits;
  const gpr = cols / g;
  const { codeOf, maxq } = m;
  const table = m.kind === "table";
  for (let r = start; r < end; r++) {
    let acc = 0;
    let nb = 0;
    let wi = r * stride;
    const rowBase = r * cols;
    const gRow = L.axis === 1 ? r * gpr : Math.floor(r / g) * cols;
    // Axis 1: one parameter pair per segment of g columns; axis 0: one per column.
    const seg = L.axis === 1 ? g : 1;
    for (let c0 = 0, gi = gRow; c0 < cols; c0 += seg, gi++) {
      const inv = enc[2 * gi]!;
      const z = enc[2 * gi + 1]!;
      for (let i = rowBase + c0, e = i + seg; i < e; i++) {
        const x = w[i]!;
        const q = table
          ? codeOf[nearestIndex(m, fr(x * inv))]!
          : Math.min(Math.max((fr(fr(x * inv) + z) + MAGIC) - MAGIC, 0), maxq) | 0;
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

const SELF = import.meta.url;

/** Elements per pool chunk below which a kernel stays on the calling thread. */
const MIN_CHUNK_ELEMS = 1 << 16;

function useWorkers(units: number, minChunk: number): boolean {
  return poolSize() > 1 && units >= 2 * minChunk;
}

/**
 * Encodes all groups of `w` on the CPU (worker pool) or, with a WebGPU backend, with the kernels of
 * `shaders/absmax.wgsl`. `params` may replace the stored parameters between statistics and codes
 * (double quantization uses it); by default {@linkcode groupParams}.
 *
 * @example
 * ```ts
 * import { affineMode, groupLayout } from "./group_encoding.ts";
 * import { encodeGroups } from "./group_encoder.ts";
 * const w = new Float32Array([0, 1, 2, 3]);
 * const e = await encodeGroups(w, groupLayout(1, 4, 4, 1), affineMode(2, true), "F32");
 * if (e.params.scales[0] !== 1 || e.codes[0] !== 0b11100100) throw new Error();
 * ```
 */
export async function encodeGroups(
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  dtype: "F16" | "F32",
  backend: Backend = { kind: "cpu" },
  name = "tensor",
  params: (stats: Float32Array) => GroupParams = (s) => groupParams(s, m, dtype, name),
): Promise<EncodedGroups> {
  if (backend.kind === "webgpu") return await encodeGroupsGpu(backend.gpu, w, L, m, params);
  const stride = rowStrideWords(L.cols, m.bits);
  const statMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.g / (m.ratios ? m.ratios.length : 1)));
  const rowMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.cols));
  const par = useWorkers(L.count, statMin) || useWorkers(L.rows, rowMin);
  const ws = par ? toShared(w) : w;
  const stats = par ? sharedF32(3 * L.count) : new Float32Array(3 * L.count);
  await parallelFor(SELF, "groupStatsChunk", L.count, [ws, L, m, stats], { minChunk: statMin });
  const p = params(stats);
  const packed = par ? sharedU32(L.rows * stride) : new Uint32Array(L.rows * stride);
  const enc = par ? toShared(p.enc) : p.enc;
  await parallelFor(SELF, "encodeRowsChunk", L.rows, [ws, L, m, enc, packed, stride], {
    minChunk: rowMin,
  });
  return { codes: par ? packed.slice() : packed, params: p, stats: par ? stats.slice() : stats };
}
