/**
 * The dense matmul front: OpenBLAS when it loads (see `blas.ts`), the TypeScript GEMM of
 * `gemm.ts` otherwise, with the same argument checks and results either way. Runs in a browser
 * too (always the TypeScript path there).
 *
 * - {@linkcode matmul}: `nn.Linear` without bias, `out[b, o] = Σ_i x[b, i] · w[o, i]`.
 * - {@linkcode sgemm}: the full BLAS `sgemm` argument set.
 * - {@linkcode matmulBackend}, {@linkcode forceTypeScriptGemm}: which path runs, and a switch for
 *   tests and comparisons (the environment variable `QUANTLAB_BLAS=none` does the same for a
 *   whole process).
 *
 * @module
 */

import { QuantlabError } from "../core/errors.ts";
import { loadBlas } from "./blas.ts";
import { type GemmArgs, gemmBlocked, gemv, sgemmTs } from "./gemm.ts";

let forceTs = false;

/**
 * Forces the TypeScript GEMM even when OpenBLAS is available (true), or goes back to the
 * automatic choice (false).
 *
 * @example
 * ```ts
 * import { forceTypeScriptGemm, matmulBackend } from "./matmul.ts";
 * forceTypeScriptGemm(true);
 * if (matmulBackend() !== "typescript") throw new Error("unexpected");
 * forceTypeScriptGemm(false);
 * ```
 */
export function forceTypeScriptGemm(force: boolean): void {
  forceTs = force;
}

/**
 * The backend {@linkcode matmul} and {@linkcode sgemm} use now: `"openblas"` when a CBLAS
 * library loaded and the TypeScript path is not forced, else `"typescript"`. The first call
 * looks for the library (and prints the one-line notice when it is missing).
 *
 * @example
 * ```ts
 * import { matmulBackend } from "./matmul.ts";
 * const backend = matmulBackend();
 * if (backend !== "openblas" && backend !== "typescript") throw new Error(backend);
 * ```
 */
export function matmulBackend(): "openblas" | "typescript" {
  return !forceTs && loadBlas() !== null ? "openblas" : "typescript";
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new QuantlabError(
      "bad-argument",
      `matmul: ${name} = ${v} is not a valid size; use an integer from 0 to 2^31 - 1`,
    );
  }
}

/**
 * `out[b, o] = Σ_i x[b, i] · w[o, i]`: a bias-free `nn.Linear` with x `[batch, inF]` and the
 * weight in PyTorch layout `[outF, inF]`, all row-major. BLAS `sgemv` for batch 1, `sgemm`
 * otherwise; the TypeScript GEMM/GEMV when BLAS is unavailable. `out` (allocated when omitted)
 * is overwritten and returned. Throws a `bad-shape` QuantlabError naming the sizes when an
 * array's length is not exactly what the sizes state.
 *
 * @example
 * ```ts
 * import { matmul } from "./matmul.ts";
 * const x = new Float32Array([1, 2, 3, 4]); // [2, 2]
 * const w = new Float32Array([1, 0, 0, 1, 1, 1]); // [3, 2]
 * const y = matmul(x, w, 2, 2, 3); // [2, 3]
 * if (y.join() !== "1,2,3,3,4,7") throw new Error("unexpected");
 * ```
 */
export function matmul(
  x: Float32Array,
  w: Float32Array,
  batch: number,
  inF: number,
  outF: number,
  out?: Float32Array,
): Float32Array {
  checkSize("batch", batch);
  checkSize("inF", inF);
  checkSize("outF", outF);
  if (!(x instanceof Float32Array) || !(w instanceof Float32Array)) {
    throw new QuantlabError("bad-argument", "matmul: x and w must be Float32Arrays");
  }
  if (x.length !== batch * inF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: x holds ${x.length} values but batch ${batch} × inF ${inF} needs ${batch * inF}`,
    );
  }
  if (w.length !== outF * inF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: w holds ${w.length} values but outF ${outF} × inF ${inF} needs ${outF * inF}`,
    );
  }
  const y = out ?? new Float32Array(batch * outF);
  if (!(y instanceof Float32Array) || y.length !== batch * outF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: out holds ${y.length} values but batch ${batch} × outF ${outF} needs ` +
        `${batch * outF}`,
    );
  }
  if (batch === 0 || outF === 0) return y;
  if (inF === 0) return y.fill(0);
  const blas = forceTs ? null : loadBlas();
  if (batch === 1) {
    if (blas !== null) blas.sgemv({ M: outF, N: inF, A: w, x, y });
    else gemv(outF, inF, w, x, y);
  } else if (blas !== null) {
    blas.sgemm({ transB: true, M: batch, N: outF, K: inF, A: x, B: w, C: y });
  } else {
    gemmBlocked(batch, outF, inF, x, w, y, true);
  }
  return y;
}

/**
 * `C = alpha·op(A)·op(B) + beta·C` with the BLAS `sgemm` arguments (row-major; see
 * {@linkcode GemmArgs} for the defaults): OpenBLAS when available, else the TypeScript GEMM.
 * Returns C.
 *
 * @example
 * ```ts
 * import { sgemm } from "./matmul.ts";
 * // C = 2·Aᵀ·B + C with A stored 2×1 (so op(A) is 1×2) and B 2×2
 * const C = sgemm({
 *   transA: true, M: 1, N: 2, K: 2, alpha: 2, beta: 1,
 *   A: new Float32Array([1, 2]), B: new Float32Array([1, 2, 3, 4]), C: new Float32Array([1, 1]),
 * });
 * if (C.join() !== "15,21") throw new Error("unexpected");
 * ```
 */
export function sgemm(args: GemmArgs): Float32Array {
  const blas = forceTs ? null : loadBlas();
  if (blas !== null) blas.sgemm(args);
  else sgemmTs(args);
  return args.C;
}
