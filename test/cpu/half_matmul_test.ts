import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { fromF16, toBf16, toF16 } from "../../src/core/dtype.ts";
import { forceGemmBackend, type GemmBackend } from "../../src/cpu/matmul.ts";
import { setWasmGemmThreads, wasmGemmVariant } from "../../src/cpu/wasm_gemm.ts";
import { loadBlas } from "../../src/cpu/blas.ts";
import { matmulHalf, matmulHalfReference, setHalfTileElements } from "../../src/cpu/half_matmul.ts";
import { HalfWidener, setWidenWasm, widenHalf } from "../../src/cpu/widen.ts";

/** Every 16-bit pattern, once. */
const ALL = new Uint16Array(65536).map((_, i) => i);

/** Bit patterns of f32 arrays (NaNs compared by payload). */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

for (const wasm of [true, false]) {
  Deno.test(`HalfWidener (${wasm ? "WebAssembly" : "TypeScript"}) widens every bf16 and f16 pattern exactly`, () => {
    setWidenWasm(wasm);
    try {
      const w = new HalfWidener(65536);
      assert.equal(w.wasm, wasm, "the SIMD kernels load here (Deno has WebAssembly SIMD)");
      // f16: the spec is core/dtype's table (normals, subnormals, ±0, ±Inf, NaN payloads).
      for (const dtype of ["F16", "BF16"] as const) {
        const want = bits(widenHalf(ALL, dtype));
        // An odd start and length: the kernels' 8-wide steps over a shifted, padded range.
        for (const [s, e] of [[0, 65536], [3, 65533], [65530, 65535], [7, 7]] as const) {
          const got = bits(w.widen(ALL, dtype, s, e).slice());
          assert.deepEqual(got, want.slice(s, e), `${dtype} [${s}, ${e})`);
        }
      }
      assert.equal(fromF16(new Uint16Array([0x0001]))[0], 2 ** -24);
      assert.throws(
        () => w.widen(new Uint16Array(70000), "BF16", 0, 65537),
        /exceeds the widening buffer/,
      );
      assert.throws(() => w.widen(ALL, "BF16", 65535, 65537), /not inside an array/);
    } finally {
      setWidenWasm(true);
    }
  });
}

/**
 * OpenBLAS sums a dot product in an order that depends on the call's shape (sgemv sums each
 * thread's last, fewer than 4, rows with another kernel; sgemm's blocking depends on N), so a
 * tile's outputs and the whole weight's may be summed in two orders: each order is within γ_K·Σ|x_i·w_i| of the exact dot product (γ_K = K·u/(1 − K·u), u = 2^−24;
 * Higham, Accuracy and Stability of Numerical Algorithms, §3.1), so the two differ by at most
 * twice that.
 */
function withinSumOrderBound(
  got: Float32Array,
  want: Float32Array,
  x: Float32Array,
  w: Float32Array,
  batch: number,
  K: number,
  what: string,
): void {
  const u = 2 ** -24, gamma = (K * u) / (1 - K * u);
  const N = got.length / batch;
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < N; o++) {
      let abs = 0;
      for (let i = 0; i < K; i++) abs += Math.abs(x[b * K + i]! * w[o * K + i]!);
      const d = Math.abs(got[b * N + o]! - want[b * N + o]!);
      assert.ok(d <= 2 * gamma * abs, `${what}: [${b}, ${o}] differs by ${d} > ${2 * gamma * abs}`);
    }
  }
}

/** The GEMM backends this machine can run. */
function backends(): GemmBackend[] {
  const out: GemmBackend[] = ["typescript"];
  if (wasmGemmVariant() !== null) out.push("wasm");
  if (loadBlas() !== null) out.push("openblas");
  return out;
}

Deno.test("matmulHalf() equals widen-then-matmul on odd shapes, batch 1/3/64: to the bit (TypeScript, WebAssembly; batch > 1), within the summation-order bound (OpenBLAS; batch 1)", () => {
  // Tiles of 16 rows cut the odd widths into several tiles and a short last one.
  const shapes: [number, number][] = [[37, 53], [100, 129], [1, 5], [300, 17]];
  setWasmGemmThreads(false);
  setHalfTileElements(16 * 130);
  try {
    let seed = 1;
    for (const backend of backends()) {
      forceGemmBackend(backend);
      for (const [outF, inF] of shapes) {
        const w32 = fillNormal(new Float32Array(outF * inF), seed++);
        for (const dtype of ["BF16", "F16"] as const) {
          const w = dtype === "BF16" ? toBf16(w32) : toF16(w32);
          for (const batch of [1, 3, 64]) {
            const x = fillNormal(new Float32Array(batch * inF), seed++);
            const want = matmulHalfReference(x, w, dtype, batch, inF, outF);
            const got = matmulHalf(x, w, dtype, batch, inF, outF);
            const what = `${backend} ${dtype} [${outF}, ${inF}] batch ${batch}`;
            // Batch 1 runs the 16-bit GEMV (half_gemv.ts): its own summation order.
            if (backend === "openblas" || batch === 1) {
              withinSumOrderBound(got, want, x, widenHalf(w, dtype), batch, inF, what);
            } else assert.deepEqual(bits(got), bits(want), what);
          }
        }
      }
    }
  } finally {
    forceGemmBackend(null);
    setHalfTileElements(null);
    setWasmGemmThreads(true);
  }
});

Deno.test("matmulHalf() names a wrong weight or output length", () => {
  const w = new Uint16Array(6);
  assert.throws(
    () => matmulHalf(new Float32Array(2), w, "BF16", 1, 2, 4),
    /w holds 6 values but outF 4 × inF 2 needs 8/,
  );
  assert.throws(
    () => matmulHalf(new Float32Array(2), w, "BF16", 1, 2, 3, new Float32Array(2)),
    /out holds 2 values but batch 1 × outF 3 needs 3/,
  );
});
