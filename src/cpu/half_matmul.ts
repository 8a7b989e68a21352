// This module is browser compatible.
/**
 * `nn.Linear` products on weights kept in their stored 16-bit form (bf16 or f16): the weight
 * `[outF, inF]` is widened a tile of rows at a time into one reused f32 buffer
 * (`widen.ts`), and each tile runs through {@linkcode matmul} (OpenBLAS, the WebAssembly GEMM
 * or the TypeScript one), so memory holds the 16-bit weight plus one tile, never its f32 copy.
 *
 * Equality with the specification (widen the whole weight, then {@linkcode matmul}): a tile is
 * the same product over the full `inF` for fewer output rows, so each output is the same dot
 * product of the same f32 values; only its summation order is the GEMM's choice. The
 * WebAssembly and TypeScript GEMMs sum each output in an order independent of the number of
 * rows, so the results are equal to the bit; OpenBLAS picks its order by the call's shape
 * (sgemv sums each thread's last few rows with another kernel, sgemm blocks by N), so an output
 * may differ in its last bits, within twice the summation bound γ_K·Σ|x_i·w_i| (γ_K = K·u /
 * (1 − K·u), u = 2^−24). `test/cpu/half_matmul_test.ts` checks both on odd shapes. Tiles hold a
 * multiple of 16 rows (GEMM kernels work on row blocks).
 *
 * Batch 1 (a decode step) widens nothing: `half_gemv.ts` reads the 16-bit weights directly (half
 * the bytes of the f32 path's `sgemv`), within the same summation-order bound on every backend.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { gemvHalf } from "./half_gemv.ts";
import { matmul, matmulBackend, sgemm } from "./matmul.ts";
import { type HalfDType, HalfWidener, widenHalf } from "./widen.ts";

/**
 * Default size of the widened tile: 16 Mi f32 (64 MiB, plus 64 KiB of 16-bit staging). Each tile
 * is one BLAS call, and each call synchronises OpenBLAS's threads, which costs a scheduler slice on
 * a busy machine: on the loaded 2-core VM, 1 Mi tiles made a Llama-3.2-1B prefill 3× slower than
 * 4 Mi ones, and once the widening got cheaper 4 Mi tiles (16 calls per layer, 63 for the LM head)
 * ran a window in ~2× the wall time of 16 Mi ones (7 calls per layer, as many as the f32 path; 16
 * for the head) for the same CPU time (`bench/bf16_big.ts --tile`, docs/performance.md). The
 * buffer adds 64 MiB to a model's memory (1.09 → 1.11 × the 1B checkpoint).
 */
export const DEFAULT_TILE_ELEMENTS = 1 << 24;

let tileElements = DEFAULT_TILE_ELEMENTS;
let widener: HalfWidener | null = null;
/**
 * The `[batch, rows]` block of a tile's product, kept across calls: a fresh megabyte-sized array
 * per call costs page faults (~0.1 ms each on the loaded VM) until the allocator starts reusing
 * freed blocks, which made a process's first prefill window several times slower.
 */
let stageBuf: Float32Array | null = null;

/**
 * Sets the tile size of {@linkcode matmulHalf} in f32 elements (the bench's knob; null: the
 * default {@linkcode DEFAULT_TILE_ELEMENTS}).
 *
 * @example
 * ```ts
 * import { halfTileElements, setHalfTileElements } from "./half_matmul.ts";
 * setHalfTileElements(4096);
 * if (halfTileElements() !== 4096) throw new Error();
 * setHalfTileElements(null);
 * ```
 */
export function setHalfTileElements(n: number | null): void {
  if (n !== null && !(Number.isSafeInteger(n) && n >= 1 && n <= 2 ** 28)) {
    throw new QuantlabError("bad-argument", `Tile of ${n} elements is not valid; use 1 to 2^28`);
  }
  tileElements = n ?? DEFAULT_TILE_ELEMENTS;
  widener = null;
}

/**
 * The tile size {@linkcode matmulHalf} uses, in f32 elements.
 *
 * @example
 * ```ts
 * import { DEFAULT_TILE_ELEMENTS, halfTileElements } from "./half_matmul.ts";
 * if (halfTileElements() !== DEFAULT_TILE_ELEMENTS) throw new Error();
 * ```
 */
export function halfTileElements(): number {
  return tileElements;
}

/** Rows per tile for width `inF`: a multiple of 16 that fits the tile, at least one block. */
export function halfTileRows(inF: number, outF: number): number {
  const fit = Math.floor(tileElements / Math.max(1, inF));
  const rows = fit >= 16 ? fit - (fit % 16) : Math.max(1, fit);
  return Math.min(rows, Math.max(1, outF));
}

/** The module's widener, (re)made to hold `n` elements. */
function widenerFor(n: number): HalfWidener {
  if (widener === null || widener.capacity < n) widener = new HalfWidener(Math.max(n, 16));
  return widener;
}

/**
 * Makes the buffer {@linkcode matmulHalf} will use for a `[outF, inF]` weight now (a model calls
 * this while loading, so the widening kernels are compiled and warm before the first product).
 *
 * @example
 * ```ts
 * import { prepareMatmulHalf } from "./half_matmul.ts";
 * prepareMatmulHalf(64, 32);
 * ```
 */
export function prepareMatmulHalf(outF: number, inF: number): void {
  if (outF > 0 && inF > 0) widenerFor(halfTileRows(inF, outF) * inF);
}

/**
 * The specification of {@linkcode matmulHalf}: widen all of `w`, then {@linkcode matmul}.
 *
 * @example
 * ```ts
 * import { matmulHalfReference } from "./half_matmul.ts";
 * const w = new Uint16Array([0x3f80, 0x0000, 0x4000, 0x3f80]); // bf16 [[1, 0], [2, 1]]
 * const y = matmulHalfReference(new Float32Array([3, 4]), w, "BF16", 1, 2, 2);
 * if (y.join() !== "3,10") throw new Error(y.join());
 * ```
 */
export function matmulHalfReference(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  batch: number,
  inF: number,
  outF: number,
  out?: Float32Array,
): Float32Array {
  return matmul(x, widenHalf(w, dtype), batch, inF, outF, out);
}

/**
 * `out[b, o] = Σ_i x[b, i] · w[o, i]` with the weight `[outF, inF]` stored as 16-bit `dtype`
 * bit patterns, widened a tile of rows at a time (see the module doc). `out` (allocated when
 * omitted) is overwritten and returned.
 *
 * @example
 * ```ts
 * import { matmulHalf } from "./half_matmul.ts";
 * const w = new Uint16Array([0x3c00, 0x0000, 0x4000, 0x3c00]); // f16 [[1, 0], [2, 1]]
 * const y = matmulHalf(new Float32Array([3, 4, 1, 1]), w, "F16", 2, 2, 2);
 * if (y.join() !== "3,10,1,3") throw new Error(y.join());
 * ```
 */
export function matmulHalf(
  x: Float32Array,
  w: Uint16Array,
  dtype: HalfDType,
  batch: number,
  inF: number,
  outF: number,
  out?: Float32Array,
): Float32Array {
  if (w.length !== outF * inF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: w holds ${w.length} values but outF ${outF} × inF ${inF} needs ${outF * inF}`,
    );
  }
  const y = out ?? new Float32Array(batch * outF);
  if (y.length !== batch * outF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: out holds ${y.length} values but batch ${batch} × outF ${outF} needs ` +
        `${batch * outF}`,
    );
  }
  if (x.length !== batch * inF) {
    throw new QuantlabError(
      "bad-shape",
      `matmul: x holds ${x.length} values but batch ${batch} × inF ${inF} needs ${batch * inF}`,
    );
  }
  if (batch === 0 || outF === 0) return y;
  if (inF === 0) return y.fill(0);
  if (batch === 1 && gemvHalf(x, w, dtype, inF, outF, y)) return y;
  const rows = halfTileRows(inF, outF);
  const wid = widenerFor(rows * inF);
  // OpenBLAS writes each tile's [batch, rows] product straight into its columns of y (ldc =
  // outF); the other GEMMs take no ldc in `matmul`, so their product lands in a staging block.
  const direct = batch > 1 && matmulBackend() === "openblas";
  if (batch > 1 && !direct && (stageBuf === null || stageBuf.length < batch * rows)) {
    stageBuf = new Float32Array(batch * rows);
  }
  const stage = batch > 1 && !direct ? stageBuf! : null;
  for (let r0 = 0; r0 < outF; r0 += rows) {
    const n = Math.min(rows, outF - r0);
    const tile = wid.widen(w, dtype, r0 * inF, (r0 + n) * inF);
    if (direct) {
      sgemm({ transB: true, M: batch, N: n, K: inF, A: x, B: tile, C: y.subarray(r0), ldc: outF });
      continue;
    }
    if (stage === null) {
      matmul(x, tile, 1, inF, n, y.subarray(r0, r0 + n));
      continue;
    }
    const part = stage.subarray(0, batch * n);
    matmul(x, tile, batch, inF, n, part);
    for (let b = 0; b < batch; b++) y.set(part.subarray(b * n, (b + 1) * n), b * outF + r0);
  }
  return y;
}
