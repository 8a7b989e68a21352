// This module is browser compatible.
/**
 * Conversions between f32 and the 16-bit float formats (IEEE binary16 "f16" and bfloat16 "bf16"),
 * and between tensors of any dtype and f32.
 *
 * Rounding is IEEE round-to-nearest, ties-to-even, on the bits: f16 and bf16 subnormals are
 * produced and read exactly, values from 65520 up round to f16 ±Infinity (65504 is the largest
 * finite f16; 65520 is the halfway point to 2^16, whose even neighbour is Infinity) and values
 * that round past the largest finite bf16 become ±Infinity. Signs are kept, including −0.
 *
 * NaN rule (both formats): the sign and the top mantissa bits of the NaN are kept (payload
 * truncated to 10 bits for f16, 7 bits for bf16); if the kept mantissa bits are all zero the
 * quiet bit is set, so a NaN never becomes Infinity. Widening keeps every bit, so
 * f16 → f32 → f16 and bf16 → f32 → bf16 are the identity on all 65536 patterns for the array
 * functions ({@linkcode toF16}/{@linkcode fromF16}, {@linkcode toBf16}/{@linkcode fromBf16}).
 * The scalar functions pass values as JS numbers, and JS engines may quiet a signalling NaN (set
 * its quiet bit) when a float is read into a number: through the scalar functions a NaN stays a
 * NaN with its sign, but a signalling NaN may come back quiet.
 *
 * @module
 */
import { QuantlabError } from "./errors.ts";
import { type DType, type DTypeArrays, Tensor } from "./tensor.ts";

// One buffer viewed as f32 and u32 for scalar bit access.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** f32 bit pattern → f16 bit pattern, round to nearest even (see the module doc for NaN). */
function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs >= 0x38800000 && abs < 0x477ff000) {
    // Normal f16 (2^-14 ≤ |x| < 65520): rebias the exponent by 127 − 15 = 112 and drop 13
    // mantissa bits; adding 0xfff plus the lowest kept bit rounds ties to even, and a carry
    // ripples correctly into the exponent (65504 < |x| < 65520 cannot carry past 0x7bff).
    return sign | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  return sign | f32AbsBitsToF16Rare(abs);
}

/** The rare cases of {@linkcode f32BitsToF16} for |x| bits `abs`: overflow, Inf/NaN, subnormal. */
function f32AbsBitsToF16Rare(abs: number): number {
  if (abs >= 0x477ff000) {
    // ≥ 65520 rounds to Infinity; above 0x7f800000 is NaN: keep the top payload bits.
    if (abs > 0x7f800000) {
      const m = (abs >>> 13) & 0x3ff;
      return 0x7c00 | (m === 0 ? 0x200 : m);
    }
    return 0x7c00;
  }
  if (abs <= 0x33000000) return 0; // ≤ 2^-25 (half the smallest subnormal) rounds to ±0.
  // Subnormal f16: value = mant24 · 2^(e − 150) = h · 2^-24, so h = mant24 >> (126 − e).
  const e = abs >>> 23;
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14 … 24
  const h = mant >>> shift;
  const rest = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return h + (rest > half || (rest === half && (h & 1) !== 0) ? 1 : 0);
}

/** f16 bit pattern → f32 bit pattern (exact). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalise so the leading one becomes the implicit bit.
  let e = 113; // exponent of 2^-14, biased for f32
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** f32 bit pattern → bf16 bit pattern, round to nearest even. */
function f32BitsToBf16(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) {
    const h = b >>> 16;
    return (h & 0x7f) === 0 ? h | 0x40 : h;
  }
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry may ripple into the
  // exponent (correct: the next binade or Infinity). The sum stays below 2^32 for non-NaN input.
  return ((b >>> 0) + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

let f16Table: Uint32Array | undefined;
/** The 65536-entry f16 → f32 bit table, built on first use (256 KiB). */
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/**
 * Rounds `x` (first rounded to f32, as storing it in a `Float32Array` would) to the nearest f16
 * and returns its 16-bit pattern.
 *
 * @example
 * ```ts
 * import { f32ToF16Bits } from "./dtype.ts";
 * if (f32ToF16Bits(1) !== 0x3c00 || f32ToF16Bits(65520) !== 0x7c00) throw new Error("unexpected");
 * ```
 */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16(scratchU32[0]!);
}

/**
 * The value of the f16 bit pattern `h` (exact; only the low 16 bits of `h` are used).
 *
 * @example
 * ```ts
 * import { f16BitsToF32 } from "./dtype.ts";
 * if (f16BitsToF32(0x3c00) !== 1 || f16BitsToF32(0x0001) !== 2 ** -24) throw new Error("unexpected");
 * ```
 */
export function f16BitsToF32(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h & 0xffff);
  return scratchF32[0]!;
}

/**
 * Rounds `x` (first rounded to f32) to the nearest bf16 and returns its 16-bit pattern.
 *
 * @example
 * ```ts
 * import { f32ToBf16Bits } from "./dtype.ts";
 * if (f32ToBf16Bits(1) !== 0x3f80 || f32ToBf16Bits(-2) !== 0xc000) throw new Error("unexpected");
 * ```
 */
export function f32ToBf16Bits(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16(scratchU32[0]!);
}

/**
 * The value of the bf16 bit pattern `h` (exact: the f32 with `h` as its high 16 bits).
 *
 * @example
 * ```ts
 * import { bf16BitsToF32 } from "./dtype.ts";
 * if (bf16BitsToF32(0x3f80) !== 1 || bf16BitsToF32(0x4049) !== 3.140625) throw new Error("unexpected");
 * ```
 */
export function bf16BitsToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0]!;
}

/** A u32 view of the bits of `x`. */
function bitsOf(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

/**
 * Rounds every element to f16 (round to nearest even) and returns the bit patterns.
 *
 * @example
 * ```ts
 * import { toF16 } from "./dtype.ts";
 * const h = toF16(new Float32Array([1, -0, 65504, 1e6]));
 * if (h.join() !== [0x3c00, 0x8000, 0x7bff, 0x7c00].join()) throw new Error("unexpected");
 * ```
 */
export function toF16(x: Float32Array): Uint16Array {
  const src = bitsOf(x);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(src[i]!);
  return out;
}

/**
 * Widens f16 bit patterns to f32 (exact, NaN payloads kept).
 *
 * @example
 * ```ts
 * import { fromF16 } from "./dtype.ts";
 * const x = fromF16(new Uint16Array([0x3c00, 0xc000, 0x7c00]));
 * if (x.join() !== "1,-2,Infinity") throw new Error("unexpected");
 * ```
 */
export function fromF16(h: Uint16Array): Float32Array {
  const table = f16ToF32Table();
  const out = new Float32Array(h.length);
  const bits = bitsOf(out);
  for (let i = 0; i < h.length; i++) bits[i] = table[h[i]!]!;
  return out;
}

/**
 * Rounds every element to bf16 (round to nearest even) and returns the bit patterns.
 *
 * @example
 * ```ts
 * import { toBf16 } from "./dtype.ts";
 * if (toBf16(new Float32Array([1, 3.14159])).join() !== [0x3f80, 0x4049].join()) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function toBf16(x: Float32Array): Uint16Array {
  const src = bitsOf(x);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16(src[i]!);
  return out;
}

/**
 * Widens bf16 bit patterns to f32 (exact: a 16-bit shift).
 *
 * @example
 * ```ts
 * import { fromBf16 } from "./dtype.ts";
 * if (fromBf16(new Uint16Array([0x3f80, 0xbfc0])).join() !== "1,-1.5") throw new Error("unexpected");
 * ```
 */
export function fromBf16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  const bits = bitsOf(out);
  for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16;
  return out;
}

/**
 * The values of `x` rounded through f16 (the f32 nearest to what an f16 store keeps).
 *
 * @example
 * ```ts
 * import { roundToF16 } from "./dtype.ts";
 * const y = roundToF16(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11]));
 * if (y[0] !== 1 || y[1] !== 1 + 2 ** -9) throw new Error("unexpected");
 * ```
 */
export function roundToF16(x: Float32Array): Float32Array {
  const table = f16ToF32Table();
  const src = bitsOf(x);
  const out = new Float32Array(x.length);
  const bits = bitsOf(out);
  for (let i = 0; i < src.length; i++) bits[i] = table[f32BitsToF16(src[i]!)]!;
  return out;
}

/**
 * The tensor as f32: F16 and BF16 widen exactly, F64 and 64-bit integers round to nearest, other
 * integers and BOOL (0/1) convert exactly (integers beyond ±2^24 round to the nearest f32).
 * An F32 tensor is returned as is, not copied.
 *
 * @example
 * ```ts
 * import { tensorToF32 } from "./dtype.ts";
 * import { Tensor } from "./tensor.ts";
 * const t = tensorToF32(new Tensor([2], "BF16", new Uint16Array([0x3f80, 0x4000])));
 * if (t.dtype !== "F32" || t.data.join() !== "1,2") throw new Error("unexpected");
 * ```
 */
export function tensorToF32(t: Tensor): Tensor<"F32"> {
  const shape = t.shape;
  switch (t.dtype) {
    case "F32":
      return t as Tensor<"F32">;
    case "F16":
      return new Tensor(shape, "F32", fromF16(t.data as Uint16Array));
    case "BF16":
      return new Tensor(shape, "F32", fromBf16(t.data as Uint16Array));
    case "I64":
    case "U64": {
      const src = t.data as BigInt64Array | BigUint64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return new Tensor(shape, "F32", out);
    }
    default:
      // F64 and the ≤ 32-bit integers: the typed-array constructor converts (round to nearest).
      return new Tensor(shape, "F32", Float32Array.from(t.data as ArrayLike<number>));
  }
}

/** Integer ranges of the integer dtypes: [lowest, one past the highest] (BOOL holds 0 or 1). */
const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  I64: [-(2 ** 63), 2 ** 63],
  I32: [-(2 ** 31), 2 ** 31],
  I16: [-32768, 32768],
  I8: [-128, 128],
  U64: [0, 2 ** 64],
  U32: [0, 2 ** 32],
  U16: [0, 65536],
  U8: [0, 256],
  BOOL: [0, 2],
};

/**
 * Converts an f32 tensor to `dtype`. Floats round to nearest even (F16, BF16) or widen exactly
 * (F64; F32 returns `t` itself). Integer dtypes and BOOL need every value to be an integer in the
 * dtype's range (0 or 1 for BOOL); otherwise a `bad-value` error names the first offending index.
 *
 * @example
 * ```ts
 * import { tensorFromF32 } from "./dtype.ts";
 * import { Tensor } from "./tensor.ts";
 * const h = tensorFromF32(Tensor.f32([2], new Float32Array([1, 2])), "F16");
 * const q = tensorFromF32(Tensor.f32([2], new Float32Array([-3, 7])), "I8");
 * if (h.data.join() !== "15360,16384" || q.data.join() !== "-3,7") throw new Error("unexpected");
 * ```
 */
export function tensorFromF32<D extends DType>(t: Tensor<"F32">, dtype: D): Tensor<D> {
  const x = t.data;
  const shape = t.shape;
  const make = (data: DTypeArrays[DType]): Tensor<D> =>
    new Tensor(shape, dtype, data as DTypeArrays[D]);
  switch (dtype) {
    case "F32":
      return t as unknown as Tensor<D>;
    case "F64":
      return make(Float64Array.from(x));
    case "F16":
      return make(toF16(x));
    case "BF16":
      return make(toBf16(x));
  }
  const [lo, hi] = INT_RANGE[dtype]!;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!(Number.isInteger(v) && v >= lo && v < hi)) {
      const top = (BigInt(hi) - 1n).toString();
      throw new QuantlabError(
        "bad-value",
        `Cannot store ${v} (index ${i}) as ${dtype}; values must be integers from ${lo} to ${top}`,
      );
    }
  }
  switch (dtype) {
    case "I64":
    case "U64": {
      const out = dtype === "I64" ? new BigInt64Array(x.length) : new BigUint64Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = BigInt(x[i]!);
      return make(out);
    }
    case "I32":
      return make(Int32Array.from(x));
    case "I16":
      return make(Int16Array.from(x));
    case "I8":
      return make(Int8Array.from(x));
    case "U32":
      return make(Uint32Array.from(x));
    case "U16":
      return make(Uint16Array.from(x));
    default: // U8, BOOL
      return make(Uint8Array.from(x));
  }
}

/**
 * The tensor as row-major f32 [rows, cols] on a SharedArrayBuffer (so the worker pool reads it
 * without a copy). F16/BF16 widen exactly.
 *
 * @example
 * ```ts
 * import { toSharedF32 } from "./dtype.ts";
 * import { Tensor } from "./tensor.ts";
 * const x = toSharedF32(new Tensor([2], "BF16", new Uint16Array([0x3f80, 0x4000])));
 * if (!(x.buffer instanceof SharedArrayBuffer) || x[1] !== 2) throw new Error();
 * ```
 */
export function toSharedF32(t: Tensor): Float32Array {
  const n = t.numel;
  const out = new Float32Array(new SharedArrayBuffer(n * 4));
  switch (t.dtype) {
    case "BF16": {
      const src = t.data as Uint16Array;
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
      break;
    }
    case "F16":
      out.set(fromF16(t.data as Uint16Array));
      break;
    case "F32":
    case "F64":
      out.set(t.data as Float32Array | Float64Array);
      break;
    default:
      throw new QuantlabError(
        "unsupported",
        `Cannot quantize a ${t.dtype} tensor; use a float tensor`,
      );
  }
  return out;
}

/**
 * The index of the first NaN or ±Infinity among the little-endian `dtype` values stored in
 * `bytes` (F16, BF16, F32, F64; an all-ones exponent marks both), or -1 when every value is finite
 * or the dtype is not a float. `bytes` must hold whole values and start on a value boundary.
 *
 * @example
 * ```ts
 * import { firstNonFinite } from "./dtype.ts";
 * const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0x7fc0]).buffer); // 1, NaN
 * if (firstNonFinite(bf16, "BF16") !== 1) throw new Error();
 * if (firstNonFinite(new Uint8Array(new Float32Array([1, 2]).buffer), "F32") !== -1) throw new Error();
 * ```
 */
export function firstNonFinite(bytes: Uint8Array, dtype: DType): number {
  const o = bytes.byteOffset, b = bytes.buffer;
  switch (dtype) {
    case "BF16":
    case "F16": {
      const mask = dtype === "BF16" ? 0x7f80 : 0x7c00;
      const u = o % 2 === 0
        ? new Uint16Array(b, o, bytes.length >> 1)
        : new Uint16Array(bytes.slice().buffer, 0, bytes.length >> 1);
      for (let i = 0; i < u.length; i++) if ((u[i]! & mask) === mask) return i;
      return -1;
    }
    case "F32": {
      const u = o % 4 === 0
        ? new Uint32Array(b, o, bytes.length >> 2)
        : new Uint32Array(bytes.slice().buffer, 0, bytes.length >> 2);
      for (let i = 0; i < u.length; i++) if ((u[i]! & 0x7f800000) === 0x7f800000) return i;
      return -1;
    }
    case "F64": {
      const u = o % 4 === 0
        ? new Uint32Array(b, o, bytes.length >> 2)
        : new Uint32Array(bytes.slice().buffer, 0, bytes.length >> 2);
      // The high word of each little-endian f64 holds its exponent.
      for (let i = 1; i < u.length; i += 2) {
        if ((u[i]! & 0x7ff00000) === 0x7ff00000) return (i - 1) >> 1;
      }
      return -1;
    }
    default:
      return -1;
  }
}
