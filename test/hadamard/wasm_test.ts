import assert from "node:assert/strict";
import { skipName } from "../skip.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { setPoolSize, sharedF32, shutdownPool } from "../../src/cpu/pool.ts";
import { WASM_SUB_LOG, wasmPlan } from "../../tools/gen_hadamard_wasm.ts";
import type { HadamardOptions } from "../../src/hadamard/common.ts";
import {
  fwhtBlocksTs,
  fwhtInPlace,
  hadamard,
  hadamardWasmActive,
  setHadamardWasm,
} from "../../src/hadamard/fwht.ts";
import { fwhtBlocksWasm, fwhtWasmAvailable } from "../../src/hadamard/fwht_wasm.ts";
import { fwhtReference } from "../../src/hadamard/reference.ts";

const wasm = fwhtWasmAvailable();

/** `fwhtInPlace` on a copy with the WebAssembly kernels on or off. */
function run(ws: boolean, x: Float32Array, rows: number, cols: number, o: HadamardOptions) {
  setHadamardWasm(ws);
  try {
    return fwhtInPlace(x.slice(), rows, cols, o);
  } finally {
    setHadamardWasm(true);
  }
}

/** The index of the first differing value (bitwise, as f32), or −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / (scale || 1);
}

const MODES: HadamardOptions[] = [
  { blockSize: 0 },
  { blockSize: 0, normalization: "unnormalized" },
  { blockSize: 0, inverse: true },
  { blockSize: 0, seed: 77 },
  { blockSize: 0, seed: 77, inverse: true },
  { blockSize: 0, seed: 0xffffffff, normalization: "unnormalized", inverse: true },
];

Deno.test("wasmPlan() covers every bit of the block exactly once", () => {
  for (let L = 1; L <= 15; L++) {
    const p = wasmPlan(L);
    const passes: [number, number][] = [[p.load, 0], ...p.mids, ...(p.store[0] ? [p.store] : [])];
    let next = 0;
    for (const [r, b] of passes) {
      assert.equal(b, next, `L=${L}`);
      assert.ok(r >= 1 && r <= (b === 0 ? 4 : 3));
      // No pass straddles the sub-block boundary.
      assert.ok(b >= WASM_SUB_LOG || b + r <= WASM_SUB_LOG);
      next += r;
    }
    assert.equal(next, L);
  }
});

Deno.test("WebAssembly SIMD runs here and is on by default", () => {
  // Deno's V8 has had WebAssembly SIMD for years: a failure here means the module is broken.
  assert.ok(wasm, "the WebAssembly module did not validate");
  assert.ok(hadamardWasmActive());
  setHadamardWasm(false);
  assert.ok(!hadamardWasmActive());
  setHadamardWasm(true);
});

Deno.test({
  name: skipName(
    "WebAssembly and TypeScript kernels agree bit for bit for every n, shape and mode",
    !wasm,
    "this runtime has no WebAssembly",
  ),
  ignore: !wasm,
  fn() {
    for (let L = 1; L <= 15; L++) {
      const n = 1 << L;
      // rows = 1; odd row counts; many blocks per row; spans and chunks crossing rows at
      // columns that are not multiples of the span (3n, 5n); a column count below the span.
      const shapes: [number, number][] = n <= 64
        ? [[1, n], [7, 40 * n], [301, n], [5, 3 * n]]
        : n <= 2048
        ? [[1, n], [3, 5 * n], [9, 3 * n]]
        : n <= 8192
        ? [[1, n], [3, 3 * n]]
        : [[1, n], [3, n]];
      for (const [rows, cols] of shapes) {
        const x = fillNormal(new Float32Array(rows * cols), L * 131 + rows, 0, 2);
        for (const m of MODES) {
          const o = { ...m, blockSize: n };
          const ts = run(false, x, rows, cols, o);
          const ws = run(true, x, rows, cols, o);
          const d = firstDiff(ws, ts);
          assert.equal(
            d,
            -1,
            `n=${n} [${rows}, ${cols}] ${JSON.stringify(m)}: ${ws[d]} vs ${ts[d]}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: skipName(
    "The WebAssembly kernels match fwhtReference() within 1e-6 and invert exactly enough",
    !wasm,
    "this runtime has no WebAssembly",
  ),
  ignore: !wasm,
  fn() {
    for (let L = 1; L <= 15; L++) {
      const n = 1 << L;
      const rows = L <= 10 ? 5 : 1;
      const cols = 3 * n;
      const x = fillNormal(new Float32Array(rows * cols), L);
      for (const m of MODES) {
        const o = { ...m, blockSize: n };
        const got = run(true, x, rows, cols, o);
        const err = maxRelErr(got, fwhtReference(x, rows, cols, o).data);
        assert.ok(err < 1e-6, `n=${n} ${JSON.stringify(m)}: ${err}`);
        if (m.inverse) continue;
        const back = run(true, got, rows, cols, { ...o, inverse: true });
        assert.ok(maxRelErr(back, x) < 1e-6, `n=${n} ${JSON.stringify(m)} round trip`);
      }
    }
  },
});

Deno.test({
  name: skipName(
    "fwhtBlocksWasm() stops before the span holding a NaN; fwhtInPlace() names it",
    !wasm,
    "this runtime has no WebAssembly",
  ),
  ignore: !wasm,
  fn() {
    const cases: [number, number, number, number][] = [[64, 300, 256, 40_000], [
      1024,
      40,
      2048,
      50_000,
    ]];
    for (const [n, rows, cols, bad] of cases) {
      const x = fillNormal(new Float32Array(rows * cols), n);
      x[bad] = NaN;
      const y = x.slice();
      const blocks = (rows * cols) / n;
      const stop = fwhtBlocksWasm(y, cols, Math.log2(n), 1, 1, 5, 0, blocks);
      assert.ok(stop <= Math.floor(bad / n) && stop > 0, `stopped at block ${stop}`);
      // Blocks before `stop` are transformed, the rest untouched.
      const want = x.slice();
      fwhtBlocksTs(want, cols, Math.log2(n), 1, 1, 5, 0, stop);
      assert.equal(firstDiff(y, want), -1);
      // Through the public entry point: the same error as TypeScript, and the bad block and
      // later ones untouched (earlier blocks of the bad span may be left undone, as there).
      for (const ws of [true, false]) {
        const z = x.slice();
        setHadamardWasm(ws);
        try {
          assert.throws(
            () => fwhtInPlace(z, rows, cols, { blockSize: n, seed: 5 }),
            (e) => e instanceof QuantlabError && e.message.includes(`NaN at index ${bad} (`),
          );
        } finally {
          setHadamardWasm(true);
        }
        const from = Math.floor(bad / n) * n;
        assert.equal(firstDiff(z.subarray(from), x.subarray(from)), -1, `wasm ${ws}`);
        assert.notEqual(firstDiff(z.subarray(0, n), x.subarray(0, n)), -1);
      }
    }
    // Infinity in the last block, and in the first value.
    const x = fillNormal(new Float32Array(4 * 512), 3);
    x[x.length - 1] = -Infinity;
    assert.throws(() => fwhtInPlace(x, 4, 512, { blockSize: 512 }), /-Infinity at index 2047/);
    const y = fillNormal(new Float32Array(8), 3);
    y[0] = Infinity;
    assert.throws(() => fwhtInPlace(y, 1, 8, { blockSize: 2 }), /Infinity at index 0/);
  },
});

Deno.test({
  name: skipName(
    "hadamard() on the pool with the WebAssembly kernels equals the TypeScript kernels",
    !wasm,
    "this runtime has no WebAssembly",
  ),
  ignore: !wasm,
  async fn() {
    setPoolSize(2);
    try {
      for (
        const [n, rows, cols, seed] of [[1024, 301, 2048, 9], [32768, 3, 65536, null]] as const
      ) {
        const x = fillNormal(sharedF32(rows * cols), n);
        const o = { blockSize: n, seed, inverse: true };
        const results: Float32Array[] = [];
        for (const ws of [true, false]) {
          setHadamardWasm(ws);
          results.push((await hadamard(x.slice(), rows, cols, o)).data);
        }
        assert.equal(firstDiff(results[0]!, results[1]!), -1, `n=${n}`);
      }
    } finally {
      setHadamardWasm(true);
      setPoolSize(undefined);
      shutdownPool();
    }
  },
});
