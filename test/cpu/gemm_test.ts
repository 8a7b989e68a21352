import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { gemmBlocked, gemmReference, gemv, sgemmReference, sgemmTs } from "../../src/cpu/gemm.ts";
import { resolveGemmArgs } from "../../src/cpu/gemm_args.ts";
import { checkGemm } from "./gemm_helpers.ts";

Deno.test("gemmReference() computes a 2×3·3×2 product and its transposed-B form", () => {
  const A = new Float32Array([1, 2, 3, 4, 5, 6]);
  const B = new Float32Array([7, 8, 9, 10, 11, 12]); // 3×2
  assert.deepEqual(
    Array.from(gemmReference(2, 2, 3, A, B, new Float32Array(4))),
    [58, 64, 139, 154],
  );
  const Bt = new Float32Array([7, 9, 11, 8, 10, 12]); // the same B stored 2×3
  assert.deepEqual(
    Array.from(gemmReference(2, 2, 3, A, Bt, new Float32Array(4), true)),
    [58, 64, 139, 154],
  );
});

Deno.test("sgemmReference() applies transA, alpha and beta like BLAS", () => {
  const C = new Float32Array([1, 2]);
  // op(A) = [[1, 2]] stored as a 2×1 column; B = [[1, 2], [3, 4]]
  sgemmReference({
    transA: true,
    M: 1,
    N: 2,
    K: 2,
    alpha: 2,
    beta: -1,
    A: new Float32Array([1, 2]),
    B: new Float32Array([1, 2, 3, 4]),
    C,
  });
  assert.deepEqual(Array.from(C), [2 * 7 - 1, 2 * 10 - 2]);
});

Deno.test("gemmBlocked() matches the reference within 1e-5 on odd and large-K shapes", () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [33, 1, 65],
    [1, 37, 19],
    [9, 50, 3],
    [5, 97, 1000], // N crosses the 48-column blocks
    [18, 20, 1100], // K crosses the 512-deep blocks twice
  ];
  let seed = 10;
  for (const [M, N, K] of shapes) {
    for (const transB of [true, false]) {
      checkGemm(
        (a) => gemmBlocked(a.M, a.N, a.K, a.A, a.B, a.C, a.transB),
        {
          M,
          N,
          K,
          transB,
        },
        1e-5,
        seed++,
      );
    }
  }
});

Deno.test("sgemmTs() matches the reference for every transpose, alpha/beta, stride and view", () => {
  let seed = 100;
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [33, 1, 65], [3, 11, 9], [12, 53, 70]]) {
        checkGemm(
          sgemmTs,
          {
            transA,
            transB,
            M: M!,
            N: N!,
            K: K!,
            alpha: 0.75,
            beta: -0.5,
            pad: 3,
            off: 5,
          },
          1e-5,
          seed++,
        );
      }
    }
  }
  // alpha 0 and K 0 only scale C; beta 1 keeps it.
  checkGemm(sgemmTs, { M: 4, N: 5, K: 6, alpha: 0, beta: 2 }, 0);
  checkGemm(sgemmTs, { M: 4, N: 5, K: 0, beta: 0.5 }, 0);
  checkGemm(sgemmTs, { M: 6, N: 7, K: 8, transB: true, beta: 1 }, 1e-5);
});

Deno.test("sgemmTs() with beta 0 overwrites a C full of NaN", () => {
  for (const [M, transB] of [[2, false], [9, false], [9, true]] as const) {
    const C = new Float32Array(M * 4).fill(NaN);
    sgemmTs({
      transB,
      M,
      N: 4,
      K: 3,
      A: new Float32Array(M * 3).fill(1),
      B: new Float32Array(12).fill(1),
      C,
    });
    assert.ok(C.every((v) => v === 3), `M ${M} transB ${transB}: ${C}`);
  }
});

Deno.test("gemv() matches the reference for odd row counts and padded rows", () => {
  let seed = 200;
  for (const [M, K, lda] of [[1, 1, 1], [7, 13, 13], [33, 65, 70], [4, 1000, 1000]]) {
    const A = fillNormal(new Float32Array(M! * lda!), seed++);
    const x = fillNormal(new Float32Array(K!), seed++);
    const y = gemv(M!, K!, A, x, new Float32Array(M!).fill(NaN), lda);
    const want = new Float32Array(M!);
    sgemmReference({ transB: true, M: 1, N: M!, K: K!, A: x, B: A, ldb: lda, C: want });
    for (let i = 0; i < M!; i++) {
      assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)), `${M}×${K} at ${i}`);
    }
  }
});

Deno.test("gemm and gemv reject short arrays, bad strides and sizes with messages naming them", () => {
  const f = (n: number): Float32Array => new Float32Array(n);
  const expect = (fn: () => unknown, code: string, re: RegExp): void => {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof QuantlabError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, re);
      return true;
    });
  };
  expect(
    () => gemmBlocked(2, 3, 4, f(7), f(12), f(6)),
    "bad-shape",
    /A holds 7 values but 2×4 with lda = 4 needs 8/,
  );
  expect(
    () => gemmBlocked(2, 3, 4, f(8), f(12), f(5), true),
    "bad-shape",
    /C holds 5 values but 2×3 with ldc = 3 needs 6/,
  );
  expect(
    () => sgemmTs({ M: 2, N: 3, K: 4, A: f(8), B: f(12), C: f(6), ldb: 2 }),
    "bad-argument",
    /ldb = 2 is invalid for B stored as 4×3; use an integer ≥ 3/,
  );
  expect(
    () => sgemmTs({ M: -1, N: 3, K: 4, A: f(8), B: f(12), C: f(6) }),
    "bad-argument",
    /M = -1 is not a valid size/,
  );
  expect(
    () => resolveGemmArgs({ M: 2.5, N: 3, K: 4, A: f(8), B: f(12), C: f(6) }),
    "bad-argument",
    /M = 2.5/,
  );
  const buf = f(32);
  expect(
    () => sgemmTs({ M: 2, N: 2, K: 2, A: buf.subarray(0, 4), B: f(4), C: buf.subarray(2, 6) }),
    "bad-argument",
    /C overlaps A or B/,
  );
  expect(() => gemv(3, 4, f(12), f(3)), "bad-shape", /x holds 3 values but 4 entries/);
  expect(() => gemv(3, 4, f(12), f(4), f(2)), "bad-shape", /y holds 2 values but 3 entries/);
});
