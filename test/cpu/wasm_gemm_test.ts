import assert from "node:assert/strict";
import { fillNormal, randUniform } from "../../src/core/prng.ts";
import { sgemmReference } from "../../src/cpu/gemm.ts";
import type { GemmArgs } from "../../src/cpu/gemm_args.ts";
import { setPoolSize } from "../../src/cpu/pool.ts";
import {
  setWasmGemmThreads,
  setWasmGemmVariant,
  sgemmWasm,
  sgemvWasm,
  wasmGemmHelpersReady,
  wasmGemmVariant,
} from "../../src/cpu/wasm_gemm.ts";
import { gemmWasmModule, KC, MB, MC, NC } from "../../src/cpu/wasm_gemm_kernels.ts";

const wasm = wasmGemmVariant() !== null;
const U = 2 ** -24;

/** A product on strided, offset views, with a sentinel frame around the C window. */
interface Case {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  pad: number;
}

interface Run {
  got: Float32Array;
  want: Float32Array;
  bound: Float64Array;
  ldc: number;
}

/**
 * Runs `impl` and the f64 reference on the same inputs. The bound per output is the standard
 * one for an f32 dot product summed in KC-deep blocks (a running sum of ≤ KC terms per block,
 * then ⌈K/KC⌉ block sums) plus the scaling: `|err| ≤ 2·(min(K, KC) + ⌈K/KC⌉ + 2)·u·(|alpha|·
 * Σ_k |a_k·b_k| + |beta·c|) + u·|C_ref|` with u = 2⁻²⁴ (the factor 2 covers the separate
 * rounding of product and sum without FMA, and of alpha·a in the packing).
 */
function run(impl: (a: GemmArgs) => void, c: Case, seed: number): Run {
  const { M, N, K, transA, transB, alpha, beta, pad } = c;
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];
  const lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
  const A = fillNormal(new Float32Array(3 + aRows * lda), seed).subarray(3);
  const B = fillNormal(new Float32Array(5 + bRows * ldb), seed + 1).subarray(5);
  const C0 = fillNormal(new Float32Array(M * ldc), seed + 2);
  for (let m = 0; m < M; m++) C0.fill(777, m * ldc + N, (m + 1) * ldc);
  const got = C0.slice(), want = C0.slice();
  const base = { transA, transB, M, N, K, alpha, beta, lda, ldb, ldc };
  impl({ ...base, A, B, C: got });
  sgemmReference({ ...base, A, B, C: want });
  const abs = new Float32Array(M * ldc);
  sgemmReference({
    ...base,
    alpha: Math.abs(alpha),
    beta: 0,
    A: A.map(Math.abs),
    B: B.map(Math.abs),
    C: abs,
  });
  const bound = new Float64Array(M * ldc);
  for (let i = 0; i < bound.length; i++) {
    const terms = Math.min(K, KC) + Math.ceil(K / KC) + 2;
    bound[i] = 2 * terms * U * (abs[i]! + Math.abs(beta * C0[i]!)) + U * Math.abs(want[i]!);
  }
  return { got, want, bound, ldc };
}

function assertWithin(r: Run, c: Case, what: string): void {
  for (let i = 0; i < r.got.length; i++) {
    if (i % r.ldc >= c.N) {
      assert.equal(
        r.got[i],
        777,
        `${what}: a value outside C changed at ${i} (${JSON.stringify(c)})`,
      );
      continue;
    }
    const err = Math.abs(r.got[i]! - r.want[i]!);
    assert.ok(
      err <= r.bound[i]!,
      `${what} ${JSON.stringify(c)} at ${i}: ${r.got[i]} vs ${r.want[i]} (|err| ${err} > ${
        r.bound[i]
      })`,
    );
  }
}

/** Sampled shapes: every dimension from 1 to 257, with the block edges. */
function shapes(n: number, seed: number): [number, number, number][] {
  let i = 0;
  const rnd = (): number => randUniform(seed, i++);
  const edge = [1, 2, 5, 6, 7, 8, 9, 143, 144, 145, 255, 256, 257];
  const pick = (): number =>
    rnd() < 0.4 ? edge[Math.floor(rnd() * edge.length)]! : 1 + Math.floor(rnd() * 257);
  const out: [number, number, number][] = [[1, 1, 1], [257, 257, 257], [6, 8, KC + 1]];
  while (out.length < n) out.push([pick(), pick(), pick()]);
  return out;
}

Deno.test({
  name:
    "sgemmWasm() matches the reference within f32 bounds for odd shapes, transposes, alpha/beta",
  ignore: !wasm,
  fn() {
    setWasmGemmThreads(false);
    try {
      let seed = 1;
      const scalars = [[1, 0], [-1.5, 0.25], [0.5, 1], [2, -1]] as const;
      for (const [M, N, K] of shapes(40, 7)) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const [alpha, beta] = scalars[seed % scalars.length]!;
            const c = { transA, transB, M, N, K, alpha, beta, pad: seed % 3 };
            assertWithin(run((a) => assert.ok(sgemmWasm(a)), c, seed++), c, "sgemmWasm");
          }
        }
      }
    } finally {
      setWasmGemmThreads(true);
    }
  },
});

Deno.test({
  name: "sgemmWasm() crosses its strip and block limits (N > NC, M > MB) and degenerate sizes",
  ignore: !wasm,
  fn() {
    setWasmGemmThreads(false);
    try {
      const big: Case[] = [
        { transA: false, transB: true, M: 7, N: NC + 37, K: 19, alpha: 1, beta: 0, pad: 1 },
        { transA: true, transB: false, M: MB + 11, N: 9, K: 5, alpha: 1, beta: 0.5, pad: 0 },
        {
          transA: false,
          transB: false,
          M: MC + 1,
          N: 17,
          K: 2 * KC + 3,
          alpha: 1,
          beta: 0,
          pad: 2,
        },
      ];
      big.forEach((c, i) => assertWithin(run((a) => void sgemmWasm(a), c, 100 + i), c, "big"));
      // K = 0 or alpha = 0 only scales C; beta 0 overwrites NaN.
      const C = new Float32Array([1, 2, NaN, 4]);
      sgemmWasm({ M: 2, N: 2, K: 0, A: new Float32Array(0), B: new Float32Array(0), C, beta: 0 });
      assert.deepEqual(Array.from(C), [0, 0, 0, 0]);
      const D = new Float32Array([1, 2]);
      sgemmWasm({
        M: 1,
        N: 2,
        K: 1,
        alpha: 0,
        beta: 3,
        A: new Float32Array(1),
        B: new Float32Array(2),
        C: D,
      });
      assert.deepEqual(Array.from(D), [3, 6]);
      const E = new Float32Array(4).fill(NaN);
      sgemmWasm({
        M: 2,
        N: 2,
        K: 1,
        A: new Float32Array([1, 2]),
        B: new Float32Array([3, 4]),
        C: E,
      });
      assert.deepEqual(Array.from(E), [3, 4, 6, 8]);
    } finally {
      setWasmGemmThreads(true);
    }
  },
});

Deno.test({
  name: "sgemmWasm() relaxed and plain variants each stay within the bound of the reference",
  ignore: gemmWasmModule("relaxed") === null || gemmWasmModule("plain") === null,
  fn() {
    setWasmGemmThreads(false);
    try {
      const c: Case = {
        transA: false,
        transB: true,
        M: 67,
        N: 45,
        K: 300,
        alpha: 1,
        beta: 0,
        pad: 0,
      };
      const results: Float32Array[] = [];
      for (const v of ["relaxed", "plain"] as const) {
        assert.ok(setWasmGemmVariant(v));
        assert.equal(wasmGemmVariant(), v);
        const r = run((a) => void sgemmWasm(a), c, 55);
        assertWithin(r, c, v);
        results.push(r.got);
        if (v === "plain") {
          // The two differ by at most the sum of their bounds.
          for (let i = 0; i < r.got.length; i++) {
            assert.ok(Math.abs(results[0]![i]! - r.got[i]!) <= 2 * r.bound[i]!, `variants at ${i}`);
          }
        }
      }
    } finally {
      setWasmGemmVariant(undefined);
      setWasmGemmThreads(true);
    }
  },
});

Deno.test({
  name: "sgemmWasm() on helper threads gives bit-identical results to one thread",
  ignore: !wasm,
  async fn() {
    setPoolSize(3);
    try {
      const A = fillNormal(new Float32Array(300 * 200), 1);
      const B = fillNormal(new Float32Array(200 * 250), 2);
      const args = (C: Float32Array, transB: boolean, M = 300): GemmArgs => ({
        transB,
        M,
        N: 250,
        K: 200,
        A,
        B,
        C,
        ...(transB ? {} : { ldb: 250 }),
      });
      const single: Float32Array[] = [];
      setWasmGemmThreads(false);
      for (const [t, M] of [[false, 300], [true, 300], [false, 20]] as const) {
        const C = new Float32Array(M * 250);
        sgemmWasm(args(C, t, M));
        single.push(C);
      }
      setWasmGemmThreads(true);
      sgemmWasm(args(new Float32Array(300 * 250), false)); // starts the helpers
      let ready = 0;
      // Under `deno test` the workers' modules are type-checked first: allow for a loaded machine.
      for (let i = 0; i < 600 && ready < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        ready = wasmGemmHelpersReady();
      }
      assert.equal(ready, 2, "the two helper threads did not start");
      let i = 0;
      for (const [t, M] of [[false, 300], [true, 300], [false, 20]] as const) {
        const C = new Float32Array(M * 250);
        sgemmWasm(args(C, t, M));
        assert.deepEqual(C, single[i++]);
      }
    } finally {
      setWasmGemmThreads(false);
      setWasmGemmThreads(true);
      setPoolSize(undefined);
    }
  },
});

Deno.test({
  name: "sgemvWasm() matches the reference with transposes, strides, alpha/beta and views",
  ignore: !wasm,
  fn() {
    let seed = 300;
    for (const trans of [false, true]) {
      for (const [M, N] of [[1, 1], [7, 13], [33, 65], [64, 3], [5, 70000]] as const) {
        for (const [inc, alpha, beta] of [[1, 1, 0], [2, 0.5, -1]] as const) {
          const lda = N + (inc - 1) * 3;
          const A = fillNormal(new Float32Array(5 + M * lda), seed++).subarray(5);
          const [xLen, yLen] = trans ? [M, N] : [N, M];
          const x = fillNormal(new Float32Array(3 + xLen * inc), seed++).subarray(3);
          const y = fillNormal(new Float32Array(yLen * inc), seed++);
          const before = y.slice();
          assert.ok(sgemvWasm({ trans, M, N, alpha, A, lda, x, incx: inc, beta, y, incy: inc }));
          for (let i = 0; i < yLen; i++) {
            let acc = 0, abs = 0;
            for (let j = 0; j < xLen; j++) {
              const p = (trans ? A[j * lda + i]! : A[i * lda + j]!) * x[j * inc]!;
              acc += p;
              abs += Math.abs(p);
            }
            const old = beta * before[i * inc]!;
            const want = alpha * acc + old;
            const bound = 2 * (xLen + 2) * U * (Math.abs(alpha) * abs + Math.abs(old)) +
              U * Math.abs(want);
            assert.ok(
              Math.abs(y[i * inc]! - want) <= bound,
              `trans ${trans} ${M}×${N} inc ${inc} at ${i}: ${y[i * inc]} vs ${want}`,
            );
          }
          for (let i = 0; i < y.length; i++) {
            if (i % inc !== 0) assert.equal(y[i], before[i], "a skipped entry of y changed");
          }
        }
      }
    }
  },
});
