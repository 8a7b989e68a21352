import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { toBf16, toF16 } from "../../src/core/dtype.ts";
import { gemvHalf, gemvHalfParallel } from "../../src/cpu/half_gemv.ts";
import { setPoolSize, shutdownPool, toShared } from "../../src/cpu/pool.ts";
import { matmulHalf, matmulHalfReference } from "../../src/cpu/half_matmul.ts";
import { setWidenWasm, widenHalf } from "../../src/cpu/widen.ts";

/** Bit patterns of an f32 array. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/**
 * Two summation orders of the same K products each lie within γ_K·Σ|x_i·w_i| of the exact dot
 * product (γ_K = K·u/(1 − K·u), u = 2^−24; Higham, Accuracy and Stability of Numerical
 * Algorithms, §3.1), so they differ by at most twice that.
 */
function assertWithinSumOrderBound(
  got: Float32Array,
  want: Float32Array,
  x: Float32Array,
  w: Float32Array,
  K: number,
  what: string,
): void {
  const u = 2 ** -24, gamma = (K * u) / (1 - K * u);
  for (let o = 0; o < got.length; o++) {
    let abs = 0;
    for (let i = 0; i < K; i++) abs += Math.abs(x[i]! * w[o * K + i]!);
    const d = Math.abs(got[o]! - want[o]!);
    assert.ok(d <= 2 * gamma * abs, `${what}: [${o}] differs by ${d} > ${2 * gamma * abs}`);
  }
}

Deno.test("gemvHalf() equals widen-then-matmul within the summation-order bound on odd shapes", () => {
  // Widths below, at and past a block of 8 and a 4-row group; outF crosses the staged chunks
  // (64 Ki weights: 4096 rows of 16 weights) with a short last chunk and a 1-3 row remainder.
  const shapes: [number, number][] = [[1, 1], [3, 7], [5, 8], [37, 53], [6, 100], [4099, 16]];
  let seed = 11;
  for (const [outF, inF] of shapes) {
    const w32 = fillNormal(new Float32Array(outF * inF), seed++);
    for (const dtype of ["BF16", "F16"] as const) {
      const w = dtype === "BF16" ? toBf16(w32) : toF16(w32);
      const x = fillNormal(new Float32Array(inF), seed++);
      const want = matmulHalfReference(x, w, dtype, 1, inF, outF);
      const got = new Float32Array(outF).fill(NaN);
      assert.ok(gemvHalf(x, w, dtype, inF, outF, got), "the WebAssembly kernels load here");
      const what = `${dtype} [${outF}, ${inF}]`;
      assertWithinSumOrderBound(got, want, x, widenHalf(w, dtype), inF, what);
    }
  }
});

Deno.test("gemvHalf() widens every bf16 and f16 pattern exactly, in an even and an odd lane", () => {
  // Row p holds pattern p in lane p % 8 and +0 elsewhere; x is all ones, so y[p] = widen(p) + 0s:
  // exactly the pattern's value (NaN stays NaN; −0 + +0 is +0, equal as a number).
  const n = 65536, K = 8;
  const w = new Uint16Array(n * K);
  for (let p = 0; p < n; p++) w[p * K + (p % 8)] = p;
  const x = new Float32Array(K).fill(1);
  for (const dtype of ["BF16", "F16"] as const) {
    const want = widenHalf(new Uint16Array(n).map((_, i) => i), dtype);
    const y = new Float32Array(n);
    assert.ok(gemvHalf(x, w, dtype, K, n, y));
    for (let p = 0; p < n; p++) {
      if (Number.isNaN(want[p])) assert.ok(Number.isNaN(y[p]), `${dtype} 0x${p.toString(16)}`);
      else assert.ok(y[p] === want[p], `${dtype} 0x${p.toString(16)}: ${y[p]} ≠ ${want[p]}`);
    }
  }
});

Deno.test("matmulHalf() at batch 1 without the WebAssembly kernels widens and runs the GEMM", () => {
  const w = toBf16(fillNormal(new Float32Array(5 * 9), 3));
  const x = fillNormal(new Float32Array(9), 4);
  setWidenWasm(false);
  try {
    assert.equal(gemvHalf(x, w, "BF16", 9, 5, new Float32Array(5)), false);
    const got = matmulHalf(x, w, "BF16", 1, 9, 5);
    assertWithinSumOrderBound(
      got,
      matmulHalfReference(x, w, "BF16", 1, 9, 5),
      x,
      widenHalf(w, "BF16"),
      9,
      "fallback",
    );
  } finally {
    setWidenWasm(true);
  }
});

Deno.test("gemvHalfParallel() on the pool equals gemvHalf() on one thread to the bit; small (2^20 − 1024) or unshared weights stay on the caller", async () => {
  // With the threshold at 2^20 weights (the default, 2^26, is an LM head): 1024 rows of 1024, and
  // an odd width past it.
  const M = 1 << 20;
  try {
    for (const [outF, inF] of [[1024, 1024], [2053, 515]] as const) {
      const w32 = fillNormal(new Float32Array(outF * inF), outF);
      for (const dtype of ["BF16", "F16"] as const) {
        const w = toShared(dtype === "BF16" ? toBf16(w32) : toF16(w32));
        const x = fillNormal(new Float32Array(inF), inF);
        const single = new Float32Array(outF);
        assert.ok(gemvHalf(x, w, dtype, inF, outF, single));
        setPoolSize(2);
        const p = gemvHalfParallel(x, w, dtype, inF, outF, new Float32Array(outF), M);
        assert.ok(p !== null, "a shared weight of ≥ 2^20 values goes to the pool");
        assert.deepEqual(bits(await p), bits(single), `${dtype} [${outF}, ${inF}]`);
        const unshared = new Uint16Array(w);
        assert.equal(gemvHalfParallel(x, unshared, dtype, inF, outF, single, M), null);
        setPoolSize(1);
        assert.equal(gemvHalfParallel(x, w, dtype, inF, outF, single, M), null);
      }
    }
    setPoolSize(2);
    const small = toShared(new Uint16Array(1023 * 1024));
    assert.equal(
      gemvHalfParallel(
        new Float32Array(1024),
        small,
        "BF16",
        1024,
        1023,
        new Float32Array(1023),
        M,
      ),
      null,
    );
  } finally {
    setPoolSize(undefined);
    shutdownPool();
  }
});
