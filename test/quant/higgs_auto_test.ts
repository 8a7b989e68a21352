import assert from "node:assert/strict";
import { fillNormal } from "../../src/core/prng.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { higgsQuantizer } from "../../src/quant/higgs.ts";
import {
  autoHadamardSize,
  higgsStoredBits,
  resolveHiggsParams,
} from "../../src/quant/higgs_params.ts";
import { bitsPerWeight } from "../../src/quant/format.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { lutMatmul } from "../../src/lut/cpu.ts";
import {
  QuantizedCheckpoint,
  writeQuantizedSafetensors,
} from "../../src/io/quantized_checkpoint.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { randomX, relError } from "../lut/helpers.ts";

// Input widths of real families that 1024 does not divide: Qwen2-0.5B (896, 4864), Gemma-2
// (2304), Qwen2-7B / Gemma-2-9B (3584).
const WIDTHS: [number, number][] = [[896, 128], [4864, 256], [2304, 256], [3584, 512]];
const ROWS = 128;

Deno.test("--hadamard auto picks the largest power of two ≤ the maximum dividing the width", () => {
  for (const [cols, h] of WIDTHS) assert.equal(autoHadamardSize(cols), h);
  assert.equal(autoHadamardSize(8192), 1024);
  assert.equal(autoHadamardSize(8192, 4096), 4096);
  assert.equal(autoHadamardSize(3584, 256), 256);
  assert.equal(resolveHiggsParams({}, "w", 896).hadamard, 128);
  assert.equal(resolveHiggsParams({ hadamardMax: 512 }, "w", 4096).hadamard, 512);
  assert.equal(resolveHiggsParams({ hadamard: 1024 }, "w", 896).hadamard, 1024);
  assert.throws(() => resolveHiggsParams({ hadamardMax: 300 }), /Hadamard maximum 300/);
});

for (const [cols, h] of WIDTHS) {
  Deno.test(`HIGGS 4-bit at width ${cols}: block ${h}, ≤ 4.25 bits/weight, exact round trip, LUT = dequantize·x`, async () => {
    const w = fillNormal(new Float32Array(ROWS * cols), cols);
    const q = await higgsQuantizer.quantize(w, ROWS, cols, { p: 2, bits: 4 });
    assert.equal(q.paddedCols, cols, "nothing padded");
    assert.deepEqual(q.rotation, { kind: "hadamard", size: h, seed: null });
    const bits = bitsPerWeight(q);
    assert.ok(bits <= 4.25, `${bits} bits/weight`);
    assert.equal(bits, higgsStoredBits(ROWS, cols, { p: 2, bits: 4 }));

    // Round trip through a checkpoint file: the same tensor, block recorded per tensor.
    const dir = await Deno.makeTempDir();
    try {
      await writeQuantizedSafetensors(`${dir}/q.safetensors`, new Map([["w", q]]));
      const ck = await QuantizedCheckpoint.open(`${dir}/q.safetensors`);
      try {
        assert.equal(ck.descriptor("w").rotation.kind, "hadamard");
        const back = await ck.read("w");
        assert.deepEqual(back.codes, q.codes);
        assert.deepEqual(back.scales, q.scales);
        assert.deepEqual(back.table, q.table);
        assert.deepEqual(back.rotation, q.rotation);
        assert.deepEqual(dequantize(back), dequantize(q));
      } finally {
        ck.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }

    // The LUT kernel equals dequantize-then-matmul.
    const batch = 2;
    const x = randomX(batch * cols, cols);
    const wq = dequantize(q);
    const ref = new Float64Array(batch * ROWS);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < ROWS; o++) {
        let s = 0;
        for (let i = 0; i < cols; i++) s += wq[o * cols + i]! * x[b * cols + i]!;
        ref[b * ROWS + o] = s;
      }
    }
    const y = await lutMatmul(q, x, batch);
    assert.ok(relError(y, ref) < 1e-5, `relative error ${relError(y, ref)}`);
  });
}

Deno.test("a fixed --hadamard that does not divide the width pads, and the run says what it costs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const w = Tensor.f32([64, 896], fillNormal(new Float32Array(64 * 896), 3));
    await writeSafetensors(`${dir}/w.safetensors`, { w });
    const auto = await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/a.safetensors`, {
      options: { p: 2, bits: 4 },
    });
    assert.equal(auto.padding, undefined);
    const fixed = await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/f.safetensors`, {
      options: { p: 2, bits: 4, hadamard: 1024 },
    });
    assert.equal(fixed.padding?.tensors, 1);
    assert.equal(fixed.padding?.example, "w: width 896 → 1024");
    // 128 padded columns of 4-bit codes and 1/1024 of an f16 scale, over 896 real ones.
    assert.ok(Math.abs(fixed.padding!.bitsPerWeight - (128 * (4 + 16 / 1024)) / 896) < 1e-9);
    assert.ok(fixed.bitsPerWeight > auto.bitsPerWeight + 0.4, `${fixed.bitsPerWeight}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
