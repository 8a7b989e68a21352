/**
 * Runs llama.cpp on windows of token ids in its own process (its threads and global state stay out
 * of the test runner) and writes their logits, f32 little-endian, window after window:
 *
 * ```sh
 * deno run --allow-all peers/llamacpp/logits.ts MODEL.gguf OUT.f32 '[[1,2,3],[4,5]]'
 * ```
 *
 * Prints `{"vocabSize": N}` on stdout.
 *
 * @module
 */
import { LlamaCpp, llamaCppLibDir } from "./ffi.ts";

if (import.meta.main) {
  const [gguf, out, json] = Deno.args;
  if (!gguf || !out || !json) {
    console.error("usage: logits.ts MODEL.gguf OUT.f32 WINDOWS_JSON");
    Deno.exit(2);
  }
  const windows = JSON.parse(json) as number[][];
  const lib = llamaCppLibDir(new URL("../../", import.meta.url));
  const llama = LlamaCpp.open(lib, gguf, { maxTokens: Math.max(...windows.map((w) => w.length)) });
  using f = await Deno.open(out, { write: true, create: true, truncate: true });
  for (const w of windows) {
    const l = llama.logits(w);
    await f.write(new Uint8Array(l.buffer, l.byteOffset, l.byteLength));
  }
  console.log(JSON.stringify({ vocabSize: llama.vocabSize }));
  llama.close();
}
