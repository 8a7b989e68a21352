// This module is browser compatible.
/**
 * A seeded counter-based PRNG whose stream is identical in TypeScript and WGSL
 * (`shaders/prng.wgsl`): element `i` of stream `seed` is a pure function of `(seed, i)`, so any
 * thread can draw any element without state. Random Hadamard signs, noise injection and Monte-Carlo
 * sampling all use it.
 *
 * The mixer is Chris Wellons' `lowbias32` integer hash (xor-shift / multiply, all 32-bit ops:
 * `Math.imul` here, u32 wrap-around in WGSL), applied twice with the seed folded in between.
 * Gaussians use Box–Muller on two uniforms: the pair (2k, 2k+1) gives normals 2k (cos) and 2k+1
 * (sin). WGSL's f32 `log`/`cos` differ from TypeScript's f64 in the last bits, so normals agree to
 * ~1e-6 relative while integers and signs agree exactly.
 *
 * @module
 */

/** lowbias32: a 32-bit bijective hash with low bias (Wellons, "Prospecting for Hash Functions"). */
export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The per-seed key; seeds are taken modulo 2^32. */
function key(seed: number): number {
  return hash32((seed >>> 0) ^ 0x9e3779b9);
}

/**
 * Element `i` of the u32 stream `seed` (`i` < 2^32).
 *
 * @example
 * ```ts
 * import { randU32 } from "./prng.ts";
 * if (randU32(1, 5) !== randU32(1, 5) || randU32(1, 5) === randU32(2, 5)) throw new Error();
 * ```
 */
export function randU32(seed: number, i: number): number {
  const k = key(seed);
  return hash32((hash32((i >>> 0) ^ k) + k) >>> 0);
}

/**
 * Element `i` as a uniform float in (0, 1): 24 random bits, centred, so never 0 or 1.
 *
 * @example
 * ```ts
 * import { randUniform } from "./prng.ts";
 * const u = randUniform(7, 0);
 * if (!(u > 0 && u < 1)) throw new Error();
 * ```
 */
export function randUniform(seed: number, i: number): number {
  return ((randU32(seed, i) >>> 8) + 0.5) * 5.9604644775390625e-8; // 2^-24
}

/**
 * A random sign ±1 from the top bit of element `i`.
 *
 * @example
 * ```ts
 * import { randSign } from "./prng.ts";
 * if (Math.abs(randSign(3, 10)) !== 1) throw new Error();
 * ```
 */
export function randSign(seed: number, i: number): 1 | -1 {
  return randU32(seed, i) >>> 31 ? -1 : 1;
}

/**
 * Standard normal number `i` of stream `seed` (Box–Muller on uniforms 2⌊i/2⌋ and 2⌊i/2⌋+1).
 *
 * @example
 * ```ts
 * import { randNormal } from "./prng.ts";
 * if (!Number.isFinite(randNormal(1, 3))) throw new Error();
 * ```
 */
export function randNormal(seed: number, i: number): number {
  const pair = i - (i & 1);
  const u1 = randUniform(seed, pair);
  const u2 = randUniform(seed, pair + 1);
  const r = Math.sqrt(-2 * Math.log(u1));
  const a = 2 * Math.PI * u2;
  return (i & 1) ? r * Math.sin(a) : r * Math.cos(a);
}

/**
 * Fills `out` with normals `offset … offset + out.length − 1` of stream `seed`, times `scale`.
 *
 * @example
 * ```ts
 * import { fillNormal } from "./prng.ts";
 * const x = fillNormal(new Float32Array(1000), 42);
 * const mean = x.reduce((a, b) => a + b, 0) / x.length;
 * if (Math.abs(mean) > 0.2) throw new Error();
 * ```
 */
export function fillNormal<T extends Float32Array | Float64Array>(
  out: T,
  seed: number,
  offset = 0,
  scale = 1,
): T {
  const k = key(seed);
  const n = out.length;
  let j = 0;
  // Handle an odd start so the rest proceeds in Box–Muller pairs.
  if (offset & 1 && n > 0) out[j++] = scale * randNormal(seed, offset);
  for (; j + 1 < n; j += 2) {
    const c = offset + j;
    const u1 = ((hash32((hash32((c >>> 0) ^ k) + k) >>> 0) >>> 8) + 0.5) * 5.9604644775390625e-8;
    const u2 = ((hash32((hash32(((c + 1) >>> 0) ^ k) + k) >>> 0) >>> 8) + 0.5) *
      5.9604644775390625e-8;
    const r = scale * Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    out[j] = r * Math.cos(a);
    out[j + 1] = r * Math.sin(a);
  }
  if (j < n) out[j] = scale * randNormal(seed, offset + j);
  return out;
}

/**
 * Fills `out` with uniforms in (0, 1), elements `offset …` of stream `seed`.
 *
 * @example
 * ```ts
 * import { fillUniform } from "./prng.ts";
 * const u = fillUniform(new Float32Array(4), 1);
 * if (u.some((v) => v <= 0 || v >= 1)) throw new Error();
 * ```
 */
export function fillUniform<T extends Float32Array | Float64Array>(
  out: T,
  seed: number,
  offset = 0,
): T {
  for (let j = 0; j < out.length; j++) out[j] = randUniform(seed, offset + j);
  return out;
}

/**
 * The ±1 vector of length `n` for stream `seed` (the diagonal D of a randomized Hadamard H·D).
 *
 * @example
 * ```ts
 * import { randomSigns } from "./prng.ts";
 * const s = randomSigns(8, 1);
 * if (s.some((v) => v !== 1 && v !== -1)) throw new Error();
 * ```
 */
export function randomSigns(n: number, seed: number, offset = 0): Float32Array {
  const s = new Float32Array(n);
  for (let j = 0; j < n; j++) s[j] = randSign(seed, offset + j);
  return s;
}
