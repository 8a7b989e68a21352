// This module is browser compatible.
/**
 * 4-bit float-table quantizers with absmax scaling per group: NF4 and FP4 exactly as bitsandbytes
 * defines them, and AbnormalFloat (AF4, and AF2–AF8) whose levels are computed for the block size.
 *
 * - **NF4**: bitsandbytes' 16 levels (`get_4bit_type("nf4")`, the f32 values it hard-codes).
 * - **FP4**: bitsandbytes' e2m1 values in its bit-pattern order, [0, 0.0625, 8, 12, 4, 6, 2, 3] and
 *   their negatives, divided by 12 (its max) as `get_4bit_type("fp4")` does; the −0 entry (code 8)
 *   decodes to 0 and is never chosen (x = 0 encodes as code 0).
 * - **AF** (AbnormalFloat, Yoshida 2023, "NF4 isn't information theoretically optimal"): the values
 *   of a block of B i.i.d. Gaussians divided by the block's absmax have, apart from the ±1 of the max
 *   itself, the density f_B(y) ∝ ∫ m φ(ym) φ(m) erf(m/√2)^(B−2) dm on (−1, 1). The levels keep NF4's
 *   shape (−1, 0, 1 fixed; 2^(b−1) − 2 free levels below 0 and 2^(b−1) − 1 above), found by Lloyd
 *   iterations on the exact density (1-D quadrature, no Monte-Carlo noise), computed once per
 *   (B, bits, criterion) and cached. Criteria: `"paper"` (default) = the paper's construction
 *   (`generate_af4.py`: every level the median of its cell, the cells of each sign ending at 0) —
 *   it reproduces the AF4-64 table bitsandbytes ships to 5e-8; `"l1"` / `"mse"` = the true
 *   nearest-level optimum of E|w − ŵ| / E(w − ŵ)² in the weights' own scale (density weighted by
 *   max^1 / max^2). On Gaussian groups of 64, `"mse"` has 5.5 % less MSE than NF4 while the paper's
 *   code has 8 % more.
 *
 * Encoding: scale = absmax of the group (at the stored precision), code = nearest level to
 * w·(1/scale) (ties to the lower level, like bitsandbytes' `torch.bucketize` path). With F16 scales
 * the codes are computed against the rounded scale. Optional double quantization (bitsandbytes
 * `compress_statistics`): the f32 absmax values minus their mean are quantized blockwise (256)
 * with bitsandbytes' signed dynamic 8-bit map and an f32 absmax per block (see `meta_quant.ts`);
 * as in bitsandbytes the 4-bit codes use the unquantized absmax. The mean is kept in
 * `params.nestedOffset`. Bits per weight: 4 + 8/g + 32/(256·g) (+ 32 per tensor for the offset):
 * 4.126953 for g = 64.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Backend } from "../gpu/backend.ts";
import type { QuantizedTensor } from "./format.ts";
import { type MetaQuantized, metaQuantizeDynamic } from "./meta_quant.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";
import { checkWeights, groupLayout, type GroupParams, tableMode } from "./group_encoding.ts";
import { encodeGroups, encodeRowsChunk, groupParams, groupStatsChunk } from "./group_encoder.ts";
import { readExtra, stripUndefined } from "./rtn.ts";
import { rowStrideWords } from "./packing.ts";

/**
 * bitsandbytes' NF4 levels (`create_normal_map(offset=0.9677083, use_extra_value=True)`), code order.
 *
 * @example
 * ```ts
 * import { NF4_LEVELS } from "./normal_float.ts";
 * if (NF4_LEVELS[0] !== -1 || NF4_LEVELS[7] !== 0 || NF4_LEVELS[15] !== 1) throw new Error();
 * ```
 */
export const NF4_LEVELS: Float32Array = Float32Array.from([
  -1.0,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0.0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1.0,
]);

/**
 * bitsandbytes' FP4 (e2m1, bias 2) levels in bit-pattern order, normalized by 12 in f32.
 *
 * @example
 * ```ts
 * import { FP4_LEVELS } from "./normal_float.ts";
 * if (FP4_LEVELS[3] !== 1 || FP4_LEVELS[11] !== -1 || FP4_LEVELS[6] !== Math.fround(2 / 12)) {
 *   throw new Error();
 * }
 * ```
 */
export const FP4_LEVELS: Float32Array = Float32Array.from(
  [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) =>
    Math.fround(v / 12)
  ),
);

// ---------------------------------------------------------------------------------------------
// AbnormalFloat levels
// ---------------------------------------------------------------------------------------------

/** erfc with < 1.2e-7 relative error everywhere (Numerical Recipes' Chebyshev fit). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 +
      t * (1.00002368 +
          t * (0.37409196 +
              t * (0.09678418 +
                  t * (-0.18628806 +
                      t * (0.27886807 +
                          t *
                            (-1.13520398 +
                              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

interface Density {
  /** Grid on [0, 1]. */
  y: Float64Array;
  /** Cumulative mass from 0 (piecewise-linear density). */
  cdf: Float64Array;
  /** Cumulative first moment from 0. */
  m1: Float64Array;
}

const densityCache = new Map<string, Density>();

/**
 * The density of |x|/max|x| for the non-max members of a Gaussian block of size B, on [0, 1],
 * weighted by max^k (k = 1 for the L1 error, 2 for the squared error, in the weights' own scale).
 */
function absmaxDensity(B: number, k: number): Density {
  const key = `${B}/${k}`;
  const hit = densityCache.get(key);
  if (hit) return hit;
  const NY = 4096;
  const NM = 4000;
  const mMax = Math.max(8, Math.sqrt(2 * Math.log(B)) + 6);
  const h = mMax / NM;
  const wm = new Float64Array(NM + 1);
  const m2 = new Float64Array(NM + 1);
  for (let j = 0; j <= NM; j++) {
    const m = j * h;
    const e = 1 - erfc(m / Math.SQRT2);
    const pw = B > 2 ? (e > 0 ? Math.exp((B - 2) * Math.log(e)) : 0) : 1;
    const simpson = j === 0 || j === NM ? 1 : j % 2 === 1 ? 4 : 2;
    wm[j] = simpson * m ** (1 + k) * Math.exp(-0.5 * m * m) * pw;
    m2[j] = -0.5 * m * m;
  }
  const y = new Float64Array(NY + 1);
  const f = new Float64Array(NY + 1);
  for (let k = 0; k <= NY; k++) {
    const yk = k / NY;
    y[k] = yk;
    const y2 = yk * yk;
    let s = 0;
    for (let j = 0; j <= NM; j++) s += wm[j]! * Math.exp(m2[j]! * y2);
    f[k] = s;
  }
  const cdf = new Float64Array(NY + 1);
  const m1 = new Float64Array(NY + 1);
  for (let k = 1; k <= NY; k++) {
    const a = y[k - 1]!;
    const b = y[k]!;
    const fa = f[k - 1]!;
    const fb = f[k]!;
    const dy = b - a;
    cdf[k] = cdf[k - 1]! + 0.5 * (fa + fb) * dy;
    // ∫ y·f over the interval with f linear: dy·(a·(2fa + fb) + b·(fa + 2fb))/6
    m1[k] = m1[k - 1]! + dy * (a * (2 * fa + fb) + b * (fa + 2 * fb)) / 6;
  }
  const total = cdf[NY]!;
  for (let k = 0; k <= NY; k++) {
    cdf[k] = cdf[k]! / total;
    m1[k] = m1[k]! / total;
  }
  const d = { y, cdf, m1 };
  densityCache.set(key, d);
  return d;
}

/** Linear interpolation of a cumulative array at t ∈ [0, 1]. */
function interp(d: Density, arr: Float64Array, t: number): number {
  const n = d.y.length - 1;
  const x = Math.min(Math.max(t, 0), 1) * n;
  const k = Math.min(n - 1, Math.floor(x));
  const fr = x - k;
  return arr[k]! + (arr[k + 1]! - arr[k]!) * fr;
}

/** t with cdf(t) = c (inverse of the interpolated cdf). */
function invCdf(d: Density, c: number): number {
  const { cdf } = d;
  const n = cdf.length - 1;
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < c) lo = mid;
    else hi = mid;
  }
  const span = cdf[hi]! - cdf[lo]!;
  const fr = span > 0 ? (c - cdf[lo]!) / span : 0;
  return (lo + fr) / n;
}

/**
 * `free` optimal levels in (0, 1) between the fixed levels 0 and 1. With `zeroIsEdge` (the paper's
 * construction) the first cell starts at 0 itself instead of at the midpoint with level 0.
 */
function halfLevels(
  d: Density,
  free: number,
  criterion: "l1" | "mse",
  zeroIsEdge: boolean,
): number[] {
  if (free === 0) return [];
  // Start from equal-mass quantiles.
  let lv = Array.from({ length: free }, (_, i) => invCdf(d, (i + 1) / (free + 1)));
  for (let it = 0; it < 20000; it++) {
    const all = [zeroIsEdge ? -lv[0]! : 0, ...lv, 1];
    let change = 0;
    const next = lv.map((_, i) => {
      const a = (all[i]! + all[i + 1]!) / 2;
      const b = (all[i + 1]! + all[i + 2]!) / 2;
      const ca = interp(d, d.cdf, a);
      const cb = interp(d, d.cdf, b);
      const v = criterion === "l1"
        ? invCdf(d, (ca + cb) / 2)
        : (interp(d, d.m1, b) - interp(d, d.m1, a)) / (cb - ca);
      change = Math.max(change, Math.abs(v - lv[i]!));
      return v;
    });
    lv = next;
    if (change < 1e-12) break;
  }
  return lv;
}

const afCache = new Map<string, Float32Array>();

/**
 * How AbnormalFloat levels are optimised: "paper" = Yoshida's construction (L1, each level the
 * median of its cell, with the cells of each sign ending at 0), "l1" / "mse" = the true
 * nearest-level optimum of the L1 / squared reconstruction error in the weights' own scale.
 */
export type AfCriterion = "paper" | "l1" | "mse";

/** Valid AbnormalFloat criteria. */
export const AF_CRITERIA: readonly AfCriterion[] = ["paper", "l1", "mse"];

/**
 * AbnormalFloat levels for absmax blocks of `blockSize` Gaussians: 2^bits values in ascending
 * (code) order with −1, 0 and 1 included. Computed once per (blockSize, bits, criterion), cached.
 *
 * @example
 * ```ts
 * import { abnormalFloatLevels } from "./normal_float.ts";
 * const af = abnormalFloatLevels(64);
 * // bitsandbytes' AF4-64 table has 0.72424863 as its largest level below 1:
 * if (af.length !== 16 || Math.abs(af[14]! - 0.72424863) > 2e-3) throw new Error();
 * ```
 */
export function abnormalFloatLevels(
  blockSize: number,
  bits = 4,
  criterion: AfCriterion = "paper",
): Float32Array {
  if (!Number.isInteger(blockSize) || blockSize < 2) {
    throw new QuantlabError(
      "bad-argument",
      `AbnormalFloat block size ${blockSize} is not valid; use an integer ≥ 2 (the group size)`,
    );
  }
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) {
    throw new QuantlabError("bad-argument", `AbnormalFloat bits ${bits} is not valid; use 2 to 8`);
  }
  if (!AF_CRITERIA.includes(criterion)) {
    throw new QuantlabError(
      "bad-argument",
      `AbnormalFloat criterion "${criterion}" is not valid; use ${AF_CRITERIA.join(", ")}`,
    );
  }
  const key = `${blockSize}/${bits}/${criterion}`;
  const hit = afCache.get(key);
  if (hit) return hit;
  const d = absmaxDensity(blockSize, criterion === "mse" ? 2 : criterion === "l1" ? 1 : 0);
  const half = 2 ** (bits - 1);
  const crit = criterion === "mse" ? "mse" : "l1";
  const edge = criterion === "paper";
  const neg = halfLevels(d, half - 2, crit, edge).map((v) => -v).reverse();
  const pos = halfLevels(d, half - 1, crit, edge);
  const out = Float32Array.from([-1, ...neg, 0, ...pos, 1]);
  afCache.set(key, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quantizers
// ---------------------------------------------------------------------------------------------

/** The three float-table types. */
export type NormalFloatType = "nf4" | "af4" | "fp4";

/** Configuration of NF4 / AF4 / FP4 quantization. */
export interface NormalFloatConfig {
  /** Table type. */
  type: NormalFloatType;
  /** Bits (4; AF accepts 2–8). */
  bits: number;
  /** Weights per absmax group; null = per channel. */
  groupSize: number | null;
  /** Group axis (format convention). */
  axis: 0 | 1;
  /** bitsandbytes double quantization of the absmax values. */
  doubleQuant: boolean;
  /** Double-quantization block (bitsandbytes: 256). */
  doubleQuantGroup: number;
  /** Stored precision of the absmax (ignored with double quantization). */
  scaleDtype: "F16" | "F32";
  /** AF: the optimality criterion of the levels. */
  criterion: AfCriterion;
}

/**
 * A full configuration (defaults: group 64, axis 1, f16 absmax, no double quantization).
 *
 * @example
 * ```ts
 * import { normalFloatConfig } from "./normal_float.ts";
 * const c = normalFloatConfig("nf4", { doubleQuant: true });
 * if (c.groupSize !== 64 || c.doubleQuantGroup !== 256) throw new Error();
 * ```
 */
export function normalFloatConfig(
  type: NormalFloatType,
  opts: Partial<Omit<NormalFloatConfig, "type">> = {},
): NormalFloatConfig {
  const c: NormalFloatConfig = {
    type,
    bits: 4,
    groupSize: 64,
    axis: 1,
    doubleQuant: false,
    doubleQuantGroup: 256,
    scaleDtype: "F16",
    criterion: "paper",
    ...stripUndefined(opts),
  };
  if (!["nf4", "af4", "fp4"].includes(type)) {
    throw new QuantlabError(
      "bad-argument",
      `Table type "${type}" is not valid; use nf4, af4 or fp4`,
    );
  }
  if (type !== "af4" && c.bits !== 4) {
    throw new QuantlabError(
      "bad-argument",
      `${type.toUpperCase()} has 4 bits, not ${c.bits}; use af4 for 2 to 8 bits`,
    );
  }
  if (c.scaleDtype !== "F16" && c.scaleDtype !== "F32") {
    throw new QuantlabError(
      "bad-argument",
      `Scale dtype ${c.scaleDtype} is not valid; use F16 or F32`,
    );
  }
  if (!Number.isInteger(c.doubleQuantGroup) || c.doubleQuantGroup < 1) {
    throw new QuantlabError(
      "bad-argument",
      `Double-quantization block ${c.doubleQuantGroup} is not valid; use a positive integer (256)`,
    );
  }
  return c;
}

/** The levels (code order) of a configuration for groups of `g`. */
export function normalFloatLevels(c: NormalFloatConfig, g: number): Float32Array {
  if (c.type === "nf4") return NF4_LEVELS;
  if (c.type === "fp4") return FP4_LEVELS;
  return abnormalFloatLevels(g, c.bits, c.criterion);
}

function makeParams(
  c: NormalFloatConfig,
  mode: ReturnType<typeof tableMode>,
  name: string,
  box: { meta?: MetaQuantized },
): (stats: Float32Array) => GroupParams {
  return (stats) => {
    if (!c.doubleQuant) return groupParams(stats, mode, c.scaleDtype, name);
    const p = groupParams(stats, mode, "F32", name);
    const mq = metaQuantizeDynamic(p.scales, c.doubleQuantGroup);
    box.meta = mq;
    return { scales: mq.decoded, enc: p.enc };
  };
}

function nfTensor(
  c: NormalFloatConfig,
  rows: number,
  cols: number,
  g: number,
  codes: Uint32Array,
  p: GroupParams,
  meta: MetaQuantized | undefined,
): QuantizedTensor {
  return {
    method: c.type,
    shape: [rows, cols],
    paddedCols: cols,
    p: 1,
    codeBits: c.bits,
    codes,
    table: normalFloatLevels(c, g).slice(),
    tableDtype: "F32",
    groupSize: g,
    groupAxis: c.axis,
    scales: p.scales,
    scaleStorage: meta ? meta.storage : { kind: "float", dtype: c.scaleDtype },
    rotation: { kind: "none" },
    params: {
      type: c.type,
      bits: c.bits,
      groupSize: c.groupSize,
      axis: c.axis,
      doubleQuant: c.doubleQuant,
      scaleDtype: meta ? "F32" : c.scaleDtype,
      ...(meta
        ? { nestedMap: "dynamic", nestedOffset: meta.offset, nestedGroup: c.doubleQuantGroup }
        : {}),
      ...(c.type === "af4" ? { criterion: c.criterion, blockSize: g } : {}),
    },
  };
}

/**
 * The specification: plain loops over groups and rows, no pool.
 *
 * @example
 * ```ts
 * import { normalFloatConfig, normalFloatReference } from "./normal_float.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = new Float32Array([-2, 0, 1, 2]);
 * const q = normalFloatReference(w, 1, 4, normalFloatConfig("nf4", { groupSize: 4 }));
 * const d = decodeRotated(q);
 * if (d[0] !== -2 || d[1] !== 0 || d[3] !== 2) throw new Error();
 * ```
 */
export function normalFloatReference(
  w: Float32Array,
  rows: number,
  cols: number,
  c: NormalFloatConfig,
  name = "tensor",
): QuantizedTensor {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const mode = tableMode(normalFloatLevels(c, L.g), c.bits);
  const stats = new Float32Array(3 * L.count);
  groupStatsChunk(w, L, mode, stats, 0, L.count);
  const box: { meta?: MetaQuantized } = {};
  const p = makeParams(c, mode, name, box)(stats);
  const stride = rowStrideWords(cols, c.bits);
  const codes = new Uint32Array(rows * stride);
  encodeRowsChunk(w, L, mode, p.enc, codes, stride, 0, rows);
  return nfTensor(c, rows, cols, L.g, codes, p, box.meta);
}

/**
 * NF4 / AF4 / FP4 quantization on the CPU pool or WebGPU.
 *
 * @example
 * ```ts
 * import { normalFloatConfig, normalFloatQuantize } from "./normal_float.ts";
 * const w = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
 * const q = await normalFloatQuantize(w, 2, 128, normalFloatConfig("fp4"));
 * if (q.method !== "fp4" || q.scales.length !== 4) throw new Error();
 * ```
 */
export async function normalFloatQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  c: NormalFloatConfig,
  backend: Backend = { kind: "cpu" },
  name = "tensor",
): Promise<QuantizedTensor> {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const mode = tableMode(normalFloatLevels(c, L.g), c.bits);
  const box: { meta?: MetaQuantized } = {};
  const e = await encodeGroups(
    w,
    L,
    mode,
    c.scaleDtype,
    backend,
    name,
    makeParams(c, mode, name, box),
  );
  return nfTensor(c, rows, cols, L.g, e.codes, e.params, box.meta);
}

function configFromOptions(type: NormalFloatType, opts: QuantOptions): NormalFloatConfig {
  const x = readExtra(type, opts.extra, {
    doubleQuant: "boolean",
    doubleQuantGroup: "number",
    ...(type === "af4" ? { criterion: "string" as const } : {}),
  });
  return normalFloatConfig(type, {
    bits: opts.bits,
    groupSize: opts.groupSize,
    axis: opts.axis,
    scaleDtype: opts.scaleDtype,
    doubleQuant: x.doubleQuant as boolean | undefined,
    doubleQuantGroup: x.doubleQuantGroup as number | undefined,
    criterion: x.criterion as AfCriterion | undefined,
  });
}

function makeQuantizer(type: NormalFloatType, summary: string): Quantizer {
  return {
    method: type,
    summary,
    settings: (opts) => ({ ...configFromOptions(type, opts) }),
    checkShape(rows, cols, opts, name) {
      const c = configFromOptions(type, opts);
      normalFloatLevels(c, groupLayout(rows, cols, c.groupSize, c.axis, name).g);
    },
    layout(rows, cols, opts, name) {
      const c = configFromOptions(type, opts);
      const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
      normalFloatLevels(c, L.g);
      return {
        shape: [rows, cols],
        paddedCols: cols,
        p: 1,
        codeBits: c.bits,
        tableDtype: "F32",
        groupSize: L.g,
        groupAxis: L.axis,
        // Double quantization: bitsandbytes' dynamic 8-bit map, no meta zero.
        scaleStorage: c.doubleQuant
          ? { kind: "int8", group: c.doubleQuantGroup, metaZero: false }
          : { kind: "float", dtype: c.scaleDtype },
      };
    },
    async quantize(w, rows, cols, opts, backend, name) {
      return await normalFloatQuantize(w, rows, cols, configFromOptions(type, opts), backend, name);
    },
  };
}

/**
 * NF4 with absmax per group (`extra`: `doubleQuant`, `doubleQuantGroup`).
 *
 * @example
 * ```ts
 * import { nf4Quantizer } from "./normal_float.ts";
 * const q = await nf4Quantizer.quantize(new Float32Array(64).fill(1), 1, 64, {});
 * if (q.method !== "nf4" || q.scales[0] !== 1) throw new Error();
 * ```
 */
export const nf4Quantizer: Quantizer = makeQuantizer(
  "nf4",
  "NF4 (bitsandbytes NormalFloat levels), absmax per group, optional double quantization",
);

/**
 * AbnormalFloat: levels computed for the group size (`extra`: `criterion` l1|mse, `doubleQuant`,
 * `doubleQuantGroup`; `bits` 2–8).
 *
 * @example
 * ```ts
 * import { af4Quantizer } from "./normal_float.ts";
 * const q = await af4Quantizer.quantize(new Float32Array(64).fill(1), 1, 64, {});
 * if (q.method !== "af4" || q.table.length !== 16) throw new Error();
 * ```
 */
export const af4Quantizer: Quantizer = makeQuantizer(
  "af4",
  "AbnormalFloat: levels optimal for the absmax-normalized Gaussian of the group size",
);

/**
 * FP4 (bitsandbytes e2m1 levels) with absmax per group (`extra`: `doubleQuant`,
 * `doubleQuantGroup`).
 *
 * @example
 * ```ts
 * import { fp4Quantizer } from "./normal_float.ts";
 * const q = await fp4Quantizer.quantize(new Float32Array(64).fill(-2), 1, 64, {});
 * if (q.method !== "fp4" || q.scales[0] !== 2) throw new Error();
 * ```
 */
export const fp4Quantizer: Quantizer = makeQuantizer(
  "fp4",
  "FP4 (bitsandbytes e2m1 levels), absmax per group, optional double quantization",
);
