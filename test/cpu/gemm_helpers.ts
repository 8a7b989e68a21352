// Shared by gemm_test.ts and blas_test.ts: a GEMM implementation checked against
// sgemmReference on strided, offset views, with sentinels around the C window.
import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { sgemmReference } from "../../src/cpu/gemm.ts";
import type { GemmArgs } from "../../src/cpu/gemm_args.ts";

/** A GEMM case: shapes, transposes, scalars, padding and view offsets. */
export interface Case {
  transA?: boolean;
  transB?: boolean;
  M: number;
  N: number;
  K: number;
  alpha?: number;
  beta?: number;
  /** Extra columns in each stored row (lda/ldb/ldc beyond the minimum). */
  pad?: number;
  /** Offset of each matrix inside a larger buffer (tests subarray views). */
  off?: number;
}

/** The value around the C window; any change to it fails the check. */
const SENTINEL = 12345;

/** Runs `impl` and sgemmReference on the same inputs; checks the C window and its surroundings. */
export function checkGemm(impl: (args: GemmArgs) => void, c: Case, tol: number, seed = 1): void {
  const { M, N, K } = c;
  const transA = c.transA ?? false, transB = c.transB ?? false;
  const pad = c.pad ?? 0, off = c.off ?? 0;
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];
  const lda = Math.max(1, aCols) + pad, ldb = Math.max(1, bCols) + pad, ldc = Math.max(1, N) + pad;
  const view = (rows: number, ld: number, s: number): Float32Array => {
    const buf = fillNormal(new Float32Array(off + rows * ld + 3), s);
    return buf.subarray(off, off + rows * ld);
  };
  const A = view(aRows, lda, seed), B = view(bRows, ldb, seed + 1);
  const cBuf = fillNormal(new Float32Array(off + M * ldc + 3), seed + 2);
  for (let m = 0; m < M; m++) cBuf.fill(SENTINEL, off + m * ldc + N, off + (m + 1) * ldc);
  const refBuf = cBuf.slice();
  const args = { transA, transB, M, N, K, alpha: c.alpha, beta: c.beta, lda, ldb, ldc };
  impl({ ...args, A, B, C: cBuf.subarray(off, off + M * ldc) });
  sgemmReference({ ...args, A, B, C: refBuf.subarray(off, off + M * ldc) });
  let maxRef = 0, maxDiff = 0;
  for (let i = 0; i < cBuf.length; i++) {
    const inWindow = i >= off && i < off + M * ldc && (i - off) % ldc < N;
    if (!inWindow) {
      assert.equal(cBuf[i], refBuf[i], `value outside C changed at ${i} for ${JSON.stringify(c)}`);
      continue;
    }
    maxRef = Math.max(maxRef, Math.abs(refBuf[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(cBuf[i]! - refBuf[i]!));
  }
  assert.ok(
    maxDiff <= tol * Math.max(maxRef, 1e-30),
    `${JSON.stringify(c)}: max |diff| ${maxDiff} > ${tol} × max |ref| ${maxRef}`,
  );
}
