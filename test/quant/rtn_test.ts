import assert from "node:assert/strict";
import {
  clipRatios,
  groupLayout,
  nearestIndex,
  tableMode,
  validGroupSizes,
} from "../../src/quant/group_encoding.ts";
import {
  type RtnConfig,
  rtnConfig,
  rtnQuantize,
  rtnQuantizer,
  rtnReference,
} from "../../src/quant/rtn.ts";
import { setGpuChunkBytes } from "../../src/quant/group_encoder_gpu.ts";
import { abnormalFloatLevels, FP4_LEVELS, NF4_LEVELS } from "../../src/quant/normal_float.ts";
import { decodeRotated } from "../../src/quant/decode.ts";
import { bitsPerWeight, validateQuantized } from "../../src/quant/format.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { gpuCase, needGpu } from "../gpu/helpers.ts";

function relErr(w: Float32Array, d: Float32Array): number {
  let e = 0;
  let n = 0;
  for (let i = 0; i < w.length; i++) {
    e += (w[i]! - d[i]!) ** 2;
    n += w[i]! ** 2;
  }
  return e / n;
}

function mse(w: Float32Array, d: Float32Array): number {
  let e = 0;
  for (let i = 0; i < w.length; i++) e += (w[i]! - d[i]!) ** 2;
  return e / w.length;
}

Deno.test("groupLayout() names the tensor and the valid group sizes when g does not divide", () => {
  assert.throws(
    () => groupLayout(8, 4096, 100, 1, "q_proj"),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "bad-argument" &&
      /"q_proj": group size 100 does not divide its 4096 columns/.test(e.message) &&
      /8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096/.test(e.message),
  );
  assert.throws(() => groupLayout(12, 64, 8, 0, "k"), /group size 8 does not divide its 12 rows/);
  assert.throws(() => groupLayout(4, 64, 0, 1), /not a positive integer/);
  assert.deepEqual(validGroupSizes(12), [1, 2, 3, 4, 6, 12]);
  assert.equal(groupLayout(6, 10, null, 1).g, 10);
  assert.equal(groupLayout(6, 10, null, 0).g, 6);
});

Deno.test("nearestIndex() equals a bucketize scan (ties to the lower level) for every table", () => {
  const tables: [Float32Array, number][] = [
    [NF4_LEVELS, 4],
    [FP4_LEVELS, 4],
    [abnormalFloatLevels(64), 4],
    [abnormalFloatLevels(256, 8, "mse"), 8],
    [Float32Array.from({ length: 256 }, (_, k) => k - 127.5), 8],
    [Float32Array.from({ length: 2 }, (_, k) => k - 0.5), 1],
  ];
  const ys = fillNormal(new Float32Array(20000), 17);
  for (const [levels, bits] of tables) {
    const m = tableMode(levels, bits);
    const hi = m.sorted[m.sorted.length - 1]!;
    const probe = [...ys.map((y) => y * hi * 0.6), ...m.bounds, ...m.sorted, -2 * hi, 2 * hi];
    for (const y of probe) {
      let k = 0;
      while (k < m.bounds.length && m.bounds[k]! < y) k++;
      assert.equal(nearestIndex(m, y), k, `${bits}-bit table, y = ${y}`);
    }
  }
});

Deno.test("rtnQuantize() names the tensor and index of a NaN or Inf", async () => {
  const w = new Float32Array(128);
  w[77] = NaN;
  await assert.rejects(
    () => rtnQuantizer.quantize(w, 2, 64, {}, undefined, "layers.0.mlp"),
    /Tensor "layers.0.mlp" holds NaN at index 77/,
  );
  w[77] = -Infinity;
  await assert.rejects(() => rtnQuantize(w, 2, 64, rtnConfig(), undefined, "x"), /index 77/);
  await assert.rejects(
    () => rtnQuantizer.quantize(new Float32Array(128), 2, 64, { extra: { clip: true } }),
    /Option "clip" is not valid for rtn; use symmetric, roundZero, clipSearch/,
  );
  assert.throws(() => rtnConfig({ bits: 9 }), /RTN bits 9 is not valid; use 1 to 8/);
});

const CONFIGS: Partial<RtnConfig>[] = [
  { bits: 4 },
  { bits: 3, symmetric: true },
  { bits: 1, symmetric: true, groupSize: 32 },
  { bits: 2, roundZero: false, axis: 0, groupSize: 8 },
  { bits: 5, clipSearch: true, clipGrid: 20, groupSize: 24 },
  { bits: 8, symmetric: true, clipSearch: true, clipGrid: 10, axis: 0, groupSize: null },
  { bits: 7, scaleDtype: "F32", groupSize: null },
];

Deno.test("rtnQuantize() on the pool equals rtnReference() bit for bit", async () => {
  const rows = 256;
  const cols = 1152; // 2·3²·64: odd group counts, codes straddling words for 3, 5, 7 bits
  const w = fillNormal(new Float32Array(rows * cols), 5, 0, 0.03);
  for (const o of CONFIGS) {
    const c = rtnConfig(o);
    const a = rtnReference(w, rows, cols, c);
    const b = await rtnQuantize(w, rows, cols, c);
    validateQuantized(b);
    assert.deepEqual(b.codes, a.codes, JSON.stringify(o));
    assert.deepEqual(b.scales, a.scales);
    assert.deepEqual(b.zeros, a.zeros);
    const t = relErr(w, decodeRotated(b));
    // Uniform b-bit error ≈ step²/12 relative to the variance: loose ceiling 4^(1−b).
    assert.ok(t < 4 ** (1 - o.bits!) * (o.bits === 1 ? 4 : 1), `${JSON.stringify(o)}: ${t}`);
  }
});

Deno.test("rtnQuantize() decodes constant and all-zero groups exactly", async () => {
  const cases: [number, "F16" | "F32"][] = [[0.1234567, "F32"], [-3.75, "F16"], [1e-3, "F32"]];
  for (const [v, dtype] of cases) {
    for (const o of CONFIGS) {
      const w = new Float32Array(8 * 48);
      w.fill(v, 0, 4 * 48); // rows 0–3 constant, rows 4–7 zero
      const g = o.groupSize === undefined ? 48 : o.groupSize === null ? null : 8;
      const c = rtnConfig({ ...o, groupSize: g, scaleDtype: dtype });
      const d = decodeRotated(await rtnQuantize(w, 8, 48, c));
      for (let i = 0; i < w.length; i++) {
        if (o.axis === 0 && g === null) continue; // columns mix constant and zero rows
        assert.ok(!Number.isNaN(d[i]!));
        assert.ok(d[i] === w[i], `${JSON.stringify(o)} ${v} ${dtype} at ${i}: ${d[i]}`);
      }
    }
  }
});

Deno.test("rtn with clip search approaches the optimal uniform quantizer of N(0,1)", async () => {
  // Per-channel rows of 65536 N(0,1) values; the clip search picks the step per row. Targets: the
  // MSE-optimal uniform (midrise) quantizers, 0.11885 / 0.03744 / 0.011543 for 2 / 3 / 4 bits.
  const targets: [number, number][] = [[2, 0.11885], [3, 0.03744], [4, 0.011543]];
  const cols = 65536;
  const w = fillNormal(new Float32Array(8 * cols), 11);
  for (const [bits, target] of targets) {
    const asym = rtnConfig({
      bits,
      groupSize: null,
      roundZero: false,
      clipSearch: true,
      scaleDtype: "F32",
    });
    const m1 = mse(w, decodeRotated(await rtnQuantize(w, 8, cols, asym)));
    assert.ok(Math.abs(m1 / target - 1) < 0.01, `asymmetric ${bits} bits: ${m1} vs ${target}`);
    const sym = rtnConfig({ bits, groupSize: null, symmetric: true, clipSearch: true });
    const ws = w.subarray(0, 2 * cols);
    const m2 = mse(ws, decodeRotated(await rtnQuantize(ws, 2, cols, sym)));
    assert.ok(Math.abs(m2 / target - 1) < 0.01, `symmetric ${bits} bits: ${m2} vs ${target}`);
    // Without the search, min–max is far from optimal.
    const plain = rtnConfig({ bits, groupSize: null, roundZero: false, scaleDtype: "F32" });
    assert.ok(mse(w, decodeRotated(await rtnQuantize(w, 8, cols, plain))) > 1.2 * target);
  }
});

Deno.test("rtn bitsPerWeight counts f16 scales, and zeros only when asymmetric", async () => {
  const w = fillNormal(new Float32Array(64 * 256), 2);
  const asym = await rtnQuantize(w, 64, 256, rtnConfig({ bits: 4 }));
  assert.equal(bitsPerWeight(asym, { includeTable: false }), 4.5);
  const sym = await rtnQuantize(w, 64, 256, rtnConfig({ bits: 4, symmetric: true }));
  assert.equal(bitsPerWeight(sym, { includeTable: false }), 4.25);
  assert.equal(clipRatios(100, 0.8).length, 80);
});

Deno.test({
  ...gpuCase(
    "rtnQuantize() on WebGPU matches the CPU: codes without clip search equal (a hardware GPU may flip ≤ 1e-3 of words by FMA)",
  ),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gpu = needGpu();
    let chunkedRuns = 0; // chunked passes that ran (not refused as unsupported)
    const rows = 24;
    const cols = 192;
    const w = fillNormal(new Float32Array(rows * cols), 8, 0, 0.05);
    // Second pass: weights split into 5-row chunks (uneven: 24 rows) to run the multi-chunk path.
    for (
      const [chunk, o] of [undefined, cols * 4 * 5].flatMap((ch) =>
        CONFIGS.map((o) => [ch, o] as const)
      )
    ) {
      const c = rtnConfig(o);
      const a = await rtnQuantize(w, rows, cols, c);
      setGpuChunkBytes(chunk);
      let b;
      try {
        b = await rtnQuantize(w, rows, cols, c, { kind: "webgpu", gpu });
        if (chunk) chunkedRuns++;
      } catch (e) {
        // Axis-0 groups taller than a chunk cannot be split: a clear "unsupported" error.
        if (chunk && e instanceof QuantlabError && e.code === "unsupported") continue;
        throw e;
      } finally {
        setGpuChunkBytes(undefined);
      }
      const ta = relErr(w, decodeRotated(a));
      const tb = relErr(w, decodeRotated(b));
      if (!c.clipSearch) {
        // Same f32 operations in the same order: only FMA contraction could flip a tie.
        let diff = 0;
        for (let i = 0; i < a.codes.length; i++) if (a.codes[i] !== b.codes[i]) diff++;
        // llvmpipe rounds like the CPU (0 words differ, measured); a hardware GPU may contract to FMA.
        const allowed = gpu.isFallback ? 0 : Math.floor(a.codes.length * 1e-3);
        assert.ok(
          diff <= allowed,
          `${JSON.stringify(o)}: ${diff} words differ (${allowed} allowed)`,
        );
        assert.deepEqual(b.scales, a.scales);
      }
      // With the search, f32 vs f64 error sums may pick a neighbouring ratio on a flat optimum.
      assert.ok(Math.abs(tb / ta - 1) < 0.03, `${JSON.stringify(o)}: ${tb} vs ${ta}`);
    }
    assert.ok(chunkedRuns > 0, "No chunked WebGPU pass ran: every one was refused as unsupported");
  },
});
