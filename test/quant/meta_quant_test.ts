import assert from "node:assert/strict";
import {
  dynamicMap,
  f16Round,
  metaBitsPerParam,
  metaDequantize,
  metaQuantizeAffine,
  metaQuantizeDynamic,
} from "../../src/quant/meta_quant.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";

Deno.test("dynamicMap() is bitsandbytes' signed dynamic 8-bit map", () => {
  const m = dynamicMap();
  assert.equal(m.length, 256);
  assert.equal(new Set(m).size, 256);
  for (let i = 1; i < 256; i++) assert.ok(m[i - 1]! < m[i]!, `sorted at ${i}`);
  assert.equal(m[255], 1);
  assert.ok(m.includes(0));
  // Smallest magnitude: 1e-6 × (0.1 + 1)/2; largest negative: −(0.9859375 + 1)/2.
  assert.ok(Math.abs(m[128]! - 5.5e-7) < 1e-12, `${m[128]}`);
  assert.ok(Math.abs(m[0]! + 0.99296875) < 1e-6, `${m[0]}`);
  // Symmetric apart from 0 and 1: 127 negatives and 127 positives below 1.
  assert.equal(m.filter((v) => v < 0).length, 127);
  for (let i = 0; i < 127; i++) assert.equal(m[i], -m[254 - i]!);
});

Deno.test("metaQuantizeAffine() follows HQQ's 8-bit min–max rule within half a step", () => {
  const v = fillNormal(new Float32Array(1000), 3, 0, 0.002).map((x) => x + 0.006);
  for (const dtype of ["F16", "F32"] as const) {
    const m = metaQuantizeAffine(v, 128, dtype);
    assert.equal(m.storage.metaScale.length, 8); // 7 full groups and one of 104
    assert.equal(m.storage.metaZero!.length, 8);
    assert.deepEqual(metaDequantize(m.storage, v.length, "affine", { dtype }), m.decoded);
    for (let i = 0; i < v.length; i++) {
      const grp = Math.floor(i / 128);
      const step = m.storage.metaScale[grp]!;
      // Half a step, plus the f16 rounding of the result (and of the meta scale/zero).
      const tol = step / 2 +
        (dtype === "F16" ? 3 * 2 ** -11 * Math.abs(v[i]!) + step * 0.01 : 1e-9);
      assert.ok(Math.abs(m.decoded[i]! - v[i]!) <= tol, `${i}: ${m.decoded[i]} vs ${v[i]}`);
    }
  }
});

Deno.test("metaQuantizeAffine() clamps s' at 2e4 and decodes constant vectors exactly", () => {
  // Range 1e-3 → s' = 255/1e-3 > 2e4 → clamped: step 5e-5, codes saturate at 255.
  const v = Float32Array.from({ length: 128 }, (_, i) => 0.01 + (i / 127) * 1e-3);
  const m = metaQuantizeAffine(v, 128, "F32");
  assert.equal(m.storage.metaScale[0], Math.fround(1 / 2e4));
  const c = metaQuantizeAffine(new Float32Array(64).fill(0.375), 64, "F16");
  assert.ok(c.decoded.every((x) => x === 0.375));
  const z = metaQuantizeAffine(new Float32Array(64), 64, "F16");
  assert.ok(z.decoded.every((x) => x === 0));
});

Deno.test("metaQuantizeAffine() per tensor matches HQQ's channel_wise=False zero quantization", () => {
  const zeros = Float32Array.from({ length: 4096 }, (_, i) => 7 + Math.sin(i) * 3);
  const m = metaQuantizeAffine(zeros, zeros.length, "F16");
  assert.equal(m.storage.metaScale.length, 1);
  const step = 6 / 255;
  for (let i = 0; i < zeros.length; i++) {
    assert.ok(Math.abs(m.decoded[i]! - zeros[i]!) < step / 2 + 0.01, `${i}`);
  }
});

Deno.test("metaQuantizeDynamic() is bitsandbytes double quantization (mean offset, blocks of 256)", () => {
  const absmax = fillNormal(new Float32Array(4096 + 100), 9, 0, 0.3).map((x) => 2.5 + x);
  const m = metaQuantizeDynamic(absmax, 256);
  assert.equal(m.storage.metaScale.length, 17);
  assert.equal(m.storage.metaZero, undefined);
  let mean = 0;
  for (const x of absmax) mean += x;
  assert.equal(m.offset, Math.fround(mean / absmax.length));
  assert.deepEqual(
    metaDequantize(m.storage, absmax.length, "dynamic", { offset: m.offset }),
    m.decoded,
  );
  let worst = 0;
  for (let i = 0; i < absmax.length; i++) {
    const a = m.storage.metaScale[Math.floor(i / 256)]!;
    worst = Math.max(worst, Math.abs(m.decoded[i]! - absmax[i]!) / a);
  }
  // The dynamic map's coarsest gaps near ±1 are 1/64 wide: at most half of that, relative to absmax.
  assert.ok(worst <= 1 / 128 + 1e-6, `${worst}`);
  const z = metaQuantizeDynamic(new Float32Array(300).fill(4), 256);
  assert.ok(z.decoded.every((x) => x === 4));
});

Deno.test("metaDequantize() rejects storage whose lengths do not match", () => {
  const m = metaQuantizeAffine(new Float32Array(256).fill(1), 128, "F16");
  assert.throws(() => metaDequantize(m.storage, 300, "affine"), QuantlabError);
  assert.throws(
    () => metaDequantize({ ...m.storage, metaZero: undefined }, 256, "affine"),
    /needs 2 meta zeros/,
  );
  assert.throws(() => metaQuantizeAffine(new Float32Array(4), 0), /Meta group size 0/);
});

Deno.test("metaBitsPerParam() counts codes, meta parameters and the offset as the libraries store them", () => {
  assert.equal(metaBitsPerParam(262144, 128, "affine"), 8 + 32 / 128);
  assert.equal(metaBitsPerParam(65536, 256, "dynamic"), 8 + 32 / 256 + 32 / 65536);
  assert.equal(f16Round(1 + 2 ** -12), 1);
});
