import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { setPoolSize, sharedF32, shutdownPool } from "../../src/cpu/pool.ts";
import {
  checkBlockSize,
  type HadamardOptions,
  isPowerOfTwo,
  log2Exact,
} from "../../src/hadamard/common.ts";
import { fwhtInPlace, hadamard } from "../../src/hadamard/fwht.ts";
import { fwhtReference, hadamardMatrix } from "../../src/hadamard/reference.ts";

function maxRelErr(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / (scale || 1);
}

function norm(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

const isBad = (re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof QuantlabError, String(e));
  assert.match(e.message, re);
  return true;
};

Deno.test("fwhtInPlace() matches the Hadamard matrix for every n ≤ 256", () => {
  for (let n = 2; n <= 256; n *= 2) {
    const h = hadamardMatrix(n);
    const rows = 3;
    const cols = 2 * n;
    const x = fillNormal(new Float32Array(rows * cols), n);
    const y = fwhtInPlace(x.slice(), rows, cols, { blockSize: n, normalization: "unnormalized" });
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < cols; b += n) {
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < n; j++) s += h[i * n + j]! * x[r * cols + b + j]!;
          const got = y[r * cols + b + i]!;
          assert.ok(Math.abs(got - s) <= 1e-6 * (1 + Math.abs(s)), `n=${n}: ${got} vs ${s}`);
        }
      }
    }
  }
});

Deno.test("fwhtInPlace() applied twice unnormalized gives n·x (H·H = n·I)", () => {
  for (const n of [2, 8, 64, 1024, 4096]) {
    const x = fillNormal(new Float32Array(2 * n), 7);
    const y = x.slice();
    const opts: HadamardOptions = { blockSize: n, normalization: "unnormalized" };
    fwhtInPlace(y, 2, n, opts);
    fwhtInPlace(y, 2, n, opts);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i]! - n * x[i]!) < 1e-4 * n);
  }
});

Deno.test("fwhtInPlace() orthonormal preserves the norm of every block", () => {
  for (const n of [4, 128, 2048, 32768]) {
    const x = fillNormal(new Float32Array(2 * n), n, 0, 3);
    const y = fwhtInPlace(x.slice(), 1, 2 * n, { blockSize: n, seed: 9 });
    for (const b of [0, n]) {
      const a = norm(x, b, b + n);
      assert.ok(Math.abs(norm(y, b, b + n) - a) < 1e-6 * a);
    }
  }
});

Deno.test("fwhtInPlace() randomized then inverse returns the input within 1e-6 relative", () => {
  for (const n of [2, 16, 512, 4096, 32768]) {
    for (const normalization of ["orthonormal", "unnormalized"] as const) {
      const rows = n >= 4096 ? 1 : 5;
      const x = fillNormal(new Float32Array(rows * 2 * n), n + 1);
      const y = x.slice();
      fwhtInPlace(y, rows, 2 * n, { blockSize: n, seed: 123, normalization });
      assert.ok(maxRelErr(y, x) > 0.1); // it did something
      fwhtInPlace(y, rows, 2 * n, { blockSize: n, seed: 123, normalization, inverse: true });
      assert.ok(maxRelErr(y, x) < 1e-6, `n=${n} ${normalization}: ${maxRelErr(y, x)}`);
    }
  }
});

Deno.test("fwhtInPlace() matches fwhtReference() for every n from 2 to 32768", () => {
  for (let L = 1; L <= 15; L++) {
    const n = 1 << L;
    // rows = 1, several rows with many blocks per row, and a span crossing rows.
    const shapes: [number, number][] = n <= 64
      ? [[1, n], [7, 40 * n], [300, n]]
      : n <= 2048
      ? [[1, n], [3, 5 * n]]
      : [[1, n], [2, 2 * n]];
    for (const [rows, cols] of shapes) {
      for (const opts of [{}, { seed: 77 }, { seed: 77, inverse: true }]) {
        const all: HadamardOptions = { blockSize: n, ...opts };
        const x = fillNormal(new Float32Array(rows * cols), L * 31 + rows);
        const want = fwhtReference(x, rows, cols, all).data;
        const got = fwhtInPlace(x, rows, cols, all);
        const err = maxRelErr(got, want);
        assert.ok(err < 1e-6, `n=${n} [${rows}, ${cols}] ${JSON.stringify(opts)}: ${err}`);
      }
    }
  }
});

Deno.test("hadamard() on the worker pool equals fwhtInPlace()", async () => {
  setPoolSize(2);
  try {
    for (const [n, rows, cols, seed] of [[256, 600, 512, null], [32768, 4, 65536, 3]] as const) {
      const x = fillNormal(sharedF32(rows * cols), n);
      const want = fwhtInPlace(x.slice(), rows, cols, { blockSize: n, seed });
      const r = await hadamard(x, rows, cols, { blockSize: n, seed });
      assert.equal(r.data, x); // in place on a shared array
      assert.deepEqual(r.data, want);
      // A plain (non-shared) array is copied to the workers and back.
      const plain = fillNormal(new Float32Array(rows * cols), n);
      const r2 = await hadamard(plain, rows, cols, { blockSize: n, seed, inverse: true });
      assert.equal(r2.data, plain);
      assert.deepEqual(
        r2.data,
        fwhtInPlace(fillNormal(new Float32Array(rows * cols), n), rows, cols, {
          blockSize: n,
          seed,
          inverse: true,
        }),
      );
    }
  } finally {
    setPoolSize(undefined);
    shutdownPool();
  }
});

Deno.test("hadamard() zero-pads rows to whole blocks and says so", async () => {
  const x = fillNormal(new Float32Array(3 * 100), 1);
  const r = await hadamard(x, 3, 100, { blockSize: 64, seed: 2 });
  assert.deepEqual(
    { rows: r.rows, cols: r.cols, originalCols: r.originalCols, padded: r.padded },
    { rows: 3, cols: 128, originalCols: 100, padded: true },
  );
  assert.equal(r.data.length, 3 * 128);
  assert.ok(maxRelErr(r.data, fwhtReference(x, 3, 100, { blockSize: 64, seed: 2 }).data) < 1e-6);
  // The padded transform inverts back to the input followed by zeros.
  const back = fwhtInPlace(r.data.slice(), 3, 128, { blockSize: 64, seed: 2, inverse: true });
  for (let row = 0; row < 3; row++) {
    for (let c = 0; c < 128; c++) {
      const want = c < 100 ? x[row * 100 + c]! : 0;
      assert.ok(Math.abs(back[row * 128 + c]! - want) < 1e-6);
    }
  }
  const whole = await hadamard(new Float32Array(64), 1, 64, { blockSize: 64 });
  assert.equal(whole.padded, false);
  const small = await hadamard(new Float32Array([1, 1, 1]), 1, 3, { blockSize: 4 });
  assert.deepEqual([...small.data], [1.5, 0.5, 0.5, -0.5]);
});

Deno.test("Hadamard sizes that are not powers of two in [2, 32768] are refused", async () => {
  const x = new Float32Array(96);
  assert.throws(() => fwhtInPlace(x, 1, 96, { blockSize: 48 }), isBad(/48 is not a power of two/));
  assert.throws(() => fwhtInPlace(x, 1, 96, { blockSize: 65536 }), isBad(/65536 is above 32768/));
  assert.throws(() => fwhtInPlace(x, 1, 96, { blockSize: 1 }), isBad(/size 1 is below 2/));
  assert.throws(() => fwhtInPlace(x, 1, 96, { blockSize: 0 }), isBad(/size 0 is below 2/));
  assert.throws(() => fwhtInPlace(x, 1, 96, { blockSize: 2.5 }), isBad(/2.5 is not an integer/));
  await assert.rejects(() => hadamard(x, 1, 96, { blockSize: 3 }), isBad(/use 2, 4, …, 32768/));
  assert.equal(checkBlockSize(32768), 15);
  assert.ok(isPowerOfTwo(2) && !isPowerOfTwo(6) && !isPowerOfTwo(-4) && !isPowerOfTwo(0.5));
  assert.equal(log2Exact(4096), 12);
  assert.throws(() => log2Exact(12), QuantlabError);
});

Deno.test("Columns that are not a multiple of the block size are refused when strict", async () => {
  const x = new Float32Array(2 * 100);
  await assert.rejects(
    () => hadamard(x, 2, 100, { blockSize: 128, strict: true }),
    isBad(/Hadamard size 128 does not divide 100 columns/),
  );
  await assert.rejects(
    () => hadamard(x, 2, 100, { blockSize: 64, strict: true }),
    isBad(/does not divide 100 columns; pad the rows to 128/),
  );
  // The in-place transform cannot pad at all.
  assert.throws(() => fwhtInPlace(x, 2, 100, { blockSize: 64 }), isBad(/use hadamard\(\)/));
});

Deno.test("Inconsistent shapes and options are refused", () => {
  const x = new Float32Array(10);
  assert.throws(() => fwhtInPlace(x, 2, 4, { blockSize: 2 }), isBad(/holds 10 values.*needs 8/));
  assert.throws(() => fwhtInPlace(x, -1, 4, { blockSize: 2 }), isBad(/rows -1/));
  assert.throws(() => fwhtInPlace(x, 5, 2, { blockSize: 2, seed: -1 }), isBad(/seed -1/));
  assert.throws(
    () => fwhtInPlace(x, 5, 2, { blockSize: 2, normalization: "sqrt" as "orthonormal" }),
    isBad(/normalization "sqrt"/),
  );
});

Deno.test("NaN or Infinity in the input is refused, naming the first bad index", async () => {
  const x = fillNormal(new Float32Array(8 * 256), 4);
  x[700] = NaN;
  x[1500] = Infinity;
  assert.throws(
    () => fwhtInPlace(x.slice(), 8, 256, { blockSize: 64 }),
    isBad(/holds NaN at index 700 \(row 2, column 188\)/),
  );
  const y = x.slice();
  y[700] = 0;
  assert.throws(() => fwhtInPlace(y, 8, 256, { blockSize: 2 }), isBad(/Infinity at index 1500/));
  // Padded: the index is in the caller's [rows, cols] layout.
  const z = fillNormal(new Float32Array(3 * 100), 4);
  z[250] = -Infinity;
  await assert.rejects(
    () => hadamard(z, 3, 100, { blockSize: 64, seed: 1 }),
    isBad(/-Infinity at index 250 \(row 2, column 50\)/),
  );
  // On the pool, the first bad index across the workers' chunks.
  setPoolSize(2);
  try {
    const big = fillNormal(sharedF32(512 * 1024), 5);
    big[400_000] = NaN;
    big[100_000] = NaN;
    await assert.rejects(
      () => hadamard(big, 512, 1024, { blockSize: 1024 }),
      isBad(/NaN at index 100000 \(row 97, column 672\)/),
    );
  } finally {
    setPoolSize(undefined);
    shutdownPool();
  }
});
