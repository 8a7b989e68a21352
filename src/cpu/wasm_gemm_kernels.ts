// This module is browser compatible.
/**
 * The compiled WebAssembly SIMD SGEMM kernels (bytes in `gen/wasm_gemm_bytes.ts`, WAT from
 * `tools/gen_wasm_gemm.ts`) and the blocked loop that drives them, shared by the calling thread
 * and the helper threads of `wasm_gemm_threads.ts`.
 *
 * {@linkcode gemmWasmModule} picks the variant once: the relaxed-SIMD module (fused
 * multiply-add) when the engine validates it, else the plain-SIMD one, else none (no SIMD).
 * {@linkcode runRegion} computes a rectangle of C from operands already copied into the shared
 * memory, GotoBLAS-style: for each `NC`-column strip and `KC`-deep slice it packs B into
 * `NR`-column panels (L2), then for each `MC`-row block packs A into `MR`-row panels (alpha
 * folded in) and calls the micro-kernel over the block; C accumulates in a strip of the thread's
 * scratch and is copied to the shared output at the end of the strip.
 *
 * @module
 */
import { compileBase64Wasm } from "../core/wasm.ts";
import { WASM_GEMM_PLAIN_BASE64, WASM_GEMM_RELAXED_BASE64 } from "./gen/wasm_gemm_bytes.ts";

/** Rows of the micro-kernel's register block (must match the generator). */
export const MR = 6;
/** Columns of the micro-kernel's register block (must match the generator). */
export const NR = 8;
/** Depth of a packed slice: an `NR`-column panel of B is `KC·NR·4` = 8 KiB (L1). */
export const KC = 256;
/** Rows of A packed per block: `MC·KC·4` = 144 KiB (L2). */
export const MC = 144;
/** Columns of C per strip: a packed B slice is `KC·NC·4` = 512 KiB (L2). */
export const NC = 512;
/** Most rows of C per strip (a multiple of `MC`; bounds the strip buffer to `MB·NC·4` ≈ 4 MiB). */
export const MB = 14 * MC;

/** The exports of the kernel module (see `tools/gen_wasm_gemm.ts` for their contracts). */
export interface GemmKernels {
  block(
    ap: number,
    bp: number,
    c: number,
    ldc: number,
    mp: number,
    np: number,
    kc: number,
    acc: number,
  ): void;
  pack_a_rows(src: number, ld: number, rows: number, kc: number, dst: number, alpha: number): void;
  pack_a_cols(src: number, ld: number, kc: number, cols: number, dst: number, alpha: number): void;
  pack_b_rows(src: number, ld: number, rows: number, kc: number, dst: number, alpha: number): void;
  pack_b_cols(src: number, ld: number, kc: number, cols: number, dst: number, alpha: number): void;
  scale(p: number, n: number, beta: number): void;
  copy_rows(src: number, lds: number, dst: number, ldd: number, rows: number, cols: number): void;
  gemv_rows(
    a: number,
    lda: number,
    m: number,
    k: number,
    x: number,
    y: number,
    alpha: number,
    beta: number,
  ): void;
  gemv_cols(
    a: number,
    lda: number,
    m: number,
    n: number,
    x: number,
    y: number,
    alpha: number,
    beta: number,
    acc: number,
  ): void;
}

/** Which module: relaxed-SIMD FMA, plain SIMD, or none. */
export type GemmVariant = "relaxed" | "plain";

const modules = new Map<GemmVariant, WebAssembly.Module | null>();

/**
 * The compiled kernel module of a variant, or null when the engine rejects it; without an
 * argument the best the engine accepts (relaxed, else plain). Compiled once per variant.
 *
 * @example
 * ```ts
 * import { gemmWasmModule } from "./wasm_gemm_kernels.ts";
 * const best = gemmWasmModule();
 * if (best !== null && !(best.module instanceof WebAssembly.Module)) throw new Error();
 * ```
 */
export function gemmWasmModule(
  variant?: GemmVariant,
): { variant: GemmVariant; module: WebAssembly.Module } | null {
  for (const v of variant === undefined ? ["relaxed", "plain"] as const : [variant]) {
    if (!modules.has(v)) {
      modules.set(
        v,
        compileBase64Wasm(v === "relaxed" ? WASM_GEMM_RELAXED_BASE64 : WASM_GEMM_PLAIN_BASE64),
      );
    }
    const m = modules.get(v);
    if (m) return { variant: v, module: m };
  }
  return null;
}

/**
 * Instantiates a compiled kernel module on a shared memory.
 *
 * @example
 * ```ts
 * import { gemmWasmModule, instantiateGemm } from "./wasm_gemm_kernels.ts";
 * const m = gemmWasmModule();
 * if (m !== null) {
 *   const mem = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
 *   instantiateGemm(m.module, mem).scale(0, 4, 2);
 * }
 * ```
 */
export function instantiateGemm(module: WebAssembly.Module, mem: WebAssembly.Memory): GemmKernels {
  return new WebAssembly.Instance(module, { env: { mem } }).exports as unknown as GemmKernels;
}

/**
 * One product placed in the shared memory (byte offsets; leading dimensions in floats): A and B
 * as stored (compact copies), the `M×N` output with row stride N.
 */
export interface GemmJob {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  a: number;
  lda: number;
  b: number;
  ldb: number;
  c: number;
}

/** Bytes of scratch one thread needs: packed A block, packed B slice, C strip. */
export const SCRATCH_BYTES = 4 * (Math.ceil(MC / MR) * MR * KC + KC * NC + MB * NC) + 256;

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;

/**
 * Computes rows `[r0, r1)` and columns `[c0, c1)` of `C = alpha·op(A)·op(B) + beta·C` for a job in
 * the kernels' memory, using `SCRATCH_BYTES` at byte offset `scratch` (see the module doc).
 *
 * @example
 * ```ts
 * import { gemmWasmModule, instantiateGemm, runRegion, SCRATCH_BYTES } from "./wasm_gemm_kernels.ts";
 * const m = gemmWasmModule();
 * if (m !== null) {
 *   const pages = Math.ceil((SCRATCH_BYTES + 1024) / 65536);
 *   const mem = new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
 *   const f = new Float32Array(mem.buffer);
 *   f.set([1, 2, 3, 4], 0); // A 2×2 at byte 0
 *   f.set([1, 0, 0, 1], 4); // B 2×2 at byte 16
 *   const job = {
 *     transA: false, transB: false, M: 2, N: 2, K: 2, alpha: 1, beta: 0,
 *     a: 0, lda: 2, b: 16, ldb: 2, c: 32,
 *   };
 *   runRegion(instantiateGemm(m.module, mem), job, 0, 2, 0, 2, 1024);
 *   if (Array.from(f.subarray(8, 12)).join() !== "1,2,3,4") throw new Error("unexpected");
 * }
 * ```
 */
export function runRegion(
  k: GemmKernels,
  job: GemmJob,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  scratch: number,
): void {
  const { K, N, alpha, beta } = job;
  const ap = roundUp(scratch, 64);
  const bp = ap + 4 * Math.ceil(MC / MR) * MR * KC;
  const cs = bp + 4 * KC * NC;
  for (let mb0 = r0; mb0 < r1; mb0 += MB) {
    const mb = Math.min(MB, r1 - mb0);
    for (let n0 = c0; n0 < c1; n0 += NC) {
      const nc = Math.min(NC, c1 - n0);
      const ncp = roundUp(nc, NR);
      const ldcs = 4 * ncp;
      const cOut = job.c + 4 * (mb0 * N + n0);
      if (beta !== 0) {
        k.copy_rows(cOut, N, cs, ncp, mb, nc);
        k.scale(cs, mb * ncp, beta);
      }
      for (let k0 = 0; k0 < K; k0 += KC) {
        const kc = Math.min(KC, K - k0);
        if (job.transB) k.pack_b_rows(job.b + 4 * (n0 * job.ldb + k0), job.ldb, nc, kc, bp, 1);
        else k.pack_b_cols(job.b + 4 * (k0 * job.ldb + n0), job.ldb, kc, nc, bp, 1);
        const acc = k0 > 0 || beta !== 0 ? 1 : 0;
        for (let m0 = mb0; m0 < mb0 + mb; m0 += MC) {
          const mc = Math.min(MC, mb0 + mb - m0);
          if (job.transA) {
            k.pack_a_cols(job.a + 4 * (k0 * job.lda + m0), job.lda, kc, mc, ap, alpha);
          } else {
            k.pack_a_rows(job.a + 4 * (m0 * job.lda + k0), job.lda, mc, kc, ap, alpha);
          }
          k.block(ap, bp, cs + (m0 - mb0) * ldcs, ldcs, Math.ceil(mc / MR), ncp / NR, kc, acc);
        }
      }
      k.copy_rows(cs, ncp, cOut, N, mb, nc);
    }
  }
}
