/**
 * What the per-tensor checksum costs when loading: XXH64 throughput, and the time of
 * `QuantizedCheckpoint.read` of a 4096 × 4096 HIGGS (2,256) tensor with and without the check.
 * Run: `./quantlab bench bench/checksum_bench.ts`.
 *
 * @module
 */
import { checksumOf } from "../src/io/checksum.ts";
import { QuantizedCheckpoint, writeQuantizedSafetensors } from "../src/io/quantized_checkpoint.ts";
import { packCodes } from "../src/quant/packing.ts";
import type { QuantizedTensor } from "../src/quant/format.ts";

const bytes = new Uint8Array(64 << 20).map((_, i) => (i * 2654435761) >>> 24);
Deno.bench("xxh64 of 64 MiB", { group: "hash" }, () => {
  checksumOf([bytes]);
});

const [rows, cols] = [4096, 4096];
const q: QuantizedTensor = {
  method: "higgs",
  shape: [rows, cols],
  paddedCols: cols,
  p: 2,
  codeBits: 8,
  codes: packCodes(Array.from({ length: rows * cols / 2 }, (_, i) => i & 255), rows, cols / 2, 8),
  table: new Float32Array(512).map((_, i) => (i % 7) / 8),
  tableDtype: "F16",
  groupSize: 1024,
  groupAxis: 1,
  scales: new Float32Array(rows * 4).fill(0.5),
  scaleStorage: { kind: "float", dtype: "F16" },
  rotation: { kind: "hadamard", size: 1024, seed: null },
  params: {},
};
const dir = await Deno.makeTempDir();
const path = `${dir}/q.safetensors`;
await writeQuantizedSafetensors(path, new Map([["w", q]]));
const ck = await QuantizedCheckpoint.open(path);
Deno.bench("read 4096×4096 HIGGS (2,256), checksum verified", { group: "read" }, async () => {
  await ck.read("w");
});
Deno.bench(
  "read 4096×4096 HIGGS (2,256), unchecked",
  { group: "read", baseline: true },
  async () => {
    await ck.read("w", { verify: false });
  },
);
addEventListener("unload", () => {
  ck.close();
  Deno.removeSync(dir, { recursive: true });
});
