/**
 * Throughput of the dtype conversions and safetensors I/O, as ratios to the copy bandwidth
 * (`Float32Array.prototype.set`) measured in the same run. Run: `deno bench -A bench/safetensors_bench.ts`.
 */
import { fromBf16, fromF16, roundToF16, toBf16, toF16 } from "../src/core/dtype.ts";
import { Tensor } from "../src/core/tensor.ts";
import { parseSafetensors, serializeSafetensors } from "../src/io/safetensors_format.ts";
import { SafetensorsFile, writeSafetensors } from "../src/io/safetensors.ts";

const N = 1 << 22; // 4 Mi elements, 16 MiB of f32
const x = new Float32Array(N);
for (let i = 0; i < N; i++) x[i] = Math.sin(i) * 2 ** ((i % 30) - 15);
const h = toF16(x);
const b = toBf16(x);
const copyDst = new Float32Array(N);
const tensors = { w: Tensor.f32([N], x), h: new Tensor([N], "F16", h) };
const fileBytes = serializeSafetensors(tensors);
const dir = await Deno.makeTempDir();
const path = `${dir}/bench.safetensors`;
await writeSafetensors(path, tensors);

/** Best-of-5 seconds for `fn`. */
async function time(fn: () => unknown): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best / 1000;
}

// Roofline: bytes read + written per second by a plain typed-array copy.
const copyGBs = (2 * 4 * N) / (await time(() => copyDst.set(x))) / 1e9;
const cases: [string, number, () => unknown][] = [
  ["toF16", 6 * N, () => toF16(x)],
  ["fromF16", 6 * N, () => fromF16(h)],
  ["toBf16", 6 * N, () => toBf16(x)],
  ["fromBf16", 6 * N, () => fromBf16(b)],
  ["roundToF16", 8 * N, () => roundToF16(x)],
  ["serializeSafetensors", 2 * fileBytes.length, () => serializeSafetensors(tensors)],
  ["parseSafetensors", fileBytes.length, () => parseSafetensors(fileBytes)],
  ["SafetensorsFile read", 4 * N, async () => {
    using f = await SafetensorsFile.open(path);
    await f.read("w");
  }],
];
console.log(
  `copy roofline: ${copyGBs.toFixed(2)} GB/s (Float32Array.prototype.set, ${4 * N} bytes)`,
);
for (const [name, bytes, fn] of cases) {
  const gbs = bytes / (await time(fn)) / 1e9;
  console.log(
    `${name.padEnd(22)} ${gbs.toFixed(2).padStart(6)} GB/s = ${(gbs / copyGBs).toFixed(2)} × copy`,
  );
}

Deno.bench("toF16, 4 Mi elements", () => void toF16(x));
Deno.bench("fromF16, 4 Mi elements", () => void fromF16(h));
Deno.bench("toBf16, 4 Mi elements", () => void toBf16(x));
Deno.bench("fromBf16, 4 Mi elements", () => void fromBf16(b));
Deno.bench("serializeSafetensors, 24 MiB", () => void serializeSafetensors(tensors));
Deno.bench("parseSafetensors, 24 MiB", () => void parseSafetensors(fileBytes));
Deno.bench("SafetensorsFile.open + read 16 MiB", async () => {
  using f = await SafetensorsFile.open(path);
  await f.read("w");
});
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
