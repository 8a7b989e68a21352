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
import { randUniform } from "../src/core/prng.ts";
import { setPoolSize, shutdownPool } from "../src/cpu/pool.ts";
import { setLutNumerics } from "../src/lut/cpu.ts";
import { lutInt8Isa } from "../src/lut/cpu_int8.ts";
import { LutLinear } from "../src/lut/linear.ts";
import { bitsPerWeight } from "../src/quant/format.ts";
import { type LutBenchFormat, randomLutTensor } from "./lut_tensors.ts";

type Format = LutBenchFormat;

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
      const q = randomLutTensor(r, c, f, 10 + i);
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
