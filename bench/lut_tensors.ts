/**
 * Random LUT tensors of the CPU kernels' formats, shared by the LUT benches: random codes (whole
 * random words), a uniform table for affine formats (RTN/HQQ) or a random one, and scales and zeros
 * at their stored precision (F16 unless `f32`), as a checkpoint's are decoded.
 *
 * @module
 */
import { roundToF16 } from "../src/core/dtype.ts";
import { randU32, randUniform } from "../src/core/prng.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";

/** A format as the benches name it. */
export interface LutBenchFormat {
  name: string;
  /** Bits per code word. */
  bits: number;
  /** Weights per code word. */
  p: number;
  /** Weights per group. */
  g: number;
  /** Affine (RTN/HQQ): a zero per group on a uniform table. */
  zeros?: boolean;
  /** HIGGS: the Hadamard block. */
  h?: number;
  /** Scales and zeros stored as F32 (values not f16: the bit-plane kernel's f32 layout). */
  f32?: boolean;
}

/** A random rows × cols tensor of format `f`. */
export function randomLutTensor(
  rows: number,
  cols: number,
  f: LutBenchFormat,
  seed: number,
): QuantizedTensor {
  const words = rows * cols / f.p * f.bits / 32, groups = rows * cols / f.g, n = 2 ** f.bits;
  const stored = (a: Float32Array): Float32Array => f.f32 ? a : roundToF16(a);
  const storage = { kind: "float" as const, dtype: f.f32 ? "F32" as const : "F16" as const };
  const q: QuantizedTensor = {
    method: f.h ? "higgs" : f.zeros ? "rtn" : "nf4",
    shape: [rows, cols],
    paddedCols: cols,
    p: f.p,
    codeBits: f.bits,
    codes: Uint32Array.from({ length: words }, (_, i) => randU32(seed, i)),
    table: Float32Array.from({ length: n * f.p }, (_, i) => f.zeros ? i : randUniform(2, i) - 0.5),
    tableDtype: "F16",
    groupSize: f.g,
    groupAxis: 1,
    scales: stored(
      Float32Array.from({ length: groups }, (_, i) => 0.01 * randUniform(seed + 1, i)),
    ),
    scaleStorage: storage,
    rotation: f.h ? { kind: "hadamard", size: f.h, seed: 1 } : { kind: "none" },
    params: {},
  };
  if (f.zeros) {
    q.zeros = stored(
      Float32Array.from({ length: groups }, (_, i) => randUniform(seed + 2, i) * (n - 1)),
    );
    q.zeroStorage = storage;
  }
  return q;
}
