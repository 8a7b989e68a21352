/**
 * OpenBLAS through `Deno.dlopen`: `cblas_sgemm` and `cblas_sgemv` on Float32Arrays (row-major),
 * plus thread control. On this kind of machine OpenBLAS runs a 512³ sgemm at ~25× the speed of
 * the TypeScript GEMM in `gemm.ts`.
 *
 * {@linkcode loadBlas} looks for the library once and caches the answer. It tries, in order,
 * the path in the environment variable `QUANTLAB_BLAS`, then `libopenblas.so.0`,
 * `/usr/lib/x86_64-linux-gnu/libopenblas.so.0`, `libopenblas.so`, `libopenblas.dylib` and
 * `libblas.so.3`. `QUANTLAB_BLAS=none` turns BLAS off. When no library loads, when the process
 * lacks `--allow-ffi`, or when there is no `Deno` at all (a browser), it returns null and prints
 * one line to stderr, once; it never throws and never prompts for a permission.
 *
 * Arguments are checked in TypeScript before every native call (sizes, strides, array lengths,
 * overlap of output and inputs), so a wrong size is a `QuantlabError`, not a read past the end
 * of an array.
 *
 * @module
 */

import { type GemmArgs, type GemvArgs, resolveGemmArgs, resolveGemvArgs } from "./gemm_args.ts";
import { wasmGemmFallbackNote } from "./wasm_gemm.ts";

/** A loaded CBLAS library. All matrices are row-major. */
export interface Blas {
  /** The name or path the library was loaded from. */
  readonly path: string;
  /** `openblas_get_config()` (version, core, thread model), or null when the library lacks it. */
  readonly config: string | null;
  /** `C = alpha·op(A)·op(B) + beta·C` (`cblas_sgemm`), with the checks of `resolveGemmArgs`. */
  sgemm(args: GemmArgs): void;
  /** `y = alpha·op(A)·x + beta·y` (`cblas_sgemv`), with the checks of `resolveGemvArgs`. */
  sgemv(args: GemvArgs): void;
  /**
   * The upper triangle (row-major, column ≥ row) of `C [N, N] += alpha·AᵀA` for A `[K, N]`
   * (`cblas_ssyrk`: half the work of `sgemm` for a Gram matrix); the lower triangle is left
   * alone. False (nothing done) when the library has no `cblas_ssyrk`. Sizes are the caller's
   * to check (`syrkUpper` in `matmul.ts`).
   */
  ssyrkUpper(N: number, K: number, alpha: number, A: Float32Array, C: Float32Array): boolean;
  /** Sets the number of OpenBLAS threads; false when the library has no thread control. */
  setThreads(n: number): boolean;
  /** The number of OpenBLAS threads, or null when the library cannot tell. */
  getThreads(): number | null;
}

/** The library names tried after `QUANTLAB_BLAS`, in order. */
export const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "libopenblas.so",
  "libopenblas.dylib",
  "libblas.so.3",
];

const CblasRowMajor = 101;
const CblasNoTrans = 111;
const CblasTrans = 112;
const CblasUpper = 121;

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  cblas_sgemv: {
    parameters: [
      "i32", // order
      "i32", // trans
      "i32", // M
      "i32", // N
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // x
      "i32", // incx
      "f32", // beta
      "buffer", // y
      "i32", // incy
    ],
    result: "void",
  },
  cblas_ssyrk: {
    parameters: [
      "i32", // order
      "i32", // uplo
      "i32", // trans
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
    optional: true,
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

type BlasLib = Deno.DynamicLibrary<typeof SYMBOLS>;

let cached: Blas | null | undefined;
let unavailable: string | null = null;

/** Permission state without ever prompting; "denied" when the API itself is missing. */
function permission(desc: Deno.PermissionDescriptor): Deno.PermissionState {
  try {
    return Deno.permissions.querySync(desc).state;
  } catch {
    return "denied";
  }
}

/** The environment variable QUANTLAB_BLAS when it may be read without a prompt. */
function envBlas(): string | undefined {
  if (permission({ name: "env", variable: "QUANTLAB_BLAS" }) !== "granted") return undefined;
  try {
    const v = Deno.env.get("QUANTLAB_BLAS");
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  } catch {
    return undefined;
  }
}

function wrap(lib: BlasLib, path: string): Blas {
  const s = lib.symbols;
  let config: string | null = null;
  if (s.openblas_get_config !== null) {
    try {
      const p = s.openblas_get_config();
      config = p === null ? null : Deno.UnsafePointerView.getCString(p).trim();
    } catch {
      config = null;
    }
  }
  return {
    path,
    config,
    sgemm(args: GemmArgs): void {
      const a = resolveGemmArgs(args, "sgemm");
      const { M, N, K } = a;
      if (M === 0 || N === 0) return;
      if (K === 0 || a.alpha === 0) {
        // BLAS would only scale C here; do it in TypeScript and skip the lda/ldb edge cases.
        for (let m = 0; m < M; m++) {
          const row = m * a.ldc;
          if (a.beta === 0) a.C.fill(0, row, row + N);
          else if (a.beta !== 1) { for (let i = row; i < row + N; i++) a.C[i] = a.beta * a.C[i]!; }
        }
        return;
      }
      s.cblas_sgemm(
        CblasRowMajor,
        a.transA ? CblasTrans : CblasNoTrans,
        a.transB ? CblasTrans : CblasNoTrans,
        M,
        N,
        K,
        a.alpha,
        a.A,
        a.lda,
        a.B,
        a.ldb,
        a.beta,
        a.C,
        a.ldc,
      );
    },
    sgemv(args: GemvArgs): void {
      const a = resolveGemvArgs(args, "sgemv");
      const yLen = a.trans ? a.N : a.M;
      if (yLen === 0) return;
      if (a.beta === 0) {
        // Some OpenBLAS versions compute 0·y, which keeps a NaN from an uninitialized y.
        for (let i = 0; i < yLen; i++) a.y[i * a.incy] = 0;
      }
      if (a.M === 0 || a.N === 0 || a.alpha === 0) {
        if (a.beta !== 0 && a.beta !== 1) {
          for (let i = 0; i < yLen; i++) a.y[i * a.incy] = a.beta * a.y[i * a.incy]!;
        }
        return;
      }
      s.cblas_sgemv(
        CblasRowMajor,
        a.trans ? CblasTrans : CblasNoTrans,
        a.M,
        a.N,
        a.alpha,
        a.A,
        a.lda,
        a.x,
        a.incx,
        a.beta === 0 ? 1 : a.beta, // y is zero already: beta 1 skips OpenBLAS's scaling pass
        a.y,
        a.incy,
      );
    },
    ssyrkUpper(N: number, K: number, alpha: number, A: Float32Array, C: Float32Array): boolean {
      if (s.cblas_ssyrk === null) return false;
      if (N === 0 || K === 0 || alpha === 0) return true;
      s.cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, N, K, alpha, A, N, 1, C, N);
      return true;
    },
    setThreads(n: number): boolean {
      if (s.openblas_set_num_threads === null) return false;
      if (!Number.isInteger(n) || n < 1) return false;
      s.openblas_set_num_threads(n);
      return true;
    },
    getThreads(): number | null {
      return s.openblas_get_num_threads === null ? null : s.openblas_get_num_threads();
    },
  };
}

function tryLoad(): Blas | string {
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") {
    return "no Deno FFI in this runtime";
  }
  const env = envBlas();
  if (env !== undefined && env.toLowerCase() === "none") return "disabled by QUANTLAB_BLAS=none";
  const names = env === undefined ? [...BLAS_CANDIDATES] : [env, ...BLAS_CANDIDATES];
  const allFfi = permission({ name: "ffi" }) === "granted";
  const allowed = allFfi
    ? names
    : names.filter((p) => permission({ name: "ffi", path: p }) === "granted");
  if (allowed.length === 0) return "no --allow-ffi permission";
  let denied = 0;
  for (const path of allowed) {
    try {
      return wrap(Deno.dlopen(path, SYMBOLS), path);
    } catch (e) {
      // Not there, no cblas_sgemm/cblas_sgemv in it, or outside an --allow-ffi=<path> list.
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
        denied++;
      }
    }
  }
  if (denied === allowed.length) return "no --allow-ffi permission for the BLAS library";
  return env === undefined
    ? `none of ${BLAS_CANDIDATES.join(", ")} could be loaded`
    : `QUANTLAB_BLAS=${env} and ${BLAS_CANDIDATES.join(", ")} could not be loaded`;
}

/**
 * The CBLAS library, loaded on first call and cached, or null when it is unavailable (see the
 * module doc for the search order). On the first null it prints one line to stderr:
 * `quantlab: OpenBLAS not found (<reason>); using the WebAssembly SIMD GEMM (~2x slower).
 * Install libopenblas0-pthread.` (the TypeScript GEMM, ~25x slower, where WebAssembly SIMD is
 * missing; nothing when `QUANTLAB_BLAS=none` asked for it). Never throws.
 *
 * @example
 * ```ts
 * import { loadBlas } from "./blas.ts";
 * const blas = loadBlas();
 * if (blas !== null) {
 *   const C = new Float32Array(4);
 *   blas.sgemm({
 *     M: 2, N: 2, K: 2, A: new Float32Array([1, 2, 3, 4]), B: new Float32Array([1, 0, 0, 1]), C,
 *   });
 *   if (C.join() !== "1,2,3,4") throw new Error("unexpected");
 * }
 * ```
 */
export function loadBlas(): Blas | null {
  if (cached !== undefined) return cached;
  const got = tryLoad();
  if (typeof got === "string") {
    cached = null;
    unavailable = got;
    if (!got.startsWith("disabled")) {
      console.error(
        `quantlab: OpenBLAS not found (${got}); using ${wasmGemmFallbackNote()}. ` +
          "Install libopenblas0-pthread.",
      );
    }
  } else {
    cached = got;
  }
  return cached;
}

/**
 * Why {@linkcode loadBlas} returned null (e.g. `no --allow-ffi permission`), or null when BLAS
 * loaded or has not been looked for yet.
 *
 * @example
 * ```ts
 * import { blasUnavailableReason, loadBlas } from "./blas.ts";
 * if (loadBlas() === null && blasUnavailableReason() === null) throw new Error("unexpected");
 * ```
 */
export function blasUnavailableReason(): string | null {
  return unavailable;
}

/**
 * Sets the number of OpenBLAS threads (loading BLAS if needed). Returns false when BLAS is
 * unavailable or has no thread control. Set 1 inside pool workers that call BLAS concurrently.
 *
 * @example
 * ```ts
 * import { loadBlas, setBlasThreads } from "./blas.ts";
 * const before = loadBlas()?.getThreads() ?? null;
 * // Setting the current count keeps it (any other count would change it for the whole process).
 * if (before !== null && setBlasThreads(before) !== true) throw new Error("not set");
 * if (before !== null && loadBlas()!.getThreads() !== before) throw new Error("changed");
 * ```
 */
export function setBlasThreads(n: number): boolean {
  return loadBlas()?.setThreads(n) ?? false;
}
