import assert from "node:assert/strict";
import { fillNormal, randSign } from "../../src/core/prng.ts";
import { fwhtReference, hadamardMatrix } from "../../src/hadamard/reference.ts";

Deno.test("hadamardMatrix() satisfies H·H = n·I and is symmetric for n ≤ 256", () => {
  for (let n = 1; n <= 256; n *= 2) {
    const h = hadamardMatrix(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        assert.equal(h[i * n + j], h[j * n + i]);
        assert.equal(Math.abs(h[i * n + j]!), 1);
        let dot = 0;
        for (let k = 0; k < n; k++) dot += h[i * n + k]! * h[k * n + j]!;
        assert.equal(dot, i === j ? n : 0);
      }
    }
  }
});

Deno.test("hadamardMatrix() entries are (−1)^popcount(i & j)", () => {
  const n = 64;
  const h = hadamardMatrix(n);
  const pop = (v: number): number => v.toString(2).replaceAll("0", "").length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) assert.equal(h[i * n + j], pop(i & j) % 2 ? -1 : 1);
  }
});

Deno.test("fwhtReference() equals the Sylvester matrix product H·D·x/√n for every n ≤ 256", () => {
  for (let n = 2; n <= 256; n *= 2) {
    const h = hadamardMatrix(n);
    const rows = 2;
    const cols = 3 * n;
    const x = fillNormal(new Float32Array(rows * cols), n);
    for (const seed of [null, 11]) {
      const y = fwhtReference(x, rows, cols, { blockSize: n, seed }).data;
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < cols; b += n) {
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let j = 0; j < n; j++) {
              const sign = seed === null ? 1 : randSign(seed, b + j);
              s += h[i * n + j]! * sign * x[r * cols + b + j]!;
            }
            const want = Math.fround(s / Math.sqrt(n));
            const got = y[r * cols + b + i]!;
            assert.ok(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)), `n=${n} ${got} ${want}`);
          }
        }
      }
    }
  }
});

Deno.test("fwhtReference() inverse undoes the forward transform in both normalizations", () => {
  const x = fillNormal(new Float32Array(4 * 96), 3);
  for (const normalization of ["orthonormal", "unnormalized"] as const) {
    const opts = { blockSize: 32, seed: 5, normalization };
    const y = fwhtReference(x, 4, 96, opts).data;
    const z = fwhtReference(y, 4, 96, { ...opts, inverse: true }).data;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(z[i]! - x[i]!) < 1e-5);
  }
});
