// This module is browser compatible.
/**
 * The argument contract every dense GEMM / GEMV of `src/cpu/` shares (TypeScript `gemm.ts`,
 * OpenBLAS `blas.ts`, WebAssembly `wasm_gemm.ts`): the BLAS-style argument records and their
 * validation, which fills the defaults and rejects sizes, strides, short arrays and overlapping
 * outputs before any kernel (or native library) touches memory.
 *
 * @module
 */

import { QuantlabError } from "../core/errors.ts";

/**
 * Arguments of a general matrix product `C = alpha·op(A)·op(B) + beta·C` (row-major, BLAS
 * `sgemm` conventions).
 */
export interface GemmArgs {
  /** Use `Aᵀ`: A is stored `K×M` instead of `M×K`. Default false. */
  transA?: boolean;
  /** Use `Bᵀ`: B is stored `N×K` (PyTorch `nn.Linear` weight layout) instead of `K×N`. Default false. */
  transB?: boolean;
  /** Rows of `op(A)` and `C`. */
  M: number;
  /** Columns of `op(B)` and `C`. */
  N: number;
  /** Columns of `op(A)`, rows of `op(B)`. */
  K: number;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Left matrix. */
  A: Float32Array;
  /** Row stride of A as stored: default `transA ? M : K`. */
  lda?: number;
  /** Right matrix. */
  B: Float32Array;
  /** Row stride of B as stored: default `transB ? K : N`. */
  ldb?: number;
  /** Scale of the old C. Default 0 (C is overwritten, its old content is never read). */
  beta?: number;
  /** Output, `M×N`. */
  C: Float32Array;
  /** Row stride of C: default `N`. */
  ldc?: number;
}

/**
 * Arguments of a matrix-vector product `y = alpha·op(A)·x + beta·y` (row-major, BLAS `sgemv`
 * conventions): A is stored `M×N`; without `trans` x has N entries and y has M, with `trans`
 * x has M and y has N.
 */
export interface GemvArgs {
  /** Use `Aᵀ`. Default false. */
  trans?: boolean;
  /** Rows of A as stored. */
  M: number;
  /** Columns of A as stored. */
  N: number;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** The matrix. */
  A: Float32Array;
  /** Row stride of A: default `N`. */
  lda?: number;
  /** Input vector. */
  x: Float32Array;
  /** Stride of x (≥ 1). Default 1. */
  incx?: number;
  /** Scale of the old y. Default 0 (y is overwritten). */
  beta?: number;
  /** Output vector. */
  y: Float32Array;
  /** Stride of y (≥ 1). Default 1. */
  incy?: number;
}

const MAX_DIM = 0x7fffffff;

function checkDim(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_DIM) {
    throw new QuantlabError(
      "bad-argument",
      `${fn}: ${name} = ${v} is not a valid size; use an integer from 0 to 2^31 - 1`,
    );
  }
}

function checkMatrix(
  fn: string,
  name: string,
  arr: Float32Array,
  rows: number,
  cols: number,
  ld: number,
  ldName: string,
  shape: string,
): void {
  if (!(arr instanceof Float32Array)) {
    throw new QuantlabError("bad-argument", `${fn}: ${name} must be a Float32Array`);
  }
  if (!Number.isInteger(ld) || ld < Math.max(1, cols) || ld > MAX_DIM) {
    throw new QuantlabError(
      "bad-argument",
      `${fn}: ${ldName} = ${ld} is invalid for ${name} stored as ${shape}; ` +
        `use an integer ≥ ${Math.max(1, cols)}`,
    );
  }
  const need = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  if (arr.length < need) {
    throw new QuantlabError(
      "bad-shape",
      `${fn}: ${name} holds ${arr.length} values but ${shape} with ${ldName} = ${ld} ` +
        `needs ${need}`,
    );
  }
}

function checkVector(fn: string, name: string, arr: Float32Array, n: number, inc: number): void {
  if (!(arr instanceof Float32Array)) {
    throw new QuantlabError("bad-argument", `${fn}: ${name} must be a Float32Array`);
  }
  const incName = name === "x" ? "incx" : "incy";
  if (!Number.isInteger(inc) || inc < 1 || inc > MAX_DIM) {
    throw new QuantlabError(
      "bad-argument",
      `${fn}: ${incName} = ${inc} is invalid; use a positive integer`,
    );
  }
  const need = n === 0 ? 0 : (n - 1) * inc + 1;
  if (arr.length < need) {
    throw new QuantlabError(
      "bad-shape",
      `${fn}: ${name} holds ${arr.length} values but ${n} entries with ${incName} = ${inc} ` +
        `need ${need}`,
    );
  }
}

/** Byte ranges [start, end) of the parts of two views that a product reads or writes overlap. */
function overlaps(a: Float32Array, aLen: number, b: Float32Array, bLen: number): boolean {
  if (a.buffer !== b.buffer || aLen === 0 || bLen === 0) return false;
  const a0 = a.byteOffset, a1 = a0 + 4 * aLen, b0 = b.byteOffset, b1 = b0 + 4 * bLen;
  return a0 < b1 && b0 < a1;
}

function spanOf(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

/**
 * Validates {@linkcode GemmArgs} and fills in the defaults. Throws a `bad-argument`
 * QuantlabError for invalid sizes, strides or an output that overlaps an input, and `bad-shape`
 * when an array is too short for the sizes and strides stated (the BLAS path relies on this
 * check: the native library would read past the end instead).
 *
 * @example
 * ```ts
 * import { resolveGemmArgs } from "./gemm_args.ts";
 * const a = resolveGemmArgs({
 *   M: 2, N: 3, K: 4, A: new Float32Array(8), B: new Float32Array(12), C: new Float32Array(6),
 * });
 * if (a.lda !== 4 || a.ldb !== 3 || a.ldc !== 3 || a.alpha !== 1 || a.beta !== 0) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function resolveGemmArgs(args: GemmArgs, fn = "sgemm"): Required<GemmArgs> {
  const { M, N, K } = args;
  checkDim(fn, "M", M);
  checkDim(fn, "N", N);
  checkDim(fn, "K", K);
  const transA = args.transA ?? false, transB = args.transB ?? false;
  const lda = args.lda ?? Math.max(1, transA ? M : K);
  const ldb = args.ldb ?? Math.max(1, transB ? K : N);
  const ldc = args.ldc ?? Math.max(1, N);
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];
  checkMatrix(fn, "A", args.A, aRows, aCols, lda, "lda", `${aRows}×${aCols}`);
  checkMatrix(fn, "B", args.B, bRows, bCols, ldb, "ldb", `${bRows}×${bCols}`);
  checkMatrix(fn, "C", args.C, M, N, ldc, "ldc", `${M}×${N}`);
  const alpha = args.alpha ?? 1, beta = args.beta ?? 0;
  if (typeof alpha !== "number" || typeof beta !== "number") {
    throw new QuantlabError("bad-argument", `${fn}: alpha and beta must be numbers`);
  }
  const cSpan = spanOf(M, N, ldc);
  if (
    overlaps(args.C, cSpan, args.A, spanOf(aRows, aCols, lda)) ||
    overlaps(args.C, cSpan, args.B, spanOf(bRows, bCols, ldb))
  ) {
    throw new QuantlabError(
      "bad-argument",
      `${fn}: C overlaps A or B in memory; pass a separate output array`,
    );
  }
  return { transA, transB, M, N, K, alpha, A: args.A, lda, B: args.B, ldb, beta, C: args.C, ldc };
}

/**
 * Validates {@linkcode GemvArgs} and fills in the defaults (same error rules as
 * {@linkcode resolveGemmArgs}).
 *
 * @example
 * ```ts
 * import { resolveGemvArgs } from "./gemm_args.ts";
 * const a = resolveGemvArgs({
 *   M: 2, N: 3, A: new Float32Array(6), x: new Float32Array(3), y: new Float32Array(2),
 * });
 * if (a.lda !== 3 || a.incx !== 1 || a.trans) throw new Error("unexpected");
 * ```
 */
export function resolveGemvArgs(args: GemvArgs, fn = "sgemv"): Required<GemvArgs> {
  const { M, N } = args;
  checkDim(fn, "M", M);
  checkDim(fn, "N", N);
  const trans = args.trans ?? false;
  const lda = args.lda ?? Math.max(1, N);
  const incx = args.incx ?? 1, incy = args.incy ?? 1;
  checkMatrix(fn, "A", args.A, M, N, lda, "lda", `${M}×${N}`);
  const [xLen, yLen] = trans ? [M, N] : [N, M];
  checkVector(fn, "x", args.x, xLen, incx);
  checkVector(fn, "y", args.y, yLen, incy);
  const alpha = args.alpha ?? 1, beta = args.beta ?? 0;
  if (typeof alpha !== "number" || typeof beta !== "number") {
    throw new QuantlabError("bad-argument", `${fn}: alpha and beta must be numbers`);
  }
  const ySpan = spanOf(yLen, 1, incy);
  if (
    overlaps(args.y, ySpan, args.A, spanOf(M, N, lda)) ||
    overlaps(args.y, ySpan, args.x, spanOf(xLen, 1, incx))
  ) {
    throw new QuantlabError(
      "bad-argument",
      `${fn}: y overlaps A or x in memory; pass a separate output array`,
    );
  }
  return { trans, M, N, alpha, A: args.A, lda, x: args.x, incx, beta, y: args.y, incy };
}
