// This module is browser compatible.
/**
 * 8-bit meta-quantization of per-group parameters (scales, zeros), shared by HQQ's
 * `quant_scale`/`quant_zero` and bitsandbytes' double quantization (`compress_statistics`).
 *
 * Two maps, each as its reference library does it:
 *
 * - **affine** (HQQ `Quantizer.quantize(nbits=8, optimize=False, round_zero=False)`): per meta group
 *   min/max, inverse scale s' = 255/(max − min) (s' = 1 where |max − min| ≤ 1e-4, clamped to
 *   ≤ 2e4), zero z = −min·s' (not rounded), codes q = clamp(round(v·s' + z), 0, 255), stored scale
 *   1/s'. HQQLinear then casts the meta scale and zero to the compute dtype (f16) and dequantizes in
 *   f16 arithmetic: v̂ = f16(f16(q − z)·s). With dtype `F32` both stay f32 and so does the math.
 * - **dynamic** (bitsandbytes `quantize_blockwise` with `create_dynamic_map(signed=True)`):
 *   subtract the mean of all values (the "nested offset", one f32 per tensor), then per block the
 *   absmax a (f32), codes = nearest entry of the 256-entry dynamic map to clamp(v·(1/a), −1, 1)
 *   (ties to the lower entry, like `torch.bucketize`), decoded v̂ = map[q]·a + offset in f32.
 *
 * Layout: meta group m holds parameters [m·group, min((m+1)·group, count)) — contiguous, the last
 * group may be shorter. This is bitsandbytes' layout. HQQ reshapes the flattened parameter vector
 * to [group, −1] and reduces along axis 0 (groups strided by count/group); the shared format's
 * `ParamStorage` describes contiguous groups, so HQQ meta groups here are contiguous (same bits,
 * statistically the same on i.i.d. data; it also accepts counts that 128 does not divide).
 *
 * Storage (`ParamStorage` kind "int8"): `codes` one byte per parameter, `metaScale` one value per
 * meta group (affine: the f16- or f32-rounded scale; dynamic: the f32 absmax), `metaZero` (affine
 * only) the rounded zero in code units. The dynamic map's offset is one number per tensor, kept
 * beside the storage (bitsandbytes keeps it as `nested_offset` in its JSON state as well).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../core/dtype.ts";
import type { ParamStorage } from "./format.ts";

/** The two 8-bit maps. */
export type MetaMap = "affine" | "dynamic";

/** Int8 parameter storage (the `int8` member of {@linkcode ParamStorage}). */
export type Int8Storage = Extract<ParamStorage, { kind: "int8" }>;

/** A meta-quantized parameter vector. */
export interface MetaQuantized {
  /** What a checkpoint stores. */
  storage: Int8Storage;
  /** The decoded values (exactly what {@linkcode metaDequantize} returns). */
  decoded: Float32Array;
  /** The map used. */
  map: MetaMap;
  /** Dynamic map: the subtracted mean (f32); 0 for affine. */
  offset: number;
  /** Affine: precision of the meta scale/zero and of the decoding arithmetic. */
  dtype: "F16" | "F32";
}

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds x half-to-even

/** torch.round on an f32 value: round half to even. */
function rne(x: number): number {
  return (x + MAGIC) - MAGIC;
}

/** Rounds to f16 and back (exact f32 value of the nearest f16). */
export function f16Round(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

function checkGroup(count: number, group: number): void {
  if (!Number.isInteger(group) || group < 1) {
    throw new QuantlabError(
      "bad-argument",
      `Meta group size ${group} is not valid; use a positive integer (e.g. 128 or 256)`,
    );
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new QuantlabError("bad-argument", `Parameter count ${count} is not valid`);
  }
}

let dynamicCache: Float32Array | undefined;

/** torch.linspace(start, end, steps, dtype=float32), to within an f32 ulp. */
function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (steps - 1);
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < half ? start + i * step : end - (steps - 1 - i) * step;
  }
  return out;
}

/**
 * bitsandbytes' signed dynamic 8-bit map (`create_dynamic_map(signed=True, max_exponent_bits=7,
 * total_bits=8)`): 256 sorted f32 values in [−1, 1] with 0 and 1 included, dense near zero.
 * Cached; do not modify the returned array.
 *
 * @example
 * ```ts
 * import { dynamicMap } from "./meta_quant.ts";
 * const m = dynamicMap();
 * if (m.length !== 256 || m[255] !== 1 || !m.includes(0)) throw new Error();
 * ```
 */
export function dynamicMap(): Float32Array {
  if (dynamicCache) return dynamicCache;
  const data: number[] = [];
  const maxExp = 7;
  for (let i = 0; i < maxExp; i++) {
    const items = 2 ** i + 1; // signed: 2^(i + non_sign_bits − max_exponent_bits) + 1
    const b = linspaceF32(0.1, 1, items);
    const p = Math.fround(10 ** (-(maxExp - 1) + i));
    for (let k = 0; k + 1 < items; k++) {
      const mean = Math.fround(Math.fround(b[k]! + b[k + 1]!) / 2);
      data.push(Math.fround(p * mean));
      data.push(-Math.fround(p * mean));
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  dynamicCache = Float32Array.from(data);
  return dynamicCache;
}

let dynamicBounds: Float32Array | undefined;
function dynamicMidpoints(): Float32Array {
  if (dynamicBounds) return dynamicBounds;
  const m = dynamicMap();
  const b = new Float32Array(m.length - 1);
  for (let i = 0; i < b.length; i++) b[i] = Math.fround(Math.fround(m[i]! + m[i + 1]!) / 2);
  dynamicBounds = b;
  return b;
}

/** Index of the first bound ≥ y (torch.bucketize, right=False): ties go to the lower entry. */
function bucketize(bounds: Float32Array, y: number): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bounds[mid]! < y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * HQQ's 8-bit affine meta-quantization of `values` in contiguous groups of `group` (use
 * `group = values.length` for HQQ's per-tensor `channel_wise=False` zero quantization).
 *
 * @example
 * ```ts
 * import { metaQuantizeAffine } from "./meta_quant.ts";
 * const v = Float32Array.from({ length: 256 }, (_, i) => 0.01 + i * 1e-5);
 * const m = metaQuantizeAffine(v, 128, "F16");
 * if (m.storage.metaScale.length !== 2 || Math.abs(m.decoded[7]! - v[7]!) > 1e-4) throw new Error();
 * ```
 */
export function metaQuantizeAffine(
  values: Float32Array,
  group: number,
  dtype: "F16" | "F32" = "F16",
): MetaQuantized {
  const n = values.length;
  checkGroup(n, group);
  const groups = Math.ceil(n / group);
  const codes = new Uint8Array(n);
  const metaScale = new Float32Array(groups);
  const metaZero = new Float32Array(groups);
  const fr = Math.fround;
  const small = fr(1e-4);
  for (let m = 0; m < groups; m++) {
    const a = m * group;
    const b = Math.min(n, a + group);
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = a; i < b; i++) {
      const v = values[i]!;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const denom = fr(mx - mn);
    let s = Math.abs(denom) <= small ? 1 : fr(255 / denom);
    if (s > 2e4) s = 2e4;
    const z = fr(-mn * s);
    for (let i = a; i < b; i++) {
      let q = rne(fr(fr(values[i]! * s) + z));
      q = q < 0 ? 0 : q > 255 ? 255 : q;
      codes[i] = q;
    }
    const scale = fr(1 / s);
    metaScale[m] = dtype === "F16" ? f16Round(scale) : scale;
    metaZero[m] = dtype === "F16" ? f16Round(z) : z;
  }
  const storage: Int8Storage = { kind: "int8", group, codes, metaScale, metaZero };
  return {
    storage,
    decoded: metaDequantize(storage, n, "affine", { dtype }),
    map: "affine",
    offset: 0,
    dtype,
  };
}

/**
 * bitsandbytes' double quantization of `values` (absmax statistics): subtract the mean, then
 * blockwise (`group`, 256 in bitsandbytes) dynamic 8-bit quantization with f32 block absmax.
 *
 * @example
 * ```ts
 * import { metaQuantizeDynamic } from "./meta_quant.ts";
 * const v = Float32Array.from({ length: 1000 }, (_, i) => 2 + Math.sin(i));
 * const m = metaQuantizeDynamic(v, 256);
 * if (m.storage.metaScale.length !== 4 || Math.abs(m.decoded[3]! - v[3]!) > 0.01) throw new Error();
 * ```
 */
export function metaQuantizeDynamic(values: Float32Array, group = 256): MetaQuantized {
  const n = values.length;
  checkGroup(n, group);
  const fr = Math.fround;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const offset = n > 0 ? fr(sum / n) : 0;
  const groups = Math.ceil(n / group);
  const codes = new Uint8Array(n);
  const metaScale = new Float32Array(groups);
  const bounds = dynamicMidpoints();
  const tiny = fr(1e-38);
  for (let m = 0; m < groups; m++) {
    const a = m * group;
    const b = Math.min(n, a + group);
    let am = 0;
    for (let i = a; i < b; i++) {
      const v = Math.abs(fr(values[i]! - offset));
      if (v > am) am = v;
    }
    metaScale[m] = am;
    const inv = fr(1 / (am < tiny ? tiny : am));
    for (let i = a; i < b; i++) {
      let y = fr(fr(values[i]! - offset) * inv);
      y = y < -1 ? -1 : y > 1 ? 1 : y;
      codes[i] = bucketize(bounds, y);
    }
  }
  const storage: Int8Storage = { kind: "int8", group, codes, metaScale };
  return {
    storage,
    decoded: metaDequantize(storage, n, "dynamic", { offset }),
    map: "dynamic",
    offset,
    dtype: "F32",
  };
}

/**
 * Decodes int8 parameter storage: affine v̂ = (q − zero)·scale (in f16 arithmetic when `dtype` is
 * F16, as HQQ's f16 compute dtype does), dynamic v̂ = map[q]·absmax + offset (f32).
 *
 * @example
 * ```ts
 * import { metaDequantize } from "./meta_quant.ts";
 * const v = metaDequantize(
 *   { kind: "int8", group: 2, codes: new Uint8Array([0, 255]), metaScale: new Float32Array([0.5]),
 *     metaZero: new Float32Array([1]) },
 *   2, "affine", { dtype: "F32" },
 * );
 * if (v[0] !== -0.5 || v[1] !== 127) throw new Error();
 * ```
 */
export function metaDequantize(
  storage: Int8Storage,
  count: number,
  map: MetaMap,
  opts: { dtype?: "F16" | "F32"; offset?: number } = {},
): Float32Array {
  const { group, codes, metaScale, metaZero } = storage;
  checkGroup(count, group);
  const groups = Math.ceil(count / group);
  if (codes.length !== count || metaScale.length !== groups) {
    throw new QuantlabError(
      "bad-file",
      `Int8 parameter storage holds ${codes.length} codes and ${metaScale.length} meta scales; ` +
        `${count} parameters in groups of ${group} need ${count} and ${groups}`,
    );
  }
  const out = new Float32Array(count);
  const fr = Math.fround;
  if (map === "affine") {
    if (!metaZero || metaZero.length !== groups) {
      throw new QuantlabError(
        "bad-file",
        `Affine int8 parameter storage needs ${groups} meta zeros; it holds ${
          metaZero?.length ?? 0
        }`,
      );
    }
    const half = (opts.dtype ?? "F16") === "F16";
    for (let i = 0; i < count; i++) {
      const m = Math.floor(i / group);
      const s = metaScale[m]!;
      const z = metaZero[m]!;
      out[i] = half ? f16Round(f16Round(codes[i]! - z) * s) : fr(fr(codes[i]! - z) * s);
    }
  } else {
    const table = dynamicMap();
    const off = fr(opts.offset ?? 0);
    for (let i = 0; i < count; i++) {
      const a = metaScale[Math.floor(i / group)]!;
      out[i] = fr(fr(table[codes[i]!]! * a) + off);
    }
  }
  return out;
}

/**
 * Bits per parameter of a meta-quantized vector as its reference stores it: 8-bit codes plus the
 * meta scale (and zero) per meta group at `metaBits` (16 for HQQ's f16, 32 for bitsandbytes'
 * f32 absmax) plus the per-tensor offset (32 bits, dynamic map only). The shared format's
 * `bitsPerWeight` counts meta values at 32 bits each and no offset.
 *
 * @example
 * ```ts
 * import { metaBitsPerParam } from "./meta_quant.ts";
 * // bitsandbytes double quant of 4096 absmax values in blocks of 256:
 * if (metaBitsPerParam(4096, 256, "dynamic") !== 8 + 32 / 256 + 32 / 4096) throw new Error();
 * ```
 */
export function metaBitsPerParam(
  count: number,
  group: number,
  map: MetaMap,
  metaBits = map === "affine" ? 16 : 32,
): number {
  checkGroup(count, group);
  const groups = Math.ceil(count / group);
  const bits = count * 8 + groups * metaBits * (map === "affine" ? 2 : 1) +
    (map === "dynamic" ? 32 : 0);
  return count > 0 ? bits / count : 0;
}
