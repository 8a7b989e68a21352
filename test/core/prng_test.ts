import assert from "node:assert/strict";
import {
  fillNormal,
  hash32,
  randNormal,
  randomSigns,
  randSign,
  randU32,
  randUniform,
} from "../../src/core/prng.ts";
import { loadShader } from "../../src/gpu/device.ts";
import { gpuTest } from "../gpu/helpers.ts";

Deno.test("hash32() is the lowbias32 hash (known values)", () => {
  // Values from the C function (uint32_t arithmetic) compiled with gcc.
  assert.equal(hash32(0), 0);
  assert.equal(hash32(1), 0x688990c0);
  assert.equal(hash32(0x12345678), 0xf5e71c96);
  assert.equal(hash32(0xffffffff), 0x6768824a);
  // Bijective on a sample: no collisions among 100k consecutive inputs.
  const seen = new Set<number>();
  for (let i = 0; i < 100_000; i++) seen.add(hash32(i));
  assert.equal(seen.size, 100_000);
});

Deno.test("randUniform() is uniform on (0, 1): mean, variance and a chi-square test", () => {
  const n = 200_000;
  const bins = new Array(20).fill(0);
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = randUniform(123, i);
    assert.ok(u > 0 && u < 1);
    s += u;
    s2 += u * u;
    bins[Math.floor(u * 20)]++;
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.003);
  assert.ok(Math.abs(s2 / n - s * s / n / n - 1 / 12) < 0.002);
  const e = n / 20;
  const chi2 = bins.reduce((a, b) => a + (b - e) ** 2 / e, 0);
  assert.ok(chi2 < 45, `chi2 = ${chi2} (19 dof; 45 is p ≈ 0.0007)`);
});

Deno.test("randNormal() has the moments of N(0, 1) and fillNormal() matches it", () => {
  const n = 200_000;
  const x = fillNormal(new Float64Array(n), 9);
  let m1 = 0, m2 = 0, m4 = 0;
  for (const v of x) {
    m1 += v;
    m2 += v * v;
    m4 += v ** 4;
  }
  assert.ok(Math.abs(m1 / n) < 0.01);
  assert.ok(Math.abs(m2 / n - 1) < 0.015);
  assert.ok(Math.abs(m4 / n - 3) < 0.1);
  for (const i of [0, 1, 2, 77, 199_999]) assert.equal(x[i], randNormal(9, i));
  // An odd offset continues the same stream.
  const y = fillNormal(new Float64Array(5), 9, 3);
  for (let j = 0; j < 5; j++) assert.equal(y[j], x[3 + j]);
});

Deno.test("randomSigns() and randSign() agree and are balanced", () => {
  const s = randomSigns(10_000, 5);
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    assert.equal(s[i], randSign(5, i));
    sum += s[i]!;
  }
  assert.ok(Math.abs(sum) < 400);
  assert.notDeepEqual([...randomSigns(64, 1)], [...randomSigns(64, 2)]);
});

gpuTest("the WGSL PRNG yields the same stream as TypeScript", async (gpu) => {
  const n = 4096;
  const code = (await loadShader("prng")) + `
    struct Params { seed: u32, n: u32 }
    @group(0) @binding(0) var<storage, read_write> u: array<u32>;
    @group(0) @binding(1) var<storage, read_write> s: array<f32>;
    @group(0) @binding(2) var<storage, read_write> z: array<f32>;
    @group(0) @binding(3) var<uniform> P: Params;
    @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
      let i = g.x;
      if (i >= P.n) { return; }
      u[i] = rand_u32(P.seed, i);
      s[i] = rand_sign(P.seed, i);
      z[i] = rand_normal(P.seed, i);
    }`;
  for (const seed of [0, 1, 0xdeadbeef]) {
    const bu = gpu.storage(n * 4), bs = gpu.storage(n * 4), bz = gpu.storage(n * 4);
    const params = gpu.uniform(new Uint32Array([seed, n]));
    await gpu.run("prng_test", gpu.pipeline("prng_test", code), [bu, bs, bz, params], [n / 64]);
    const u: Uint32Array = new Uint32Array(await gpu.read(bu));
    const s: Float32Array = new Float32Array(await gpu.read(bs));
    const z: Float32Array = new Float32Array(await gpu.read(bz));
    let maxErr = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(u[i], randU32(seed, i), `u32 ${i} seed ${seed}`);
      assert.equal(s[i], randSign(seed, i));
      maxErr = Math.max(maxErr, Math.abs(z[i]! - randNormal(seed, i)));
    }
    assert.ok(maxErr < 2e-5, `normal max abs diff ${maxErr}`);
    for (const b of [bu, bs, bz, params]) b.destroy();
  }
});
