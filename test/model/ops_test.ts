import assert from "node:assert/strict";
import {
  attention,
  fastExp,
  rmsNorm,
  softmaxNumerators,
  swiglu,
  tokenNll,
} from "../../src/model/ops.ts";
import {
  expInPlaceWasm,
  opsWasmAvailable,
  setOpsWasm,
  swigluWasm,
  wasmF32Arrays,
  wasmSoftmax,
} from "../../src/model/ops_wasm.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { maxAbs } from "./helpers.ts";

/** The TypeScript SwiGLU whatever the wasm switch says. */
function swigluTs(g: Float32Array, u: Float32Array, start: number, end: number): Float32Array {
  setOpsWasm(false);
  try {
    swiglu(g.subarray(start, end), u.subarray(start, end), end - start);
  } finally {
    setOpsWasm(true);
  }
  return g;
}

function attentionNaive(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  T: number,
  pos0: number,
  H: number,
  KvH: number,
  hd: number,
  window: number,
): Float64Array {
  const out = new Float64Array(T * H * hd);
  for (let t = 0; t < T; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KvH));
      const s: number[] = [];
      for (let j = lo; j <= p; j++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[(t * H + h) * hd + i]! * k[(j * KvH + g) * hd + i]!;
        s.push(dot / Math.sqrt(hd));
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = lo; j <= p; j++) {
        for (let i = 0; i < hd; i++) {
          out[(t * H + h) * hd + i] = out[(t * H + h) * hd + i]! +
            (e[j - lo]! / z) * v[(j * KvH + g) * hd + i]!;
        }
      }
    }
  }
  return out;
}

/** Runs `fn` with the WebAssembly SIMD path on, then off (named in the message). */
function bothPaths(fn: (path: string) => void): void {
  try {
    for (const on of [true, false]) {
      setOpsWasm(on);
      fn(on ? "wasm" : "typescript");
    }
  } finally {
    setOpsWasm(true);
  }
}

Deno.test("attention() matches a naive softmax attention for odd shapes, offsets, GQA and windows", () => {
  const cases = [
    { T: 5, pos0: 7, H: 6, KvH: 2, hd: 10, window: 0 },
    { T: 5, pos0: 7, H: 6, KvH: 3, hd: 10, window: 4 },
    { T: 1, pos0: 0, H: 1, KvH: 1, hd: 2, window: 0 },
    { T: 140, pos0: 3, H: 2, KvH: 1, hd: 6, window: 0 }, // two query blocks
    { T: 140, pos0: 0, H: 2, KvH: 2, hd: 6, window: 9 },
    { T: 1, pos0: 30, H: 4, KvH: 1, hd: 8, window: 5 },
  ];
  let seed = 1;
  for (const c of cases) {
    const S = c.pos0 + c.T + 2; // caches may be longer than the keys in use
    const q = fillNormal(new Float32Array(c.T * c.H * c.hd), seed++);
    const k = fillNormal(new Float32Array(S * c.KvH * c.hd), seed++);
    const v = fillNormal(new Float32Array(S * c.KvH * c.hd), seed++);
    const want = attentionNaive(q, k, v, c.T, c.pos0, c.H, c.KvH, c.hd, c.window);
    bothPaths((path) => {
      const got = attention(q, k, v, {
        T: c.T,
        pos0: c.pos0,
        heads: c.H,
        kvHeads: c.KvH,
        headDim: c.hd,
        window: c.window,
      });
      assert.ok(maxAbs(got, want) < 2e-6, `${path} ${JSON.stringify(c)}`);
    });
  }
});

Deno.test("attention() weights sum to 1 and masked keys get exactly 0 weight", () => {
  // v = 1 everywhere a query may look and 1e30 at every key it must not (future keys and keys
  // left of the window): the output is 1 only if the visible weights sum to 1 and the masked
  // ones are exactly 0 (0 · 1e30 = 0, anything else is huge).
  for (const c of [{ T: 200, pos0: 0, window: 0 }, { T: 150, pos0: 20, window: 7 }]) {
    const H = 2, hd = 4, S = c.pos0 + c.T;
    const q = fillNormal(new Float32Array(c.T * H * hd), 3, 0, 3);
    const k = fillNormal(new Float32Array(S * H * hd), 4, 0, 3);
    bothPaths((path) => {
      for (let t = 0; t < c.T; t += 37) {
        const p = c.pos0 + t, lo = c.window > 0 ? Math.max(0, p - c.window + 1) : 0;
        const v = new Float32Array(S * H * hd).fill(1e30);
        v.fill(1, lo * H * hd, (p + 1) * H * hd);
        const out = attention(q, k, v, {
          T: c.T,
          pos0: c.pos0,
          heads: H,
          kvHeads: H,
          headDim: hd,
          window: c.window,
        });
        const row = out.subarray(t * H * hd, (t + 1) * H * hd);
        assert.ok(maxAbs(row, new Float32Array(H * hd).fill(1)) < 1e-6, `${path} row ${t}: ${row}`);
      }
    });
  }
});

Deno.test("fastExp() agrees with Math.exp to 1e-9 over [-104, 88.7] and handles the edges", () => {
  let worst = 0;
  for (let i = 0; i <= 400000; i++) {
    const x = -104 + (192.7 * i) / 400000;
    worst = Math.max(worst, Math.abs(fastExp(x) / Math.exp(x) - 1));
  }
  assert.ok(worst < 1e-9, `${worst}`);
  for (const x of [1e-8, -1e-8, 0.5, -0.5, 1e-30]) {
    assert.ok(Math.abs(fastExp(x) / Math.exp(x) - 1) < 1e-12, `${x}`);
  }
  assert.equal(fastExp(0), 1);
  assert.equal(fastExp(-104.01), 0);
  assert.equal(fastExp(-1000), 0);
  assert.equal(fastExp(-Infinity), 0);
  assert.equal(fastExp(1000), fastExp(88.7));
  assert.ok(Number.isFinite(fastExp(Infinity)) && Math.fround(fastExp(88.7)) < Infinity);
  assert.ok(Number.isNaN(fastExp(NaN)));
});

Deno.test("softmaxNumerators() gives e^(x - max) on its range, sums them and leaves the rest", () => {
  const x = fillNormal(new Float32Array(40), 9, 0, 20);
  x[17] = -Infinity; // a masked score written as -inf contributes exactly 0
  const before = x.slice();
  const m = Math.max(...x.subarray(5, 31));
  const sum = softmaxNumerators(x, 5, 31);
  let want = 0;
  for (let j = 5; j < 31; j++) {
    const e = Math.exp(before[j]! - m);
    want += Math.fround(e);
    // Stored as f32: within half an f32 ulp (2^-24 relative) and a hair.
    assert.ok(Math.abs(x[j]! - e) <= 6e-8 * e + 1e-45, `${j}`);
  }
  assert.equal(x[17], 0);
  assert.ok(Math.abs(sum - want) < 1e-12 * want && sum >= 1);
  assert.deepEqual(x.subarray(0, 5), before.subarray(0, 5));
  assert.deepEqual(x.subarray(31), before.subarray(31));
  assert.equal(softmaxNumerators(x, 3, 3), 0);
});

Deno.test("wasm exp: within 2.5e-7 of Math.exp where f32 is normal, 0 below, edges kept", () => {
  if (!opsWasmAvailable()) return;
  const n = 300001; // not a multiple of 4: the scalar tail runs too
  const x = new Float32Array(n).map((_, i) => -87.3 + (175.3 * i) / (n - 1));
  const e = x.slice();
  assert.ok(expInPlaceWasm(e));
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(e[i]! / Math.exp(x[i]!) - 1));
  assert.ok(worst < 2.5e-7, `${worst}`);
  const edges = new Float32Array([0, -87.5, -104, -1e30, -Infinity, 88, 100, Infinity, NaN]);
  assert.ok(expInPlaceWasm(edges));
  assert.deepEqual([...edges.subarray(0, 5)], [1, 0, 0, 0, 0]);
  assert.ok(Math.abs(edges[5]! / Math.exp(88) - 1) < 2.5e-7);
  assert.equal(edges[6], edges[5]);
  assert.equal(edges[7], edges[5]);
  assert.ok(Number.isNaN(edges[8]!));
});

Deno.test("swigluWasm() matches the TypeScript SwiGLU on wasm arrays and declines other arrays", () => {
  if (!opsWasmAvailable()) return;
  const n = 1003;
  const g = fillNormal(new Float32Array(n), 11, 0, 8);
  g.set([0, -90, 90, 1e-30, -1e-30, 200, -200]);
  const u = fillNormal(new Float32Array(n), 12);
  const want = swigluTs(g.slice(), u, 0, n);
  const [wg, wu] = wasmF32Arrays([n, n])!;
  wg!.set(g);
  wu!.set(u);
  assert.ok(swigluWasm(wg!, wu!, 0, n));
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(wg![i]! - want[i]!) <= 3e-7 * Math.abs(u[i]! * g[i]!) + 1e-30, `${i}`);
  }
  // A sub-range leaves the rest alone; plain arrays and the switched-off path are declined.
  wg!.set(g);
  assert.ok(swigluWasm(wg!, wu!, 5, 10));
  assert.deepEqual(wg!.subarray(0, 5), g.subarray(0, 5));
  assert.deepEqual(wg!.subarray(10), g.subarray(10));
  assert.ok(!swigluWasm(g.slice(), u, 0, n));
  setOpsWasm(false);
  try {
    assert.ok(!swigluWasm(wg!, wu!, 0, n));
  } finally {
    setOpsWasm(true);
  }
});

Deno.test("wasmSoftmax(): causal and windowed rows, exact zeros outside, reciprocal sums", () => {
  if (!opsWasmAvailable()) return;
  const rows = 9, n = 23;
  const x = fillNormal(new Float32Array(rows * n), 13, 0, 5);
  for (const [hi0, lo0, lostep] of [[15, 0, 0], [15, -3, 1], [23, 2, 1]] as const) {
    const s = wasmSoftmax(rows * n, rows)!;
    s.scores.set(x);
    s.rows(rows, n, hi0, lo0, lostep);
    for (let r = 0; r < rows; r++) {
      const hi = Math.min(n, hi0 + r), lo = Math.max(0, lo0 + r * lostep);
      const row = x.subarray(r * n, (r + 1) * n), got = s.scores.subarray(r * n, (r + 1) * n);
      const m = Math.max(...row.subarray(lo, hi));
      let sum = 0;
      for (let j = 0; j < n; j++) {
        if (j < lo || j >= hi) {
          assert.ok(Object.is(got[j], 0), `row ${r} col ${j}: ${got[j]}`);
          continue;
        }
        // The kernel subtracts the max in f32, as the f32 scores warrant.
        const e = Math.exp(Math.fround(row[j]! - m));
        assert.ok(Math.abs(got[j]! - e) <= 2.5e-7 * e, `row ${r} col ${j}`);
        sum += got[j]!;
      }
      assert.ok(Math.abs(s.inv[r]! * sum - 1) < 1e-12, `row ${r}`);
    }
  }
});

Deno.test("rmsNorm(), swiglu() and tokenNll() match their formulas", () => {
  const x = fillNormal(new Float32Array(3 * 7), 5), w = fillNormal(new Float32Array(7), 6);
  const y = rmsNorm(x, w, 3, 7, 1e-6);
  for (let r = 0; r < 3; r++) {
    const row = [...x.subarray(r * 7, r * 7 + 7)];
    const inv = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / 7 + 1e-6);
    row.forEach((v, i) => assert.ok(Math.abs(y[r * 7 + i]! - v * inv * w[i]!) < 1e-5));
  }
  const g = fillNormal(new Float32Array(100), 7, 0, 10), u = fillNormal(new Float32Array(100), 8);
  const want = [...g].map((v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
  assert.ok(maxAbs(swiglu(g, u, 100), want) < 1e-5);
  // Stable for extreme logits: logsumexp([1000, 0]) = 1000 (+ e^-1000).
  assert.equal(tokenNll(new Float32Array([7, 1000, 0]), 1, 2, 1), 1000);
  const l2 = new Float32Array([0, Math.log(3)]);
  assert.ok(Math.abs(tokenNll(l2, 0, 2, 1) - Math.log(4 / 3)) < 1e-7);
});
