// This module is browser compatible.
/**
 * Dense single-precision matrix products in plain TypeScript: the specification
 * ({@linkcode gemmReference}, {@linkcode sgemmReference}) and a cache-blocked, register-tiled
 * GEMM ({@linkcode sgemmTs}, {@linkcode gemmBlocked}) plus a matrix-vector product
 * ({@linkcode gemv}). This is the fallback behind `matmul()` when OpenBLAS cannot be loaded, and
 * the only dense path in a browser.
 *
 * All matrices are row-major, with the BLAS conventions: `op(A)` is `M×K`, `op(B)` is `K×N`,
 * `C` is `M×N`, and `lda`/`ldb`/`ldc` are the row strides of the arrays as stored.
 *
 * Why the kernel looks the way it does: in LLM inference almost every product is
 * `Y[batch, out] = X[batch, in] · W[out, in]ᵀ`, i.e. `transB = true`, where each output is a dot
 * product of two contiguous rows. The kernel computes 4×4 output tiles with 16 independent
 * accumulators (4 rows of A and 4 rows of B loaded per step, 16 multiply-adds), in blocks of
 * `KC` along K and `NB` rows of B so the rows being streamed stay in L1/L2 even when K is a
 * power of two (16 KiB row strides alias in L1 without the K blocking). Other layouts are
 * repacked into that one per block. JavaScript arithmetic is f64, so the accumulators are f64
 * within a K block: the result is at least as accurate as an f32-accumulating BLAS.
 *
 * @module
 */

import { type GemmArgs, resolveGemmArgs, resolveGemvArgs } from "./gemm_args.ts";

/**
 * The specification of {@linkcode GemmArgs}: `C = alpha·op(A)·op(B) + beta·C` by a triple loop
 * with f64 accumulation. Slow; tests compare every other GEMM against it.
 *
 * @example
 * ```ts
 * import { sgemmReference } from "./gemm.ts";
 * const C = new Float32Array([1, 1]);
 * // A = [[1, 2]] (1×2), B stored transposed as [[3, 4], [5, 6]] (N×K = 2×2)
 * sgemmReference({
 *   transB: true, M: 1, N: 2, K: 2, alpha: 1, beta: 1,
 *   A: new Float32Array([1, 2]), B: new Float32Array([3, 4, 5, 6]), C,
 * });
 * if (C[0] !== 12 || C[1] !== 18) throw new Error("unexpected");
 * ```
 */
export function sgemmReference(args: GemmArgs): void {
  const { transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc } = resolveGemmArgs(
    args,
    "sgemmReference",
  );
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * lda + m]! : A[m * lda + k]!;
        const b = transB ? B[n * ldb + k]! : B[k * ldb + n]!;
        acc += a * b;
      }
      const old = beta === 0 ? 0 : beta * C[m * ldc + n]!;
      C[m * ldc + n] = alpha * acc + old;
    }
  }
}

/**
 * The specification of a plain product: `C[M,N] = A[M,K] · B` where B is `K×N`, or `N×K` used
 * transposed when `transB` (the `nn.Linear` case `Y = X·Wᵀ`). Triple loop, f64 accumulation;
 * C is overwritten and returned.
 *
 * @example
 * ```ts
 * import { gemmReference } from "./gemm.ts";
 * const A = new Float32Array([1, 2, 3, 4]); // 2×2
 * const C = gemmReference(2, 2, 2, A, new Float32Array([1, 0, 0, 1]), new Float32Array(4));
 * if (C.join() !== "1,2,3,4") throw new Error("unexpected");
 * ```
 */
export function gemmReference(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  transB = false,
): Float32Array {
  sgemmReference({ transB, M, N, K, A, B, C });
  return C;
}

/** Columns of C per block: 48 rows of B × KC floats (96 KiB) stay in L2. */
const NB = 48;
/** Depth per block: a 4×4 tile streams 8 rows × KC floats (16 KiB) through L1. */
const KC = 512;

/**
 * `C[m, n] = C[m, n]! + alpha · Σ_k A[aOff + m·lda + k] · B[bOff + n·ldb + k]` for m < M, n < N, k < K:
 * every output a dot product of two contiguous rows. 4×4 register tiles, then 4×1, 1×4 and 1×1
 * for the edges.
 */
function kernelNT(
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  aOff: number,
  lda: number,
  B: Float32Array,
  bOff: number,
  ldb: number,
  C: Float32Array,
  cOff: number,
  ldc: number,
): void {
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a0 = aOff + m * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
    const cRow = cOff + m * ldc;
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const b0 = bOff + n * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k]!, x1 = A[a1 + k]!, x2 = A[a2 + k]!, x3 = A[a3 + k]!;
        const y0 = B[b0 + k]!, y1 = B[b1 + k]!, y2 = B[b2 + k]!, y3 = B[b3 + k]!;
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let c = cRow + n;
      C[c] = C[c]! + alpha * c00;
      C[c + 1] = C[c + 1]! + alpha * c01;
      C[c + 2] = C[c + 2]! + alpha * c02;
      C[c + 3] = C[c + 3]! + alpha * c03;
      c += ldc;
      C[c] = C[c]! + alpha * c10;
      C[c + 1] = C[c + 1]! + alpha * c11;
      C[c + 2] = C[c + 2]! + alpha * c12;
      C[c + 3] = C[c + 3]! + alpha * c13;
      c += ldc;
      C[c] = C[c]! + alpha * c20;
      C[c + 1] = C[c + 1]! + alpha * c21;
      C[c + 2] = C[c + 2]! + alpha * c22;
      C[c + 3] = C[c + 3]! + alpha * c23;
      c += ldc;
      C[c] = C[c]! + alpha * c30;
      C[c + 1] = C[c + 1]! + alpha * c31;
      C[c + 2] = C[c + 2]! + alpha * c32;
      C[c + 3] = C[c + 3]! + alpha * c33;
    }
    for (; n < N; n++) {
      const b0 = bOff + n * ldb;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const y = B[b0 + k]!;
        c0 += A[a0 + k]! * y;
        c1 += A[a1 + k]! * y;
        c2 += A[a2 + k]! * y;
        c3 += A[a3 + k]! * y;
      }
      const c = cRow + n;
      C[c] = C[c]! + alpha * c0;
      C[c + ldc] = C[c + ldc]! + alpha * c1;
      C[c + 2 * ldc] = C[c + 2 * ldc]! + alpha * c2;
      C[c + 3 * ldc] = C[c + 3 * ldc]! + alpha * c3;
    }
  }
  for (; m < M; m++) {
    const a0 = aOff + m * lda;
    const cRow = cOff + m * ldc;
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const b0 = bOff + n * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k]!;
        c0 += x * B[b0 + k]!;
        c1 += x * B[b1 + k]!;
        c2 += x * B[b2 + k]!;
        c3 += x * B[b3 + k]!;
      }
      const c = cRow + n;
      C[c] = C[c]! + alpha * c0;
      C[c + 1] = C[c + 1]! + alpha * c1;
      C[c + 2] = C[c + 2]! + alpha * c2;
      C[c + 3] = C[c + 3]! + alpha * c3;
    }
    for (; n < N; n++) {
      const b0 = bOff + n * ldb;
      let c0 = 0;
      for (let k = 0; k < K; k++) c0 += A[a0 + k]! * B[b0 + k]!;
      C[cRow + n] = C[cRow + n]! + alpha * c0;
    }
  }
}

/** `dst[c·rows + r] = src[off + r·ld + c]` for r < rows, c < cols, in 16×16 tiles. */
function transposeInto(
  rows: number,
  cols: number,
  src: Float32Array,
  off: number,
  ld: number,
  dst: Float32Array,
): void {
  const T = 16;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const s = off + r * ld;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[s + c]!;
      }
    }
  }
}

/** C = beta·C over the M×N window (beta 0 writes zeros without reading C, like BLAS). */
function scaleC(M: number, N: number, beta: number, C: Float32Array, ldc: number): void {
  if (beta === 1) return;
  for (let m = 0; m < M; m++) {
    const row = m * ldc;
    if (beta === 0) C.fill(0, row, row + N);
    else for (let n = row; n < row + N; n++) C[n] = beta * C[n]!;
  }
}

/**
 * `C[m, :] = C[m, :]! + alpha · Σ_k A[m, k] · B[k, :]` for a few rows m and B stored `K×N`: row axpys
 * (4 rows of B per pass) into an f64 row, cheaper than repacking B when M is tiny.
 */
function smallMNN(
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  C: Float32Array,
  ldc: number,
): void {
  const acc = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    acc.fill(0);
    const aRow = m * lda;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const x0 = A[aRow + k]!, x1 = A[aRow + k + 1]!, x2 = A[aRow + k + 2]!, x3 = A[aRow + k + 3]!;
      const b0 = k * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      for (let n = 0; n < N; n++) {
        acc[n] = acc[n]! + x0 * B[b0 + n]! + x1 * B[b1 + n]! + x2 * B[b2 + n]! + x3 * B[b3 + n]!;
      }
    }
    for (; k < K; k++) {
      const x = A[aRow + k]!, b0 = k * ldb;
      for (let n = 0; n < N; n++) acc[n] = acc[n]! + x * B[b0 + n]!;
    }
    const cRow = m * ldc;
    for (let n = 0; n < N; n++) C[cRow + n] = C[cRow + n]! + alpha * acc[n]!;
  }
}

/**
 * The fast TypeScript GEMM: `C = alpha·op(A)·op(B) + beta·C` with the full BLAS argument set
 * (see {@linkcode GemmArgs}). Single-threaded; about 3–4 GFLOP/s on a current x86 core.
 * `transB = true` with contiguous rows is the fastest layout; `transA` and `transB = false`
 * repack into it block by block.
 *
 * @example
 * ```ts
 * import { sgemmTs } from "./gemm.ts";
 * // Y[2, 3] = X[2, 2] · W[3, 2]ᵀ
 * const X = new Float32Array([1, 2, 3, 4]);
 * const W = new Float32Array([1, 0, 0, 1, 1, 1]);
 * const Y = new Float32Array(6);
 * sgemmTs({ transB: true, M: 2, N: 3, K: 2, A: X, B: W, C: Y });
 * if (Y.join() !== "1,2,3,3,4,7") throw new Error("unexpected");
 * ```
 */
export function sgemmTs(args: GemmArgs): void {
  const r = resolveGemmArgs(args, "sgemmTs");
  const { M, N, K, alpha, B, ldb, C, ldc } = r;
  scaleC(M, N, r.beta, C, ldc);
  if (M === 0 || N === 0 || K === 0 || alpha === 0) return;
  let A = r.A, lda = r.lda;
  if (r.transA) {
    // op(A) = Aᵀ: A is K×M as stored; make it M×K with contiguous rows.
    const packed = new Float32Array(M * K);
    transposeInto(K, M, A, 0, lda, packed);
    A = packed;
    lda = K;
  }
  if (!r.transB && M <= 4) {
    smallMNN(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    return;
  }
  const panel = r.transB ? null : new Float32Array(Math.min(N, NB) * Math.min(K, KC));
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kb = Math.min(KC, K - k0);
    for (let n0 = 0; n0 < N; n0 += NB) {
      const nb = Math.min(NB, N - n0);
      if (panel === null) {
        kernelNT(M, nb, kb, alpha, A, k0, lda, B, n0 * ldb + k0, ldb, C, n0, ldc);
      } else {
        // B is K×N as stored: pack the kb×nb block transposed, nb rows of kb.
        transposeInto(kb, nb, B, k0 * ldb + n0, ldb, panel);
        kernelNT(M, nb, kb, alpha, A, k0, lda, panel, 0, kb, C, n0, ldc);
      }
    }
  }
}

/**
 * `C[M,N] = A[M,K] · B` (B stored `K×N`), or `A · Bᵀ` with B stored `N×K` when `transB`
 * (the `nn.Linear` case `Y[batch, out] = X[batch, in] · W[out, in]ᵀ`). Same result as
 * {@linkcode gemmReference} up to rounding, about 100× faster; C is overwritten and returned.
 *
 * @example
 * ```ts
 * import { gemmBlocked, gemmReference } from "./gemm.ts";
 * const [M, N, K] = [5, 7, 9];
 * const A = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
 * const B = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i));
 * const fast = gemmBlocked(M, N, K, A, B, new Float32Array(M * N), true);
 * const ref = gemmReference(M, N, K, A, B, new Float32Array(M * N), true);
 * if (fast.some((v, i) => Math.abs(v - ref[i]!) > 1e-5)) throw new Error("mismatch");
 * ```
 */
export function gemmBlocked(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  transB = false,
): Float32Array {
  sgemmTs({ transB, M, N, K, A, B, C });
  return C;
}

/**
 * Matrix-vector product `y[m] = Σ_k A[m·lda + k] · x[k]` for A stored `M×K` (row-major): the
 * batch-1 case of `nn.Linear` (`A` = weight `[out, in]`). Four rows per pass sharing each
 * load of x; memory-bound, so its speed is best read as a fraction of copy bandwidth.
 * y (allocated when omitted) is overwritten and returned.
 *
 * @example
 * ```ts
 * import { gemv } from "./gemm.ts";
 * const W = new Float32Array([1, 2, 3, 4, 5, 6]); // 3×2
 * const y = gemv(3, 2, W, new Float32Array([1, -1]));
 * if (y.join() !== "-1,-1,-1") throw new Error("unexpected");
 * ```
 */
export function gemv(
  M: number,
  K: number,
  A: Float32Array,
  x: Float32Array,
  y: Float32Array = new Float32Array(M),
  lda: number = Math.max(1, K),
): Float32Array {
  resolveGemvArgs({ M, N: K, A, lda, x, y }, "gemv");
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a0 = m * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (let k = 0; k < K; k++) {
      const v = x[k]!;
      c0 += A[a0 + k]! * v;
      c1 += A[a1 + k]! * v;
      c2 += A[a2 + k]! * v;
      c3 += A[a3 + k]! * v;
    }
    y[m] = c0;
    y[m + 1] = c1;
    y[m + 2] = c2;
    y[m + 3] = c3;
  }
  for (; m < M; m++) {
    const a0 = m * lda;
    let c0 = 0;
    for (let k = 0; k < K; k++) c0 += A[a0 + k]! * x[k]!;
    y[m] = c0;
  }
  return y;
}
