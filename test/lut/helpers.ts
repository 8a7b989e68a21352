// Shared helpers of the LUT tests: random QuantizedTensors of every layout, and an independent
// f64 reference (decodeRotated + a Hadamard built from its definition + a plain dense product).
import { randSign, randU32, randUniform } from "../../src/core/prng.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { decodeRotated } from "../../src/quant/decode.ts";
import { packCodes } from "../../src/quant/packing.ts";

/** Layout of a random test tensor. */
export interface RandomSpec {
  rows: number;
  cols: number;
  bits: number;
  p?: number;
  /** Group size; "channel" = one group per row (axis 1) or per column (axis 0). */
  group?: number | "channel";
  axis?: 0 | 1;
  zeros?: boolean;
  /** Hadamard block size and seed (null = plain), or undefined for no rotation. */
  hadamard?: { size: number; seed: number | null };
  seed?: number;
}

function lcm(a: number, b: number): number {
  let x = a, y = b;
  while (y) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** A random, valid QuantizedTensor of the given layout. */
export function randomQuantized(spec: RandomSpec): QuantizedTensor {
  const { rows, cols, bits } = spec;
  const p = spec.p ?? 1;
  const axis = spec.axis ?? 1;
  const seed = spec.seed ?? 1;
  let unit = p;
  if (spec.hadamard) unit = lcm(unit, spec.hadamard.size);
  if (axis === 1 && typeof spec.group === "number") unit = lcm(unit, spec.group);
  const pc = Math.ceil(cols / unit) * unit;
  const g = spec.group === "channel" || spec.group === undefined
    ? (axis === 1 ? pc : rows)
    : spec.group;
  const cpr = pc / p;
  const codes = new Uint32Array(rows * cpr);
  for (let i = 0; i < codes.length; i++) codes[i] = randU32(seed, i) >>> (32 - bits);
  const table = new Float32Array(2 ** bits * p);
  for (let i = 0; i < table.length; i++) table[i] = 4 * randUniform(seed + 1, i) - 2;
  const groups = (rows * pc) / g;
  const scales = new Float32Array(groups);
  for (let i = 0; i < groups; i++) scales[i] = 0.1 + randUniform(seed + 2, i);
  const q: QuantizedTensor = {
    method: spec.zeros ? "hqq" : "higgs",
    shape: [rows, cols],
    paddedCols: pc,
    p,
    codeBits: bits,
    codes: packCodes(codes, rows, cpr, bits),
    table,
    tableDtype: "F32",
    groupSize: g,
    groupAxis: axis,
    scales,
    scaleStorage: { kind: "float", dtype: "F32" },
    rotation: spec.hadamard
      ? { kind: "hadamard", size: spec.hadamard.size, seed: spec.hadamard.seed }
      : { kind: "none" },
    params: {},
  };
  if (spec.zeros) {
    const zeros = new Float32Array(groups);
    for (let i = 0; i < groups; i++) zeros[i] = 3 * randUniform(seed + 3, i) - 1;
    q.zeros = zeros;
    q.zeroStorage = { kind: "float", dtype: "F32" };
  }
  return q;
}

/** Random activations in (−1, 1). */
export function randomX(n: number, seed = 9): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 2 * randUniform(seed, i) - 1;
  return x;
}

function popcountOdd(v: number): boolean {
  let c = 0;
  for (let x = v; x; x &= x - 1) c ^= 1;
  return c === 1;
}

/**
 * The f64 reference, independent of src/lut: Ŵrot = decodeRotated(q), R(x) from the Hadamard's
 * definition (O(h²)), then a plain dense product.
 */
export function referenceProduct(q: QuantizedTensor, x: Float32Array, batch: number): Float64Array {
  const [rows, cols] = q.shape;
  const pc = q.paddedCols;
  const w = decodeRotated(q);
  const xr = new Float64Array(batch * pc);
  for (let b = 0; b < batch; b++) {
    const row = new Float64Array(pc);
    for (let c = 0; c < cols; c++) row[c] = x[b * cols + c]!;
    if (q.rotation.kind === "hadamard") {
      const { size: h, seed } = q.rotation;
      if (seed !== null) { for (let c = 0; c < pc; c++) row[c] = row[c]! * randSign(seed, c); }
      for (let blk = 0; blk < pc; blk += h) {
        for (let i = 0; i < h; i++) {
          let s = 0;
          for (let j = 0; j < h; j++) s += popcountOdd(i & j) ? -row[blk + j]! : row[blk + j]!;
          xr[b * pc + blk + i] = s / Math.sqrt(h);
        }
      }
    } else {
      xr.set(row, b * pc);
    }
  }
  const y = new Float64Array(batch * rows);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < rows; o++) {
      let s = 0;
      for (let c = 0; c < pc; c++) s += w[o * pc + c]! * xr[b * pc + c]!;
      y[b * rows + o] = s;
    }
  }
  return y;
}

/** ‖y − ref‖ / ‖ref‖. */
export function relError(y: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = y[i]! - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return Math.sqrt(num / (den || 1));
}
