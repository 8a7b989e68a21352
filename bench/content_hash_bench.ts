/**
 * What the whole-file content hash of a run key costs (`src/io/content_hash.ts`): XXH64 of every
 * byte of a 256 MiB bf16 safetensors file, alone and with the NaN/Inf check of its tensor, as
 * MB/s and as a ratio to reading the same file into the same 16 MiB buffer without hashing (the
 * limit: the hash cannot be faster than the read), all in the same run; the file is in the page
 * cache after the first pass. Run: `./quantlab bench bench/content_hash_bench.ts`.
 *
 * @module
 */
import { hashSafetensorsFile } from "../src/io/content_hash.ts";
import { writeSafetensors } from "../src/io/safetensors.ts";
import { Tensor } from "../src/core/tensor.ts";
import { medianMs } from "./timing.ts";

const ELEMENTS = 128 << 20; // 256 MiB of bf16
const data = new Uint16Array(ELEMENTS);
for (let i = 0; i < ELEMENTS; i++) data[i] = 0x3c00 + (i * 2654435761 >>> 22) % 0x0800; // finite
const dir = await Deno.makeTempDir();
const path = `${dir}/w.safetensors`;
await writeSafetensors(path, { w: new Tensor([8192, ELEMENTS / 8192], "BF16", data) });
const bytes = (await Deno.stat(path)).size;

/** Reads the file in 16 MiB pieces into one buffer: the limit of any pass over it. */
async function readOnly(): Promise<void> {
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(16 << 20);
  while ((await f.read(buf)) !== null) { /* read only */ }
}

const mbs = (ms: number): number => bytes / 1e6 / (ms / 1000);
const read = mbs(await medianMs(readOnly, 5));
const hash = mbs(await medianMs(() => hashSafetensorsFile(path), 5));
const hashCheck = mbs(await medianMs(() => hashSafetensorsFile(path, new Set(["w"])), 5));
console.log(`file                 ${(bytes / 2 ** 20).toFixed(0)} MiB bf16 (page cache)`);
console.log(`read only            ${read.toFixed(0)} MB/s`);
console.log(`XXH64                ${hash.toFixed(0)} MB/s = ${(hash / read).toFixed(2)} × read`);
console.log(
  `XXH64 + NaN check    ${hashCheck.toFixed(0)} MB/s = ${(hashCheck / read).toFixed(2)} × read`,
);

Deno.bench("read 256 MiB", { group: "content hash" }, readOnly);
Deno.bench("XXH64 of 256 MiB", { group: "content hash" }, async () => {
  await hashSafetensorsFile(path);
});
Deno.bench("XXH64 + NaN check of 256 MiB bf16", { group: "content hash" }, async () => {
  await hashSafetensorsFile(path, new Set(["w"]));
});
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
