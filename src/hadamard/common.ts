// This module is browser compatible.
/**
 * What every Hadamard backend shares: the options, the result, validation, the scale rule, zero
 * padding and the seeded random signs.
 *
 * Definition (per block of n = 2^k consecutive columns, independently for every row; H the
 * Sylvester Walsh–Hadamard matrix with ±1 entries, H[i, j] = (−1)^popcount(i & j), symmetric, and
 * D = diag(randSign(seed, c)) over the column index c of the (padded) row when a seed is given,
 * else D = I):
 *
 *     forward:  y = H·(D·x) · f        f = 1/√n (orthonormal) or 1 (unnormalized)
 *     inverse:  x = D·(H·y) · g        g = 1/√n (orthonormal) or 1/n (unnormalized)
 *
 * so inverse(forward(x)) = x in both modes (H·H = n·I, D·D = I).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randSign } from "../core/prng.ts";

/**
 * log2 of the L1 sub-block of the TypeScript CPU kernels (`gen/cpu_kernels.ts`): 4096 f64 =
 * 32 KiB of scratch (measured faster than 2048).
 */
export const SUB_LOG = 12;

/**
 * log2 of the values per span of blocks up to 2048 of the WebAssembly kernels: 2048 f64 = 16 KiB
 * of scratch plus 8 KiB of f32 data stay in L1 (measured slightly faster than 4096).
 */
export const WASM_SPAN_LOG = 11;

/** The largest supported block size. */
export const MAX_HADAMARD_SIZE = 32768;

/** `orthonormal`: entries ±1/√n (norm preserving); `unnormalized`: entries ±1 (HF HIGGS). */
export type HadamardNormalization = "orthonormal" | "unnormalized";

/** Options of every Hadamard transform. */
export interface HadamardOptions {
  /** Block size n: a power of two, 2 ≤ n ≤ 32768. Each run of n columns is transformed alone. */
  blockSize: number;
  /** Scale of the transform (default `"orthonormal"`). */
  normalization?: HadamardNormalization;
  /** Apply the inverse transform (default false). */
  inverse?: boolean;
  /**
   * Seed of the random signs D (`randSign(seed, column)`, a u32); `null`/absent: plain Hadamard.
   */
  seed?: number | null;
  /**
   * Throw a `bad-shape` error when `cols` is not a multiple of the block size, instead of
   * zero-padding the rows (default false).
   */
  strict?: boolean;
}

/** A transformed matrix: `data` is [rows, cols] with cols = the padded column count. */
export interface HadamardResult<T = Float32Array> {
  /** The transformed data, row-major [rows, cols]. */
  data: T;
  /** Rows. */
  rows: number;
  /** Columns of `data`: `originalCols` rounded up to a multiple of the block size. */
  cols: number;
  /** Columns of the input. */
  originalCols: number;
  /** True when zero columns were appended (`cols > originalCols`). */
  padded: boolean;
}

/** A validated transform: what the kernels need. */
export interface HadamardPlan {
  /** Block size. */
  n: number;
  /** log2 of the block size. */
  log: number;
  /** Rows. */
  rows: number;
  /** Input columns. */
  originalCols: number;
  /** Output columns (multiple of n). */
  cols: number;
  /** True when padding is needed. */
  padded: boolean;
  /** Output scale: f or g of the module doc. */
  scale: number;
  /** 0: no signs; 1: signs before H (forward); 2: signs after H (inverse). */
  mode: 0 | 1 | 2;
  /** The sign seed (u32), 0 when mode is 0. */
  seed: number;
  /** True for the inverse transform. */
  inverse: boolean;
}

/**
 * True when `n` is a positive integer power of two (1, 2, 4, …).
 *
 * @example
 * ```ts
 * import { isPowerOfTwo } from "./common.ts";
 * if (!isPowerOfTwo(1024) || isPowerOfTwo(48) || isPowerOfTwo(0)) throw new Error();
 * ```
 */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 2 ** 52 && 2 ** Math.round(Math.log2(n)) === n;
}

/**
 * k such that 2^k = n; throws a `bad-argument` {@linkcode QuantlabError} when n is not a power of
 * two.
 *
 * @example
 * ```ts
 * import { log2Exact } from "./common.ts";
 * if (log2Exact(1024) !== 10) throw new Error();
 * ```
 */
export function log2Exact(n: number): number {
  if (!isPowerOfTwo(n)) {
    throw new QuantlabError("bad-argument", `${n} is not a power of two`);
  }
  return Math.round(Math.log2(n));
}

/**
 * Checks a Hadamard block size and returns its log2.
 *
 * @example
 * ```ts
 * import { checkBlockSize } from "./common.ts";
 * if (checkBlockSize(512) !== 9) throw new Error();
 * ```
 */
export function checkBlockSize(n: number): number {
  const valid = `use 2, 4, …, ${MAX_HADAMARD_SIZE}`;
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new QuantlabError("bad-argument", `Hadamard size ${n} is not an integer; ${valid}`);
  }
  if (n < 2) throw new QuantlabError("bad-argument", `Hadamard size ${n} is below 2; ${valid}`);
  if (n > MAX_HADAMARD_SIZE) {
    throw new QuantlabError(
      "bad-argument",
      `Hadamard size ${n} is above ${MAX_HADAMARD_SIZE}; ${valid}`,
    );
  }
  if (!isPowerOfTwo(n)) {
    throw new QuantlabError("bad-argument", `Hadamard size ${n} is not a power of two; ${valid}`);
  }
  return log2Exact(n);
}

/**
 * The output scale of a transform (f or g of the module doc).
 *
 * @example
 * ```ts
 * import { hadamardScale } from "./common.ts";
 * if (hadamardScale(4, "orthonormal", false) !== 0.5) throw new Error();
 * if (hadamardScale(4, "unnormalized", true) !== 0.25) throw new Error();
 * ```
 */
export function hadamardScale(
  n: number,
  normalization: HadamardNormalization,
  inverse: boolean,
): number {
  if (normalization === "orthonormal") return 1 / Math.sqrt(n);
  return inverse ? 1 / n : 1;
}

/**
 * Validates a transform of a [rows, cols] matrix (whose data holds `length` values, if given)
 * and resolves its options.
 *
 * @example
 * ```ts
 * import { planHadamard } from "./common.ts";
 * const p = planHadamard(2, 100, { blockSize: 64, seed: 7 });
 * if (p.cols !== 128 || !p.padded || p.mode !== 1 || p.scale !== 0.125) throw new Error();
 * ```
 */
export function planHadamard(
  rows: number,
  cols: number,
  opts: HadamardOptions,
  length?: number,
): HadamardPlan {
  if (opts === null || typeof opts !== "object") {
    throw new QuantlabError("bad-argument", "Hadamard options are missing; pass { blockSize }");
  }
  const log = checkBlockSize(opts.blockSize);
  const n = opts.blockSize;
  for (const [name, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new QuantlabError("bad-shape", `Hadamard ${name} ${v} is not a non-negative integer`);
    }
  }
  if (length !== undefined && length !== rows * cols) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard input holds ${length} values; a [${rows}, ${cols}] matrix needs ${rows * cols}`,
    );
  }
  const normalization = opts.normalization ?? "orthonormal";
  if (normalization !== "orthonormal" && normalization !== "unnormalized") {
    throw new QuantlabError(
      "bad-argument",
      `Hadamard normalization "${normalization}" is not valid; use "orthonormal" or "unnormalized"`,
    );
  }
  const seed = opts.seed ?? null;
  if (seed !== null && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    throw new QuantlabError(
      "bad-argument",
      `Hadamard seed ${seed} is not valid; use an integer in [0, 4294967295] or null`,
    );
  }
  const padded = cols % n !== 0;
  if (padded && opts.strict) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard size ${n} does not divide ${cols} columns; pad the rows to ${
        Math.ceil(cols / n) * n
      } columns or leave strict off to zero-pad`,
    );
  }
  const inverse = opts.inverse === true;
  return {
    n,
    log,
    rows,
    originalCols: cols,
    cols: Math.ceil(cols / n) * n,
    padded,
    scale: hadamardScale(n, normalization, inverse),
    mode: seed === null ? 0 : inverse ? 2 : 1,
    seed: seed ?? 0,
    inverse,
  };
}

/**
 * Copies a [rows, cols] matrix into a zeroed [rows, paddedCols] one (on a SharedArrayBuffer when
 * `shared`).
 *
 * @example
 * ```ts
 * import { padColumns } from "./common.ts";
 * const y = padColumns(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3, 4);
 * if (y.join() !== "1,2,3,0,4,5,6,0") throw new Error();
 * ```
 */
export function padColumns(
  x: Float32Array,
  rows: number,
  cols: number,
  paddedCols: number,
  shared = false,
): Float32Array {
  if (paddedCols < cols) {
    throw new QuantlabError("bad-shape", `Cannot pad ${cols} columns down to ${paddedCols}`);
  }
  const bytes = rows * paddedCols * 4;
  const out = new Float32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(r * cols, (r + 1) * cols), r * paddedCols);
  }
  return out;
}

let signKey = "";
let signCache = new Float64Array(0);

/**
 * `randSign(seed, c)` for c in [0, cols), as f64 (the last table is cached).
 *
 * @example
 * ```ts
 * import { signTable } from "./common.ts";
 * import { randSign } from "../core/prng.ts";
 * if (signTable(5, 8)[3] !== randSign(5, 3)) throw new Error();
 * ```
 */
export function signTable(seed: number, cols: number): Float64Array {
  const key = `${seed}:${cols}`;
  if (key !== signKey) {
    const s = new Float64Array(cols);
    for (let c = 0; c < cols; c++) s[c] = randSign(seed, c);
    signCache = s;
    signKey = key;
  }
  return signCache;
}

/**
 * The `bad-value` error for a non-finite input value at `index` of a [rows, cols] matrix.
 *
 * @example
 * ```ts
 * import { nonFiniteError } from "./common.ts";
 * const e = nonFiniteError(NaN, 5, 4);
 * if (!e.message.includes("NaN at index 5 (row 1, column 1)")) throw new Error(e.message);
 * ```
 */
export function nonFiniteError(value: number, index: number, cols: number): QuantlabError {
  const row = cols > 0 ? Math.floor(index / cols) : 0;
  const col = index - row * cols;
  return new QuantlabError(
    "bad-value",
    `Hadamard input holds ${value} at index ${index} (row ${row}, column ${col}); ` +
      "only finite values can be transformed",
  );
}

/**
 * The index of the first NaN or ±Infinity in `x`, or −1.
 *
 * @example
 * ```ts
 * import { firstNonFinite } from "./common.ts";
 * if (firstNonFinite(new Float32Array([0, Infinity])) !== 1) throw new Error();
 * ```
 */
export function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}
