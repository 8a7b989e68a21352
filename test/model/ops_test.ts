import assert from "node:assert/strict";
import { attention, fastExp, rmsNorm, swiglu, tokenNll } from "../../src/model/ops.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { maxAbs } from "./helpers.ts";

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
    const got = attention(q, k, v, {
      T: c.T,
      pos0: c.pos0,
      heads: c.H,
      kvHeads: c.KvH,
      headDim: c.hd,
      window: c.window,
    });
    const want = attentionNaive(q, k, v, c.T, c.pos0, c.H, c.KvH, c.hd, c.window);
    assert.ok(maxAbs(got, want) < 2e-6, JSON.stringify(c));
  }
});

Deno.test("fastExp() agrees with Math.exp to f32 precision over the clamped range", () => {
  let worst = 0;
  for (let i = 0; i <= 200000; i++) {
    const x = -87 + (175 * i) / 200000;
    worst = Math.max(worst, Math.abs(fastExp(x) / Math.exp(x) - 1));
  }
  assert.ok(worst < 2e-7, `${worst}`);
  assert.ok(fastExp(-1000) >= 0 && fastExp(-1000) < 1e-37);
  assert.ok(Number.isFinite(fastExp(1000)));
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
