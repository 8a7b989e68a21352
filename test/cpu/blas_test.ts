import assert from "node:assert/strict";
import { skipName } from "../skip.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { loadBlas } from "../../src/cpu/blas.ts";
import { sgemmReference } from "../../src/cpu/gemm.ts";
import {
  forceGemmBackend,
  forceTypeScriptGemm,
  matmul,
  matmulBackend,
  sgemm,
  syrkUpper,
} from "../../src/cpu/matmul.ts";
import { wasmGemmFallbackNote, wasmGemmVariant } from "../../src/cpu/wasm_gemm.ts";
import { checkGemm } from "./gemm_helpers.ts";

const blas = loadBlas();
const noBlas = blas === null;
/** The backend a process without OpenBLAS selects: WebAssembly SIMD where the engine has it. */
const fallback = wasmGemmVariant() === null ? "typescript" : "wasm";

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 1, 65],
  [1, 40, 17],
  [20, 30, 128],
];

Deno.test({
  name: skipName(
    "BLAS sgemm() matches the reference for every transpose, alpha/beta, stride and view",
    noBlas,
    "OpenBLAS (libopenblas0-pthread) is not installed",
  ),
  ignore: noBlas,
  fn() {
    let seed = 1;
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [M, N, K] of SHAPES) {
          checkGemm((a) => blas!.sgemm(a), { transA, transB, M, N, K }, 1e-5, seed++);
          checkGemm(
            (a) => blas!.sgemm(a),
            {
              transA,
              transB,
              M,
              N,
              K,
              alpha: -1.5,
              beta: 0.25,
              pad: 2,
              off: 7,
            },
            1e-5,
            seed++,
          );
        }
      }
    }
    // Degenerate sizes: only C is scaled (or nothing happens).
    checkGemm((a) => blas!.sgemm(a), { M: 3, N: 4, K: 0, beta: 0.5 }, 0);
    checkGemm((a) => blas!.sgemm(a), { M: 3, N: 4, K: 5, alpha: 0, beta: 2 }, 0);
    checkGemm((a) => blas!.sgemm(a), { M: 0, N: 4, K: 5 }, 0);
  },
});

Deno.test({
  name: skipName(
    "BLAS sgemm() and sgemv() with beta 0 overwrite an output full of NaN",
    noBlas,
    "OpenBLAS (libopenblas0-pthread) is not installed",
  ),
  ignore: noBlas,
  fn() {
    const C = new Float32Array(6).fill(NaN);
    blas!.sgemm({ M: 2, N: 3, K: 2, A: new Float32Array(4).fill(1), B: new Float32Array(6), C });
    assert.deepEqual(Array.from(C), [0, 0, 0, 0, 0, 0]);
    const y = new Float32Array(3).fill(NaN);
    blas!.sgemv({ M: 3, N: 2, A: new Float32Array(6).fill(1), x: new Float32Array([1, 2]), y });
    assert.deepEqual(Array.from(y), [3, 3, 3]);
  },
});

Deno.test({
  name: skipName(
    "BLAS sgemv() matches the reference with transposes, strides, alpha/beta and views",
    noBlas,
    "OpenBLAS (libopenblas0-pthread) is not installed",
  ),
  ignore: noBlas,
  fn() {
    let seed = 300;
    for (const trans of [false, true]) {
      for (const [M, N] of [[1, 1], [7, 13], [33, 65], [64, 3]] as const) {
        for (const [inc, alpha, beta] of [[1, 1, 0], [2, 0.5, -1]] as const) {
          const lda = N + (inc - 1) * 3;
          const A = fillNormal(new Float32Array(5 + M * lda), seed++).subarray(5);
          const [xLen, yLen] = trans ? [M, N] : [N, M];
          const x = fillNormal(new Float32Array(3 + xLen * inc), seed++).subarray(3);
          const yBuf = fillNormal(new Float32Array(4 + yLen * inc), seed++);
          const y = yBuf.subarray(4);
          const before = y.slice(), prefix = yBuf.slice(0, 4);
          blas!.sgemv({ trans, M, N, alpha, A, lda, x, incx: inc, beta, y, incy: inc });
          // Reference: y_i = alpha · Σ_j op(A)[i, j] x_j + beta · y_i
          for (let i = 0; i < yLen; i++) {
            let acc = 0;
            for (let j = 0; j < xLen; j++) {
              acc += (trans ? A[j * lda + i]! : A[i * lda + j]!) * x[j * inc]!;
            }
            const want = alpha * acc + (beta === 0 ? 0 : beta * before[i * inc]!);
            const got = y[i * inc]!;
            assert.ok(
              Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)),
              `trans ${trans} ${M}×${N} inc ${inc} at ${i}: ${got} vs ${want}`,
            );
          }
          for (let i = 0; i < y.length; i++) {
            if (i % inc !== 0) assert.equal(y[i], before[i], "a skipped entry of y changed");
          }
          assert.deepEqual(yBuf.slice(0, 4), prefix, "y was written before its view");
        }
      }
    }
  },
});

Deno.test({
  name: skipName(
    "BLAS calls reject arrays too short for their sizes before calling the library",
    noBlas,
    "OpenBLAS (libopenblas0-pthread) is not installed",
  ),
  ignore: noBlas,
  fn() {
    const f = (n: number): Float32Array => new Float32Array(n);
    assert.throws(
      () =>
        blas!.sgemm({ transB: true, M: 64, N: 64, K: 64, A: f(64 * 64), B: f(100), C: f(4096) }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-shape" &&
        /B holds 100 values but 64×64 with ldb = 64 needs 4096/.test(e.message),
    );
    assert.throws(
      () => blas!.sgemv({ M: 8, N: 8, A: f(64), x: f(8), y: f(8), incy: 2 }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-shape" &&
        /y holds 8 values but 8 entries with incy = 2 need 15/.test(e.message),
    );
  },
});

Deno.test({
  name: skipName(
    "BLAS reports its configuration and sets its thread count",
    noBlas,
    "OpenBLAS (libopenblas0-pthread) is not installed",
  ),
  ignore: noBlas,
  async fn() {
    // The thread count is process-wide and other files run matmuls in parallel: change it in a
    // child process, never in this one.
    const blasUrl = new URL("../../src/cpu/blas.ts", import.meta.url).href;
    const code = `import { loadBlas, setBlasThreads } from ${JSON.stringify(blasUrl)};
      const blas = loadBlas()!;
      const n = blas.getThreads();
      const set = n === null ? null : setBlasThreads(1);
      const one = blas.getThreads();
      if (n !== null) setBlasThreads(n);
      console.log(JSON.stringify({ n, set, one, back: blas.getThreads(), config: blas.config }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", code],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.ok(out.success, "The child process that sets the BLAS thread count failed");
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(blas!.getThreads(), r.n, "this process's thread count is untouched");
    if (r.n === null) return;
    assert.ok(r.n >= 1);
    assert.equal(r.set, true);
    assert.equal(r.one, 1);
    assert.equal(r.back, r.n);
    if (r.config !== null) assert.match(r.config, /\S/);
  },
});

Deno.test("matmul() computes x·wᵀ on both backends with the same results, batch 1 included", () => {
  let seed = 500;
  try {
    for (
      const [batch, inF, outF] of [[1, 1, 1], [1, 70, 33], [7, 13, 5], [33, 65, 1], [4, 256, 96]]
    ) {
      const x = fillNormal(new Float32Array(batch! * inF!), seed++);
      const w = fillNormal(new Float32Array(outF! * inF!), seed++);
      const want = new Float32Array(batch! * outF!);
      sgemmReference({ transB: true, M: batch!, N: outF!, K: inF!, A: x, B: w, C: want });
      const results: Float32Array[] = [];
      for (const force of [false, true]) {
        forceTypeScriptGemm(force);
        const out = new Float32Array(batch! * outF!).fill(NaN);
        assert.equal(matmul(x, w, batch!, inF!, outF!, out), out);
        results.push(out);
      }
      for (const got of results) {
        for (let i = 0; i < want.length; i++) {
          assert.ok(
            Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)),
            `${batch}×${inF}→${outF} at ${i}: ${got[i]} vs ${want[i]}`,
          );
        }
      }
    }
  } finally {
    forceTypeScriptGemm(false);
  }
});

Deno.test("matmul() accepts subarray views and empty sizes", () => {
  const buf = fillNormal(new Float32Array(200), 9);
  const x = buf.subarray(3, 3 + 2 * 5), w = buf.subarray(50, 50 + 4 * 5);
  const want = new Float32Array(8);
  sgemmReference({ transB: true, M: 2, N: 4, K: 5, A: x, B: w, C: want });
  const got = matmul(x, w, 2, 5, 4);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5);
  assert.equal(matmul(new Float32Array(0), new Float32Array(12), 0, 4, 3).length, 0);
  assert.deepEqual(Array.from(matmul(new Float32Array(0), new Float32Array(0), 2, 0, 3)), [
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("matmul() names the mismatched sizes in bad-shape errors", () => {
  const f = (n: number): Float32Array => new Float32Array(n);
  const expect = (fn: () => unknown, re: RegExp, code = "bad-shape"): void => {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof QuantlabError, String(e));
      assert.equal(e.code, code);
      assert.match(e.message, re);
      return true;
    });
  };
  expect(() => matmul(f(10), f(12), 2, 4, 3), /x holds 10 values but batch 2 × inF 4 needs 8/);
  expect(() => matmul(f(8), f(13), 2, 4, 3), /w holds 13 values but outF 3 × inF 4 needs 12/);
  expect(
    () => matmul(f(8), f(12), 2, 4, 3, f(5)),
    /out holds 5 values but batch 2 × outF 3 needs 6/,
  );
  expect(() => matmul(f(8), f(12), -2, 4, 3), /batch = -2 is not a valid size/, "bad-argument");
});

Deno.test("sgemm() gives the same results through BLAS and the forced TypeScript path", () => {
  try {
    for (const force of [false, true]) {
      forceTypeScriptGemm(force);
      assert.equal(matmulBackend(), force ? "typescript" : noBlas ? fallback : "openblas");
      let seed = 700;
      for (const [transA, transB] of [[false, false], [true, true], [false, true]] as const) {
        checkGemm(
          (a) => void sgemm(a),
          {
            transA,
            transB,
            M: 9,
            N: 11,
            K: 23,
            alpha: 2,
            beta: 0.5,
            pad: 1,
            off: 2,
          },
          1e-5,
          seed++,
        );
      }
    }
  } finally {
    forceTypeScriptGemm(false);
  }
});

/** Runs a small script in a fresh Deno with the given flags and environment. */
async function runScript(flags: string[], env: Record<string, string> = {}): Promise<{
  stdout: string;
  stderr: string;
}> {
  const url = new URL("../../src/cpu/matmul.ts", import.meta.url).href;
  const script = `import { matmul, matmulBackend } from ${JSON.stringify(url)};
const y = matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 1, 2, 0]), 2, 2, 2);
matmul(new Float32Array([1, 2]), new Float32Array([1, 1, 2, 0]), 1, 2, 2);
console.log(matmulBackend(), Array.from(y).join(","));`;
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/script.ts`;
    await Deno.writeTextFile(file, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, file],
      // QUANTLAB_BLAS/QUANTLAB_GEMM of this process must not leak into the child.
      env: { NO_COLOR: "1", QUANTLAB_BLAS: "", QUANTLAB_GEMM: "", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      stdout: new TextDecoder().decode(out.stdout).trim(),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("without --allow-ffi matmul() falls back to the WebAssembly GEMM with one notice", async () => {
  const { stdout, stderr } = await runScript(["--allow-env"]);
  assert.equal(stdout, `${fallback} 3,2,7,6`);
  assert.equal(
    stderr,
    "quantlab: OpenBLAS not found (no --allow-ffi permission); using " +
      `${wasmGemmFallbackNote()}. Install libopenblas0-pthread.\n`,
  );
  assert.match(
    stderr,
    fallback === "wasm" ? /WebAssembly SIMD GEMM \(~\d+x slower\)/ : /TypeScript/,
  );
});

Deno.test("QUANTLAB_BLAS=none hides BLAS silently; a wrong path falls through", async () => {
  const off = await runScript(["--allow-env", "--allow-ffi"], { QUANTLAB_BLAS: "none" });
  assert.deepEqual(off, { stdout: `${fallback} 3,2,7,6`, stderr: "" });
  const wrong = await runScript(["--allow-env", "--allow-ffi"], {
    QUANTLAB_BLAS: "/nonexistent/libopenblas.so",
  });
  const usual = await runScript(["--allow-env", "--allow-ffi"]);
  assert.match(usual.stdout, new RegExp(`^(openblas|${fallback}) 3,2,7,6$`));
  assert.equal(wrong.stdout, usual.stdout);
});

Deno.test("forceGemmBackend() picks each backend, and all three give the same products", () => {
  try {
    for (const batch of [1, 9]) {
      const want = new Float32Array(batch * 11);
      const x = fillNormal(new Float32Array(batch * 23), batch);
      const w = fillNormal(new Float32Array(11 * 23), 2);
      sgemmReference({ transB: true, M: batch, N: 11, K: 23, A: x, B: w, C: want });
      for (const b of ["openblas", "wasm", "typescript"] as const) {
        forceGemmBackend(b);
        const expected = b === "typescript"
          ? "typescript"
          : b === "wasm" || noBlas
          ? fallback
          : "openblas";
        assert.equal(matmulBackend(), expected);
        const got = matmul(x, w, batch, 23, 11);
        for (let i = 0; i < want.length; i++) {
          const ok = Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!));
          assert.ok(ok, `${b}, batch ${batch}, at ${i}`);
        }
      }
    }
  } finally {
    forceGemmBackend(null);
  }
});

Deno.test("QUANTLAB_GEMM forces a backend for a whole process", async () => {
  const flags = ["--allow-env", "--allow-ffi"];
  const ts = await runScript(flags, { QUANTLAB_BLAS: "none", QUANTLAB_GEMM: "typescript" });
  assert.deepEqual(ts, { stdout: "typescript 3,2,7,6", stderr: "" });
  const wasm = await runScript(flags, { QUANTLAB_GEMM: "wasm" });
  assert.equal(wasm.stdout, `${fallback} 3,2,7,6`);
});

Deno.test("syrkUpper() equals the reference AᵀA on the upper triangle on every backend", () => {
  // Odd sizes (N 1, 7, 33; K 1, 5, 64) and a subarray A with extra values behind it.
  let seed = 40;
  try {
    for (const b of ["openblas", "wasm", "typescript"] as const) {
      forceGemmBackend(b);
      for (const [N, K] of [[1, 1], [7, 5], [33, 64]] as const) {
        const A = fillNormal(new Float32Array(K * N + 3), seed++).subarray(0, K * N + 3);
        const C0 = fillNormal(new Float32Array(N * N), seed++);
        const want = C0.slice();
        sgemmReference({ transA: true, M: N, N, K, alpha: 2, A, B: A, beta: 1, C: want });
        const got = syrkUpper(N, K, 2, A, C0.slice());
        for (let i = 0; i < N; i++) {
          // OpenBLAS's ssyrk leaves the lower triangle as it was.
          if (b === "openblas" && !noBlas) {
            for (let j = 0; j < i; j++) assert.equal(got[i * N + j], C0[i * N + j]);
          }
          for (let j = i; j < N; j++) {
            const [g, w] = [got[i * N + j]!, want[i * N + j]!];
            assert.ok(Math.abs(g - w) <= 1e-5 * (1 + Math.abs(w)), `${b} ${N}×${K} [${i},${j}]`);
          }
        }
      }
    }
  } finally {
    forceGemmBackend(null);
  }
  assert.throws(
    () => syrkUpper(3, 2, 1, new Float32Array(5), new Float32Array(9)),
    (e: unknown) => e instanceof QuantlabError && e.code === "bad-shape",
  );
});
