/**
 * Resident weight bytes at decode per format with `fast` CPU kernels (issue 21's goal: ≤ 1.1× the
 * checkpoint's packed bytes), on one layer of the Llama-3.2-1B shape (its 7 projections): the
 * bytes of a {@linkcode LutLinear}'s weight arrays (codes, scales, zeros: the layout decode runs
 * on, after one `fast` batch-1 call repacked them in place; also as prepared, before it) over the
 * checkpoint's packed bytes (codes, scales and zeros at their stored precision, as `bitsPerWeight`
 * counts them, the table left out); and the bytes of the buffers those arrays live in (the
 * kernels' shared memory with its per-tensor activation, output and scratch regions, sized for a
 * pool of one worker here). Deterministic: byte counts, no timing.
 *
 *     ./quantlab deno run -A bench/lut_resident.ts
 *
 * @module
 */
import { roundToF16 } from "../src/core/dtype.ts";
import { randU32, randUniform } from "../src/core/prng.ts";
import { setPoolSize, shutdownPool } from "../src/cpu/pool.ts";
import { setLutNumerics } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import { LutLinear } from "../src/lut/linear.ts";
import { bitsPerWeight, type QuantizedTensor } from "../src/quant/format.ts";

interface Format {
  name: string;
  bits: number;
  p: number;
  g: number;
  zeros?: boolean;
  h?: number;
  /** Scales (and zeros) stored as F32 (values not f16). */
  f32?: boolean;
}

const FORMATS: Format[] = [
  { name: "NF4 g64", bits: 4, p: 1, g: 64 },
  { name: "RTN/HQQ 4-bit g64", bits: 4, p: 1, g: 64, zeros: true },
  { name: "RTN/HQQ 3-bit g64", bits: 3, p: 1, g: 64, zeros: true },
  { name: "RTN/HQQ 2-bit g64", bits: 2, p: 1, g: 64, zeros: true },
  { name: "RTN/HQQ 2-bit g128", bits: 2, p: 1, g: 128, zeros: true },
  { name: "RTN/HQQ 2-bit g64, F32 scales", bits: 2, p: 1, g: 64, zeros: true, f32: true },
  { name: "HIGGS (1,16) g64", bits: 4, p: 1, g: 64, h: 64 },
  { name: "HIGGS (2,256) g256 h256", bits: 8, p: 2, g: 256, h: 256 },
  { name: "HIGGS (2,16) g256 h256", bits: 4, p: 2, g: 256, h: 256 },
];

/** One layer of the 1B shape: q, k, v, o, gate, up, down as [out, in]. */
const SHAPES: [number, number][] = [
  [2048, 2048],
  [512, 2048],
  [512, 2048],
  [2048, 2048],
  [8192, 2048],
  [8192, 2048],
  [2048, 8192],
];

/** Random codes; scales and zeros at the format's stored precision. */
function tensor(rows: number, cols: number, f: Format, seed: number): QuantizedTensor {
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

/** Bytes of the layer's weight arrays now, and of the distinct buffers they live in. */
function residentBytes(lin: LutLinear): { arrays: number; buffers: number } {
  const bufs = new Set<ArrayBufferLike>();
  let arrays = 0, buffers = 0;
  for (const a of [lin.q.codes, lin.q.scales, lin.q.zeros]) {
    if (!a) continue;
    arrays += a.byteLength;
    bufs.add(a.buffer);
  }
  for (const b of bufs) buffers += b.byteLength;
  return { arrays, buffers };
}

console.log(
  `resident weight bytes at decode, one layer of the Llama-3.2-1B shape (7 projections), fast ` +
    `kernels: ${lutInt8Isa() ?? "TypeScript (no WebAssembly SIMD: no repack)"}`,
);
setPoolSize(1);
setLutNumerics("fast");
const rows = [
  "| format | packed bits/weight | packed MB | weight arrays MB, prepared / decode | weight arrays / packed at decode | with the kernels' regions / packed at decode |",
  "| --- | --- | --- | --- | --- | --- |",
];
try {
  for (const f of FORMATS) {
    let packed = 0, prepared = 0, decode = 0, buffers = 0, bits = 0;
    for (const [i, [r, c]] of SHAPES.entries()) {
      const q = tensor(r, c, f, 10 + i);
      bits = bitsPerWeight(q, { includeTable: false });
      packed += bits * r * c / 8;
      const lin = new LutLinear(q);
      prepared += residentBytes(lin).arrays;
      await lin.forward(Float32Array.from({ length: c }, (_, j) => randUniform(5, j) - 0.5), 1);
      const now = residentBytes(lin);
      decode += now.arrays;
      buffers += now.buffers;
    }
    const mb = (b: number): string => (b / 1e6).toFixed(2);
    rows.push(
      `| ${f.name} | ${bits.toFixed(3)} | ${mb(packed)} | ${mb(prepared)} / ${mb(decode)} | ` +
        `${(decode / packed).toFixed(3)}× | ${(buffers / packed).toFixed(3)}× |`,
    );
    console.log(rows.at(-1));
  }
} finally {
  setLutNumerics("exact");
  setPoolSize(undefined);
  shutdownPool();
}
console.log(rows.join("\n"));
