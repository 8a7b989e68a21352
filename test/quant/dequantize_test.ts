import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fillNormal, randU32 } from "../../src/core/prng.ts";
import { decodeRotated } from "../../src/quant/decode.ts";
import {
  decodeRotatedFast,
  dequantize,
  dequantizeParallel,
  inverseRotate,
  rotateActivation,
} from "../../src/quant/dequantize.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { packCodes } from "../../src/quant/packing.ts";
import { fwhtReference } from "../../src/hadamard/reference.ts";

/** A random quantized tensor of any layout (codes, table, scales and zeros all random). */
function randomQuantized(
  rows: number,
  cols: number,
  o: {
    p: number;
    bits: number;
    g: number;
    axis: 0 | 1;
    h: number;
    seed: number | null;
    zeros: boolean;
  },
  s: number,
): QuantizedTensor {
  const unit = o.h || o.g;
  const pc = Math.ceil(cols / unit) * unit;
  const cpr = pc / o.p;
  const codes = Array.from({ length: rows * cpr }, (_, i) => randU32(s, i) % 2 ** o.bits);
  const groups = (rows * pc) / o.g;
  const q: QuantizedTensor = {
    method: "higgs",
    shape: [rows, cols],
    paddedCols: pc,
    p: o.p,
    codeBits: o.bits,
    codes: packCodes(codes, rows, cpr, o.bits),
    table: fillNormal(new Float32Array(2 ** o.bits * o.p), s + 1),
    tableDtype: "F32",
    groupSize: o.g,
    groupAxis: o.axis,
    scales: fillNormal(new Float32Array(groups), s + 2).map(Math.abs),
    scaleStorage: { kind: "float", dtype: "F32" },
    rotation: o.h ? { kind: "hadamard", size: o.h, seed: o.seed } : { kind: "none" },
    params: {},
  };
  if (o.zeros) {
    q.zeros = fillNormal(new Float32Array(groups), s + 3);
    q.zeroStorage = { kind: "float", dtype: "F32" };
  }
  return q;
}

const CASES = [
  { rows: 3, cols: 100, p: 1, bits: 3, g: 4, axis: 1, h: 32, seed: 9, zeros: true },
  { rows: 5, cols: 64, p: 2, bits: 8, g: 64, axis: 1, h: 64, seed: null, zeros: false },
  { rows: 4, cols: 70, p: 3, bits: 5, g: 24, axis: 1, h: 0, seed: null, zeros: false },
  { rows: 6, cols: 33, p: 1, bits: 4, g: 2, axis: 0, h: 16, seed: 3, zeros: true },
  { rows: 2, cols: 200, p: 2, bits: 11, g: 32, axis: 1, h: 128, seed: 1, zeros: true },
] as const;

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return a.length === b.length && x.every((v, i) => v === y[i]);
}

Deno.test("decodeRotatedFast() is bit-identical to the reference decodeRotated() on every layout", () => {
  CASES.forEach((c, i) => {
    const q = randomQuantized(c.rows, c.cols, c, 10 * i);
    assert.ok(sameBits(decodeRotatedFast(q), decodeRotated(q)), JSON.stringify(c));
  });
});

Deno.test("dequantize() is the inverse rotation of decodeRotated() with the padding dropped", () => {
  CASES.forEach((c, i) => {
    const q = randomQuantized(c.rows, c.cols, c, 10 * i);
    const rot = decodeRotated(q);
    const pc = q.paddedCols;
    const full = c.h
      ? fwhtReference(rot, c.rows, pc, { blockSize: c.h, seed: c.seed, inverse: true }).data
      : rot;
    const w = dequantize(q);
    assert.equal(w.length, c.rows * c.cols);
    let err = 0;
    let norm = 0;
    for (let r = 0; r < c.rows; r++) {
      for (let k = 0; k < c.cols; k++) {
        const d = w[r * c.cols + k]! - full[r * pc + k]!;
        err += d * d;
        norm += full[r * pc + k]! ** 2;
      }
    }
    assert.ok(err / norm < 1e-12, `${JSON.stringify(c)}: NMSE ${err / norm}`);
  });
});

Deno.test("dequantizeParallel() gives the same bits as dequantize()", async () => {
  const q = randomQuantized(300, 1000, {
    p: 2,
    bits: 8,
    g: 256,
    axis: 1,
    h: 512,
    seed: 4,
    zeros: false,
  }, 1);
  assert.ok(sameBits(await dequantizeParallel(q), dequantize(q)));
});

Deno.test("rotateActivation() gives x' with Ŵx = decodeRotated(q)·x' (the inference identity)", () => {
  for (const c of CASES.filter((c) => c.axis === 1)) {
    const q = randomQuantized(c.rows, c.cols, c, 7);
    const batch = 3;
    const x = fillNormal(new Float32Array(batch * c.cols), 99);
    const xr = rotateActivation(q, x, batch);
    assert.equal(xr.length, batch * q.paddedCols);
    const w = dequantize(q);
    const wr = decodeRotated(q);
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < c.rows; o++) {
        let y = 0;
        let yr = 0;
        let mag = 0;
        for (let k = 0; k < c.cols; k++) {
          y += w[o * c.cols + k]! * x[b * c.cols + k]!;
          mag += Math.abs(w[o * c.cols + k]! * x[b * c.cols + k]!);
        }
        for (let k = 0; k < q.paddedCols; k++) {
          yr += wr[o * q.paddedCols + k]! * xr[b * q.paddedCols + k]!;
        }
        assert.ok(Math.abs(y - yr) <= 1e-5 * mag, `${JSON.stringify(c)}: ${y} vs ${yr}`);
      }
    }
  }
});

Deno.test("rotateActivation() names the expected size when the activation does not fit", () => {
  const q = randomQuantized(2, 10, {
    p: 1,
    bits: 2,
    g: 16,
    axis: 1,
    h: 16,
    seed: null,
    zeros: false,
  }, 1);
  assert.throws(
    () => rotateActivation(q, new Float32Array(15), 2),
    (e: unknown) =>
      e instanceof QuantlabError && /batch 2 × 10 input features needs 20/.test(e.message),
  );
});

Deno.test("inverseRotate() leaves a tensor without rotation unchanged", () => {
  const x = new Float32Array([1, 2, 3]);
  assert.equal(inverseRotate(x, 1, 3, { kind: "none" }), x);
  assert.deepEqual([...x], [1, 2, 3]);
});
