/**
 * The dense matmul front: OpenBLAS when it loads (see `blas.ts`), else the WebAssembly SIMD GEMM
 * of `wasm_gemm.ts`, else the TypeScript GEMM of `gemm.ts`, with the same argument checks and
 * results (up to f32 rounding) either way. Runs in a browser too (WebAssembly or TypeScript
 * there).
 *
 * - {@linkcode matmul}: `nn.Linear` without bias, `out[b, o] = Σ_i x[b, i] · w[o, i]`.
 * - {@linkcode sgemm}: the full BLAS `sgemm` argument set.
 * - {@linkcode syrkUpper}: a Gram matrix's upper triangle, `C += alpha·AᵀA` (`ssyrk`).
 * - {@linkcode matmulBackend}, {@linkcode forceGemmBackend}, {@linkcode forceTypeScriptGemm}:
 *   which path runs, and switches for tests and comparisons (for a whole process, the
 *   environment variable `QUANTLAB_BLAS=none` hides OpenBLAS and `QUANTLAB_GEMM=wasm` or
 *   `QUANTLAB_GEMM=typescript` forces a backend).
 *
 * @module
 */

import { QuantlabError } from "../core/errors.ts";
import { blasUnavailableReason, loadBlas } from "./blas.ts";
import { poolSize } from "./pool.ts";
import { gemmBlocked, gemv, sgemmTs } from "./gemm.ts";
import type { GemmArgs } from "./gemm_args.ts";
import { sgemmWasm, sgemvWasm, wasmGemmFallbackNote, wasmGemmVariant } from "./wasm_gemm.ts";

/** The dense GEMM paths, fastest first. */
export type GemmBackend = "openblas" | "wasm" | "typescript";

let forced: GemmBackend | null | undefined;

/** `QUANTLAB_GEMM` when it names a backend and may be read without a prompt, else null. */
function envBackend(): GemmBackend | null {
  try {
    const d = { name: "env", variable: "QUANTLAB_GEMM" } as const;
    if (typeof Deno === "undefined" || Deno.permissions.querySync(d).state !== "granted") {
      return null;
    }
    const v = Deno.env.get("QUANTLAB_GEMM")?.trim().toLowerCase();
    return v === "openblas" || v === "wasm" || v === "typescript" ? v : null;
  } catch {
    return null;
  }
}

/**
 * Forces a backend (`"wasm"` or `"typescript"` even when OpenBLAS is there; a forced backend
 * that cannot run here falls back down the list), or goes back to the automatic choice (null:
 * `QUANTLAB_GEMM` when set, else the fastest available).
 *
 * @example
 * ```ts
 * import { forceGemmBackend, matmulBackend } from "./matmul.ts";
 * forceGemmBackend("typescript");
 * if (matmulBackend() !== "typescript") throw new Error("unexpected");
 * forceGemmBackend(null);
 * ```
 */
export function forceGemmBackend(backend: GemmBackend | null): void {
  forced = backend ?? envBackend();
}

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
  forced = force ? "typescript" : envBackend();
}

/**
 * The backend {@linkcode matmul} and {@linkcode sgemm} use now: `"openblas"` when a CBLAS
 * library loaded, else `"wasm"` when the engine runs WebAssembly SIMD, else `"typescript"`
 * (or what {@linkcode forceGemmBackend} chose). The first call looks for the library (and
 * prints the one-line notice when it is missing).
 *
 * @example
 * ```ts
 * import { matmulBackend } from "./matmul.ts";
 * const backend = matmulBackend();
 * if (backend !== "openblas" && backend !== "typescript") throw new Error(backend);
 * ```
 */
export function matmulBackend(): GemmBackend {
  if (forced === undefined) forced = envBackend();
  if (forced === "typescript") return "typescript";
  if (forced !== "wasm" && loadBlas() !== null) return "openblas";
  return wasmGemmVariant() !== null ? "wasm" : "typescript";
}

/**
 * One line on the backend in use, for `quantlab info`: the library's path, or which fallback
 * runs, its speed against OpenBLAS and why OpenBLAS is not used.
 *
 * @example
 * ```ts
 * import { describeMatmulBackend } from "./matmul.ts";
 * const line = describeMatmulBackend(); // e.g. "OpenBLAS (libopenblas.so.0)"
 * if (!/^(OpenBLAS|WebAssembly|TypeScript)/.test(line)) throw new Error(line);
 * ```
 */
export function describeMatmulBackend(): string {
  const backend = matmulBackend();
  const blas = loadBlas();
  if (backend === "openblas") return `OpenBLAS (${blas!.path})`;
  const why = blas !== null ? "OpenBLAS loaded, a fallback forced" : blasUnavailableReason();
  if (backend === "typescript") return `TypeScript GEMM, ~25x slower than OpenBLAS (${why})`;
  const fma = wasmGemmVariant() === "relaxed" ? "relaxed-SIMD FMA" : "SIMD mul+add";
  const speed = wasmGemmFallbackNote().replace(/^.*\((~\d+x slower)\)$/, "$1");
  return `WebAssembly SIMD GEMM (${fma}, ${poolSize()} threads), ${speed} than OpenBLAS (${why})`;
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
 * otherwise; the WebAssembly (else TypeScript) GEMM/GEMV when BLAS is unavailable. `out`
 * (allocated when omitted) is overwritten and returned. Throws a `bad-shape` QuantlabError
 * naming the sizes when an array's length is not exactly what the sizes state.
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
  const backend = matmulBackend();
  if (batch === 1) {
    if (backend === "openblas") loadBlas()!.sgemv({ M: outF, N: inF, A: w, x, y });
    else if (backend !== "wasm" || !sgemvWasm({ M: outF, N: inF, A: w, x, y })) {
      gemv(outF, inF, w, x, y);
    }
  } else if (backend === "openblas") {
    loadBlas()!.sgemm({ transB: true, M: batch, N: outF, K: inF, A: x, B: w, C: y });
  } else if (
    backend !== "wasm" ||
    !sgemmWasm({ transB: true, M: batch, N: outF, K: inF, A: x, B: w, C: y })
  ) {
    gemmBlocked(batch, outF, inF, x, w, y, true);
  }
  return y;
}

/**
 * `C = alpha·op(A)·op(B) + beta·C` with the BLAS `sgemm` arguments (row-major; see
 * {@linkcode GemmArgs} for the defaults): OpenBLAS when available, else the WebAssembly SIMD
 * GEMM, else the TypeScript GEMM.
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
  const backend = matmulBackend();
  if (backend === "openblas") loadBlas()!.sgemm(args);
  else if (backend !== "wasm" || !sgemmWasm(args)) sgemmTs(args);
  return args.C;
}

/**
 * `C [N, N] += alpha·AᵀA` for A `[K, N]` (row-major), as far as the **upper triangle** (column ≥
 * row) goes: OpenBLAS `ssyrk` computes only that half (half the work of `sgemm`) and leaves the
 * lower triangle alone; without `ssyrk` (another backend, or a library without it) the full
 * product runs through {@linkcode sgemm}, so the lower triangle is then updated too. Callers read
 * the upper triangle (or mirror it). Returns C; `bad-shape` when A or C do not hold the sizes.
 *
 * @example
 * ```ts
 * import { syrkUpper } from "./matmul.ts";
 * // A = [[1, 2], [3, 4]] (K = 2 rows of N = 2): AᵀA = [[10, 14], [14, 20]]
 * const C = syrkUpper(2, 2, 1, new Float32Array([1, 2, 3, 4]), new Float32Array(4));
 * if (C[0] !== 10 || C[1] !== 14 || C[3] !== 20) throw new Error(C.join());
 * ```
 */
export function syrkUpper(
  N: number,
  K: number,
  alpha: number,
  A: Float32Array,
  C: Float32Array,
): Float32Array {
  checkSize("N", N);
  checkSize("K", K);
  if (A.length < K * N || C.length !== N * N) {
    throw new QuantlabError(
      "bad-shape",
      `syrkUpper: A holds ${A.length} values (K ${K} × N ${N} = ${K * N} needed) and C ` +
        `${C.length} (N × N = ${N * N} needed)`,
    );
  }
  const a = A.length === K * N ? A : A.subarray(0, K * N);
  if (matmulBackend() === "openblas" && loadBlas()!.ssyrkUpper(N, K, alpha, a, C)) return C;
  return sgemm({ transA: true, M: N, N, K, alpha, A: a, B: a, beta: 1, C });
}
