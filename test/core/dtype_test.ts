import assert from "node:assert/strict";
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  firstNonFinite,
  fromBf16,
  fromF16,
  roundToF16,
  tensorFromF32,
  tensorToF32,
  toBf16,
  toF16,
} from "../../src/core/dtype.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { type DType, Tensor } from "../../src/core/tensor.ts";

const ALL16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** f32 values from raw bit patterns. */
function f32FromBits(bits: number[] | Uint32Array): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}
function bitsOfF32(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}
const hex = (n: number): string => "0x" + n.toString(16);

function isF16NaN(h: number): boolean {
  return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
}
function isBf16NaN(h: number): boolean {
  return (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
}

/** binary16 decoded by its definition (value formula), as the slow reference. */
function f16ValueReference(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** floor(log2(a)) for a > 0, corrected against exact powers of two. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/** Rounds q ≥ 0 to the nearest integer, ties to even (q is exact). */
function roundHalfEven(q: number): number {
  const r = Math.floor(q);
  const frac = q - r;
  return frac > 0.5 || (frac === 0.5 && r % 2 === 1) ? r + 1 : r;
}

/** f32 value → f16 bits by arithmetic (scale to an integer count of ulps, round, re-encode). */
function f16BitsReference(x: number): number {
  if (Number.isNaN(x)) throw new Error("reference does not take NaN");
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  const e = a >= 2 ** -14 ? exponentOf(a) : -14;
  const ulp = 2 ** (e - 10);
  const v = roundHalfEven(a / ulp) * ulp;
  if (v > 65504) return sign | 0x7c00;
  if (v < 2 ** -14) return sign | (v / 2 ** -24);
  const ev = exponentOf(v);
  return sign | ((ev + 15) << 10) | ((v / 2 ** ev - 1) * 1024);
}

/** f32 value → bf16 bits by arithmetic; the final encode goes through Math.fround (exact). */
function bf16BitsReference(x: number): number {
  if (Number.isNaN(x)) throw new Error("reference does not take NaN");
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7f80;
  if (a === 0) return sign;
  const e = Math.max(exponentOf(a), -126);
  const ulp = 2 ** (e - 7);
  const v = roundHalfEven(a / ulp) * ulp;
  if (v >= 2 ** 128) return sign | 0x7f80;
  const bits = bitsOfF32(new Float32Array([Math.fround(v)]))[0]!;
  if ((bits & 0xffff) !== 0) throw new Error(`reference produced ${v}, not a bf16`);
  return sign | (bits >>> 16);
}

/** xorshift32, deterministic. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

Deno.test("fromF16() decodes all 65536 f16 patterns to their value", () => {
  const x = fromF16(ALL16);
  for (let h = 0; h < 65536; h++) {
    const want = f16ValueReference(h);
    const got = x[h]!;
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(got), hex(h));
    } else {
      assert.ok(Object.is(got, want), `${hex(h)}: ${got} ≠ ${want}`);
    }
  }
});

Deno.test("toF16(fromF16(h)) is the identity on all 65536 patterns, NaN payloads included", () => {
  const x = fromF16(ALL16);
  // NaN payloads survive in the f32 bits: the f16 mantissa sits in the top 10 f32 mantissa bits.
  const bits = bitsOfF32(x);
  for (let h = 0; h < 65536; h++) {
    if (isF16NaN(h)) {
      assert.equal(bits[h], (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0);
    }
  }
  assert.deepEqual(toF16(x), ALL16);
});

Deno.test("scalar f16 functions round-trip every pattern; NaNs stay NaN with their sign", () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToF32(h);
    const back = f32ToF16Bits(v);
    if (isF16NaN(h)) {
      // Engines may quiet a signalling NaN read into a JS number (the quiet bit 0x200 set).
      assert.ok(Number.isNaN(v));
      assert.ok(back === h || back === (h | 0x200), `${hex(h)} came back as ${hex(back)}`);
    } else {
      assert.equal(back, h, hex(h));
    }
  }
});

Deno.test("fromBf16() decodes all 65536 patterns and toBf16() maps them back bit for bit", () => {
  const x = fromBf16(ALL16);
  const bits = bitsOfF32(x);
  for (let h = 0; h < 65536; h++) assert.equal(bits[h], (h << 16) >>> 0);
  assert.deepEqual(toBf16(x), ALL16);
  for (let h = 0; h < 65536; h++) {
    const v = bf16BitsToF32(h);
    const back = f32ToBf16Bits(v);
    if (isBf16NaN(h)) {
      assert.ok(Number.isNaN(v));
      assert.ok(back === h || back === (h | 0x40), `${hex(h)} came back as ${hex(back)}`);
    } else {
      assert.ok(Object.is(v, x[h]), hex(h));
      assert.equal(back, h, hex(h));
    }
  }
});

Deno.test("f32ToF16Bits() rounds halfway cases to even and handles the range ends", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: even is 1
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: even is 1 + 2^-9
    [1 + 2 ** -11 + 2 ** -23, 0x3c01], // just above halfway
    [1 + 2 ** -11 - 2 ** -23, 0x3c00], // just below halfway
    [2048 + 1, 0x6800], // halfway (ulp 2): even 2048
    [2048 + 3, 0x6802],
    [65504, 0x7bff], // largest finite f16
    [65519.99609375, 0x7bff], // largest f32 below the overflow threshold
    [65520, 0x7c00], // halfway to 2^16: rounds to Infinity
    [1e9, 0x7c00],
    [-65520, 0xfc00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -25, 0x0400], // halfway between 0x3ff and 0x400: even is 0x400
    [2 ** -14 - 3 * 2 ** -25, 0x03fe], // halfway between 0x3fe and 0x3ff: even is 0x3fe
    [2 ** -24, 0x0001], // smallest subnormal
    [-(2 ** -24), 0x8001],
    [2 ** -25, 0x0000], // exactly half the smallest subnormal: ties to even 0
    [-(2 ** -25), 0x8000],
    [2 ** -25 + 2 ** -48, 0x0001], // just above half
    [2 ** -25 - 2 ** -49, 0x0000], // just below half
    [3 * 2 ** -25, 0x0002], // 1.5 ulps: ties to even 2
    [5 * 2 ** -25, 0x0002], // 2.5 ulps: ties to even 2
    [2 ** -149, 0x0000], // f32 subnormal
    [-(2 ** -130), 0x8000],
  ];
  for (const [x, want] of cases) {
    assert.equal(Math.fround(x), x, `test value ${x} must be an f32`);
    assert.equal(hex(f32ToF16Bits(x)), hex(want), `f32ToF16Bits(${x})`);
    assert.equal(hex(toF16(new Float32Array([x]))[0]!), hex(want), `toF16([${x}])`);
    assert.equal(hex(f16BitsReference(x)), hex(want), `reference(${x})`);
  }
  assert.equal(f32ToF16Bits(NaN), 0x7e00);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
});

Deno.test("f16 conversion keeps NaN sign and top payload bits, setting the quiet bit if empty", () => {
  const inputs = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7f812345, 0x7fffe000];
  const want = [0x7e00, 0xfe00, 0x7e00, 0xfe00, 0x7c09, 0x7fff];
  assert.deepEqual([...toF16(f32FromBits(inputs))].map(hex), want.map(hex));
});

Deno.test("f32ToBf16Bits() rounds halfway cases to even and handles the range ends", () => {
  const cases: [number, number][] = [
    [0x3f800000, 0x3f80], // 1
    [0x3f808000, 0x3f80], // 1 + 2^-8: halfway, even is 1
    [0x3f818000, 0x3f82], // 1 + 3·2^-8: halfway, even is 1 + 2^-6
    [0x3f808001, 0x3f81], // just above halfway
    [0x3f807fff, 0x3f80], // just below halfway
    [0x7f7f7fff, 0x7f7f], // just below the overflow threshold
    [0x7f7f8000, 0x7f80], // halfway past the largest finite bf16: rounds to Infinity
    [0x7f7fffff, 0x7f80], // largest finite f32
    [0xff7fffff, 0xff80],
    [0x7f800000, 0x7f80],
    [0xff800000, 0xff80],
    [0x00000000, 0x0000],
    [0x80000000, 0x8000],
    [0x00008000, 0x0000], // f32 subnormal, halfway: even is 0
    [0x00018000, 0x0002], // halfway: even is 2
    [0x00008001, 0x0001],
    [0x00007fff, 0x0000],
    [0x807fffff, 0x8080], // largest f32 subnormal rounds up to the smallest normal
    [0x7fc00000, 0x7fc0], // NaN
    [0xffc00000, 0xffc0],
    [0x7f800001, 0x7fc0], // NaN payload only in dropped bits: quiet bit set, stays NaN
    [0xff800001, 0xffc0],
    [0x7f810000, 0x7f81], // signalling NaN with a kept payload bit: unchanged (array path)
  ];
  const got = toBf16(f32FromBits(cases.map((c) => c[0])));
  cases.forEach(([bits, want], i) => {
    assert.equal(hex(got[i]!), hex(want), `toBf16(${hex(bits)})`);
    const x = f32FromBits([bits])[0]!;
    if (!Number.isNaN(x)) {
      assert.equal(hex(f32ToBf16Bits(x)), hex(want), `f32ToBf16Bits(${hex(bits)})`);
      assert.equal(hex(bf16BitsReference(x)), hex(want), `reference(${hex(bits)})`);
    } else {
      assert.ok(isBf16NaN(f32ToBf16Bits(x)));
    }
  });
});

Deno.test("toF16() and toBf16() match arithmetic references on 1e6 random f32 bit patterns", () => {
  const n = 1_000_000;
  const rand = xorshift(0x5eed);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let b = rand();
    const kind = i % 4;
    if (kind === 1) {
      // Exponent in the f16 range and around it (2^-27 … 2^17).
      b = (b & 0x807fffff) | ((100 + (rand() % 45)) << 23);
    } else if (kind === 2) {
      // Near-ties for f16 (low 13 bits ≈ 0x1000) and bf16 (low 16 bits ≈ 0x8000).
      b = (b & 0x807fffff) | ((100 + (rand() % 45)) << 23);
      const t = rand() % 3;
      b = ((b & ~0x1fff) | (0x1000 + t - 1)) >>> 0;
      if (rand() & 1) b = ((b & ~0xffff) | (0x8000 + t - 1)) >>> 0;
    }
    bits[i] = b >>> 0;
  }
  const x = new Float32Array(bits.buffer);
  const h = toF16(x);
  const bh = toBf16(x);
  let checked = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (Number.isNaN(v)) {
      assert.ok(isF16NaN(h[i]!) && isBf16NaN(bh[i]!), hex(bits[i]!));
      assert.equal(h[i]! & 0x8000, (bits[i]! >>> 16) & 0x8000);
      assert.equal(bh[i]! & 0x8000, (bits[i]! >>> 16) & 0x8000);
      continue;
    }
    if (h[i] !== f16BitsReference(v)) {
      assert.fail(`f16 of ${hex(bits[i]!)}: ${hex(h[i]!)} ≠ ${hex(f16BitsReference(v))}`);
    }
    if (bh[i] !== bf16BitsReference(v)) {
      assert.fail(`bf16 of ${hex(bits[i]!)}: ${hex(bh[i]!)} ≠ ${hex(bf16BitsReference(v))}`);
    }
    checked++;
  }
  assert.ok(checked > 990_000);
  // The scalar functions agree with the array ones.
  for (let i = 0; i < 10_000; i++) {
    if (Number.isNaN(x[i]!)) continue;
    assert.equal(f32ToF16Bits(x[i]!), h[i]);
    assert.equal(f32ToBf16Bits(x[i]!), bh[i]);
  }
});

Deno.test("roundToF16() equals fromF16(toF16(x)) and is idempotent", () => {
  const rand = xorshift(7);
  const x = new Float32Array(4096);
  for (let i = 0; i < x.length; i++) x[i] = ((rand() / 2 ** 32) - 0.5) * 2 ** ((i % 40) - 24);
  x[0] = 1 + 2 ** -11;
  x[1] = 70000;
  const y = roundToF16(x);
  assert.deepEqual(bitsOfF32(y), bitsOfF32(fromF16(toF16(x))));
  assert.deepEqual(bitsOfF32(roundToF16(y)), bitsOfF32(y));
  assert.equal(y[0], 1);
  assert.equal(y[1], Infinity);
});

Deno.test("the array functions accept views with an offset and empty arrays", () => {
  const buf = new Float32Array([9, 1, 2, 9]);
  const view = buf.subarray(1, 3);
  assert.deepEqual([...toF16(view)], [0x3c00, 0x4000]);
  assert.deepEqual([...toBf16(view)], [0x3f80, 0x4000]);
  const h = new Uint16Array([7, 0x3c00, 7]).subarray(1, 2);
  assert.deepEqual([...fromF16(h)], [1]);
  assert.deepEqual([...fromBf16(new Uint16Array([1, 0x3f80]).subarray(1))], [1]);
  assert.equal(toF16(new Float32Array(0)).length, 0);
  assert.equal(fromBf16(new Uint16Array(0)).length, 0);
});

Deno.test("tensorToF32() converts every dtype and returns F32 tensors unchanged", () => {
  const shape = [3];
  const f32 = Tensor.f32(shape, new Float32Array([1, -2, 0.5]));
  assert.equal(tensorToF32(f32), f32);
  const cases: [Tensor, number[]][] = [
    [new Tensor(shape, "F16", new Uint16Array([0x3c00, 0xc000, 0x3800])), [1, -2, 0.5]],
    [new Tensor(shape, "BF16", new Uint16Array([0x3f80, 0xc000, 0x3f00])), [1, -2, 0.5]],
    [new Tensor(shape, "F64", new Float64Array([1, -2, 0.1])), [1, -2, Math.fround(0.1)]],
    [new Tensor(shape, "I64", new BigInt64Array([1n, -2n, 2n ** 62n])), [1, -2, 2 ** 62]],
    [new Tensor(shape, "U64", new BigUint64Array([1n, 2n, 2n ** 64n - 1n])), [1, 2, 2 ** 64]],
    [new Tensor(shape, "I32", new Int32Array([1, -2, 2 ** 24 + 1])), [1, -2, 2 ** 24]],
    [new Tensor(shape, "I16", new Int16Array([1, -2, -32768])), [1, -2, -32768]],
    [new Tensor(shape, "I8", new Int8Array([1, -2, 127])), [1, -2, 127]],
    [new Tensor(shape, "U32", new Uint32Array([1, 2, 2 ** 32 - 1])), [1, 2, 2 ** 32]],
    [new Tensor(shape, "U16", new Uint16Array([1, 2, 65535])), [1, 2, 65535]],
    [new Tensor(shape, "U8", new Uint8Array([1, 2, 255])), [1, 2, 255]],
    [new Tensor(shape, "BOOL", new Uint8Array([1, 0, 1])), [1, 0, 1]],
  ];
  for (const [t, want] of cases) {
    const f = tensorToF32(t);
    assert.equal(f.dtype, "F32");
    assert.deepEqual(f.shape, shape);
    assert.deepEqual([...f.data], want, t.dtype);
  }
  const empty = tensorToF32(new Tensor([0, 4], "F16", new Uint16Array(0)));
  assert.deepEqual(empty.shape, [0, 4]);
});

Deno.test("tensorFromF32() round-trips through every dtype for representable values", () => {
  const x = Tensor.f32([2, 2], new Float32Array([0, 1, 2, 100]));
  const dtypes: DType[] = [
    "F64",
    "F32",
    "F16",
    "BF16",
    "I64",
    "I32",
    "I16",
    "I8",
    "U64",
    "U32",
    "U16",
    "U8",
  ];
  for (const d of dtypes) {
    const t = tensorFromF32(x, d);
    assert.equal(t.dtype, d);
    assert.deepEqual(t.shape, [2, 2]);
    assert.deepEqual([...tensorToF32(t).data], [0, 1, 2, 100], d);
  }
  const b = tensorFromF32(Tensor.f32([2], new Float32Array([1, 0])), "BOOL");
  assert.deepEqual([...b.data], [1, 0]);
  assert.deepEqual(
    [...tensorFromF32(Tensor.f32([1], new Float32Array([-(2 ** 63)])), "I64").data],
    [-(2n ** 63n)],
  );
});

Deno.test("tensorFromF32() rejects non-integers and out-of-range values for integer dtypes", () => {
  const bad: [number, DType][] = [
    [0.5, "I32"],
    [NaN, "I8"],
    [Infinity, "I64"],
    [128, "I8"],
    [-129, "I8"],
    [-1, "U8"],
    [256, "U8"],
    [65536, "U16"],
    [2 ** 31, "I32"],
    [2 ** 32, "U32"],
    [2 ** 63, "I64"],
    [2 ** 64, "U64"],
    [2, "BOOL"],
  ];
  for (const [v, d] of bad) {
    assert.throws(
      () => tensorFromF32(Tensor.f32([2], new Float32Array([0, v])), d),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-value" && e.message.includes("index 1") &&
        e.message.includes(d),
      `${v} as ${d}`,
    );
  }
});

Deno.test("firstNonFinite() flags exactly the NaN and ±Inf patterns of every 16-bit value, f32 and f64", () => {
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const [dtype, widen] of [["BF16", bf16BitsToF32], ["F16", f16BitsToF32]] as const) {
    let flagged = 0;
    for (let h = 0; h < 65536; h++) {
      const got = firstNonFinite(bytesOf(new Uint16Array([0x3c00, h])), dtype);
      assert.equal(got, Number.isFinite(widen(h)) ? -1 : 1, `${dtype} 0x${h.toString(16)}`);
      if (got === 1) flagged++;
    }
    // Exponent all ones: 2 signs × 2^mantissa bits patterns (7 for bf16, 10 for f16).
    assert.equal(flagged, dtype === "BF16" ? 2 * 128 : 2 * 1024);
  }
  const f32 = new Float32Array([1, -0, 3.4e38, 1e-45, -2, NaN, Infinity]);
  assert.equal(firstNonFinite(bytesOf(f32), "F32"), 5);
  assert.equal(firstNonFinite(bytesOf(f32.subarray(0, 5)), "F32"), -1);
  assert.equal(firstNonFinite(bytesOf(new Float32Array([0, -Infinity])), "F32"), 1);
  const f64 = new Float64Array([1, 1.7e308, -Infinity, NaN]);
  assert.equal(firstNonFinite(bytesOf(f64), "F64"), 2);
  assert.equal(firstNonFinite(bytesOf(f64.subarray(0, 2)), "F64"), -1);
  // Bytes that do not start on a value boundary of their buffer are copied, not misread.
  const odd = new Uint8Array(9);
  odd.set(bytesOf(new Float32Array([1, NaN])), 1);
  assert.equal(firstNonFinite(odd.subarray(1), "F32"), 1);
  // Integers have no NaN.
  assert.equal(firstNonFinite(new Uint8Array([255, 255, 255, 255]), "I32"), -1);
});
