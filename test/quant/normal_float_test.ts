import assert from "node:assert/strict";
import {
  abnormalFloatLevels,
  af4Quantizer,
  FP4_LEVELS,
  fp4Quantizer,
  NF4_LEVELS,
  nf4Quantizer,
  type NormalFloatConfig,
  normalFloatConfig,
  normalFloatQuantize,
  normalFloatReference,
  type NormalFloatType,
} from "../../src/quant/normal_float.ts";
import { decodeRotated } from "../../src/quant/decode.ts";
import { bitsPerWeight, validateQuantized } from "../../src/quant/format.ts";
import { metaDequantize } from "../../src/quant/meta_quant.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { gpuCase, needGpu } from "../gpu/helpers.ts";
import { setGpuChunkBytes } from "../../src/quant/group_encoder_gpu.ts";
import { QuantlabError } from "../../src/core/errors.ts";

function mse(w: Float32Array, d: Float32Array): number {
  let e = 0;
  for (let i = 0; i < w.length; i++) e += (w[i]! - d[i]!) ** 2;
  return e / w.length;
}

// 4M samples of N(0,1): Monte-Carlo noise on the MSE ≈ 0.05 %.
const ROWS = 1024;
const COLS = 4096;
const GAUSS = fillNormal(new Float32Array(ROWS * COLS), 2024);

// bitsandbytes `functional.get_4bit_type()` (bitsandbytes/functional.py; the NF4 list is also the
// `nf4_dequantization_lut` of csrc/kernels.cu), copied digit for digit.
const BNB_NF4 = [
  -1.0,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0.0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1.0,
];
// get_4bit_type("fp4") before its `data.div_(data.abs().max())` (the max is 12), bit-pattern order.
const BNB_FP4 = [
  0,
  0.0625,
  8.0,
  12.0,
  4.0,
  6.0,
  2.0,
  3.0,
  -0,
  -0.0625,
  -8.0,
  -12.0,
  -4.0,
  -6.0,
  -2.0,
  -3.0,
];

Deno.test("all 16 NF4 and FP4 levels are bitsandbytes' get_4bit_type() values in f32", () => {
  assert.deepEqual([...NF4_LEVELS], BNB_NF4.map(Math.fround));
  // FP4: divided by 12 in f32 as torch does, −0 (code 8) included.
  assert.deepEqual([...FP4_LEVELS], BNB_FP4.map((v) => Math.fround(v / 12)));
});

Deno.test("abnormalFloatLevels(64) reproduces the AF4-64 table bitsandbytes ships", () => {
  // bitsandbytes get_4bit_type("af4", blocksize=64), from Yoshida's generate_af4.py (ascending).
  const bnb = [
    -1.0,
    -0.69441008,
    -0.51243739,
    -0.3736951,
    -0.25607552,
    -0.14982478,
    -0.04934812,
    0.0,
    0.04273164,
    0.12934483,
    0.21961274,
    0.31675666,
    0.42563882,
    0.55496234,
    0.72424863,
    1.0,
  ];
  const af = abnormalFloatLevels(64);
  for (let i = 0; i < 16; i++) {
    assert.ok(Math.abs(af[i]! - bnb[i]!) < 1e-6, `level ${i}: ${af[i]} vs ${bnb[i]}`);
  }
  assert.equal(abnormalFloatLevels(64), af); // cached
  const af3 = abnormalFloatLevels(128, 3, "mse");
  assert.deepEqual([af3[0], af3[3], af3[7]], [-1, 0, 1]);
  assert.throws(() => abnormalFloatLevels(1), /block size 1 is not valid/);
  assert.throws(() => abnormalFloatLevels(64, 4, "l2" as never), /criterion "l2" is not valid/);
});

Deno.test("NF4 absmax MSE on N(0,1) matches the reference values for g32–g256", async () => {
  const targets: [number, number][] = [[32, 0.0076244], [64, 0.0084623], [128, 0.0091402], [
    256,
    0.0097345,
  ]];
  for (const [g, target] of targets) {
    const q = await normalFloatQuantize(
      GAUSS,
      ROWS,
      COLS,
      normalFloatConfig("nf4", { groupSize: g }),
    );
    const m = mse(GAUSS, decodeRotated(q));
    assert.ok(Math.abs(m / target - 1) < 0.005, `g${g}: ${m} vs ${target}`);
  }
});

Deno.test("AF4 with the mse criterion beats NF4 on Gaussian blocks; the paper's L1 code does not", async () => {
  const cfg = (type: NormalFloatType, criterion: NormalFloatConfig["criterion"] = "paper") =>
    normalFloatConfig(type, { groupSize: 64, criterion });
  const half = GAUSS.subarray(0, GAUSS.length / 2);
  const r = ROWS / 2;
  const nf = mse(half, decodeRotated(await normalFloatQuantize(half, r, COLS, cfg("nf4"))));
  const afMse = mse(
    half,
    decodeRotated(await normalFloatQuantize(half, r, COLS, cfg("af4", "mse"))),
  );
  const afPaper = mse(half, decodeRotated(await normalFloatQuantize(half, r, COLS, cfg("af4"))));
  assert.ok(afMse < 0.96 * nf, `${afMse} vs NF4 ${nf}`);
  assert.ok(afPaper > nf, `${afPaper} vs NF4 ${nf}`);
});

Deno.test("NF4 double quantization: 4.127 bits per weight, almost no extra error", async () => {
  const w = GAUSS.subarray(0, 256 * COLS);
  const plain = await normalFloatQuantize(w, 256, COLS, normalFloatConfig("nf4"));
  const dq = await normalFloatQuantize(
    w,
    256,
    COLS,
    normalFloatConfig("nf4", { doubleQuant: true }),
  );
  validateQuantized(dq);
  assert.equal(bitsPerWeight(plain, { includeTable: false }), 4.25);
  assert.equal(bitsPerWeight(dq, { includeTable: false }), 4 + 8 / 64 + 32 / (256 * 64));
  assert.equal(dq.scaleStorage.kind, "int8");
  if (dq.scaleStorage.kind === "int8") {
    const back = metaDequantize(dq.scaleStorage, dq.scales.length, "dynamic", {
      offset: dq.params.nestedOffset as number,
    });
    assert.deepEqual(back, dq.scales);
  }
  const m0 = mse(w, decodeRotated(plain));
  const m1 = mse(w, decodeRotated(dq));
  assert.ok(m1 < m0 * 1.01, `${m1} vs ${m0}`);
  const f32 = await normalFloatQuantize(
    w,
    256,
    COLS,
    normalFloatConfig("nf4", { scaleDtype: "F32" }),
  );
  assert.equal(bitsPerWeight(f32, { includeTable: false }), 4.5);
});

const CASES: [NormalFloatType, Partial<NormalFloatConfig>][] = [
  ["nf4", {}],
  ["fp4", { groupSize: 32, axis: 0 }],
  ["af4", { groupSize: 96 }],
  ["af4", { bits: 3, groupSize: null, criterion: "mse" }],
  ["nf4", { doubleQuant: true, groupSize: 48 }],
  ["fp4", { doubleQuant: true, doubleQuantGroup: 100, groupSize: null, axis: 0 }],
];

Deno.test("normalFloatQuantize() on the pool equals normalFloatReference() bit for bit", async () => {
  const rows = 192;
  const cols = 1536;
  const w = fillNormal(new Float32Array(rows * cols), 3, 0, 0.02);
  for (const [type, o] of CASES) {
    const c = normalFloatConfig(type, o);
    const a = normalFloatReference(w, rows, cols, c);
    const b = await normalFloatQuantize(w, rows, cols, c);
    assert.deepEqual(b.codes, a.codes, `${type} ${JSON.stringify(o)}`);
    assert.deepEqual(b.scales, a.scales);
    assert.deepEqual(b.table, a.table);
  }
});

Deno.test("NF4, AF4 and FP4 decode constant and all-zero groups exactly, never NaN", async () => {
  for (const q of [nf4Quantizer, af4Quantizer, fp4Quantizer]) {
    for (const [v, dtype] of [[0.3, "F32"], [-0.015625, "F16"]] as const) {
      const w = new Float32Array(4 * 64);
      w.fill(v, 0, 128);
      const d = decodeRotated(await q.quantize(w, 4, 64, { scaleDtype: dtype }));
      for (let i = 0; i < w.length; i++) {
        assert.ok(d[i] === w[i], `${q.method} ${v} at ${i}: ${d[i]}`);
      }
    }
  }
  await assert.rejects(
    () =>
      nf4Quantizer.quantize(new Float32Array(64).fill(Infinity), 1, 64, {}, undefined, "o_proj"),
    /Tensor "o_proj" holds Infinity at index 0/,
  );
  await assert.rejects(
    () => fp4Quantizer.quantize(new Float32Array(96), 1, 96, { groupSize: 64 }, undefined, "w"),
    /"w": group size 64 does not divide its 96 columns \(axis 1\); use one of 8, 16, 24, 32, 48, 96/,
  );
  await assert.rejects(
    () => nf4Quantizer.quantize(new Float32Array(64), 1, 64, { bits: 3 }),
    /af4/,
  );
});

Deno.test({
  ...gpuCase("normalFloatQuantize() on WebGPU matches the CPU"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gpu = needGpu();
    let chunkedRuns = 0; // chunked passes that ran (not refused as unsupported)
    const rows = 32;
    const cols = 192;
    const w = fillNormal(new Float32Array(rows * cols), 4, 0, 0.02);
    // Second pass: 7-row weight chunks (uneven: 32 rows) to run the multi-chunk path.
    for (
      const [chunk, [type, o]] of [undefined, cols * 4 * 7].flatMap((ch) =>
        CASES.map((x) => [ch, x] as const)
      )
    ) {
      const c = normalFloatConfig(type, o);
      const a = await normalFloatQuantize(w, rows, cols, c);
      setGpuChunkBytes(chunk);
      let b;
      try {
        b = await normalFloatQuantize(w, rows, cols, c, { kind: "webgpu", gpu });
        if (chunk) chunkedRuns++;
      } catch (e) {
        if (chunk && e instanceof QuantlabError && e.code === "unsupported") continue;
        throw e;
      } finally {
        setGpuChunkBytes(undefined);
      }
      // Codes come from the same f32 products and comparisons: identical.
      assert.deepEqual(b.codes, a.codes, `${type} ${JSON.stringify(o)}`);
      assert.deepEqual(b.scales, a.scales);
    }
    assert.ok(chunkedRuns > 0, "No chunked WebGPU pass ran: every one was refused as unsupported");
  },
});
