/**
 * What the corpus builders (`build_brown.ts`, `build_sotu.ts`) share: fetching a pinned npm
 * tarball (checked against its registry integrity) as a map of files, and writing the split texts
 * gzipped with their manifest entries. Deterministic: fixed gzip level, no timestamps.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { type CorpusSplit, type CorpusSplitEntry, sha256Hex } from "../src/data/corpus.ts";

/** Regular files of a tar archive, by path. */
function untar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const dec = new TextDecoder();
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = dec.decode(h.subarray(0, 100)).replace(/\0.*$/s, "");
    const prefix = dec.decode(h.subarray(345, 500)).replace(/\0.*$/s, "");
    const size = parseInt(dec.decode(h.subarray(124, 136)).replace(/\0.*$/s, "").trim() || "0", 8);
    const type = String.fromCharCode(h[156]!);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === "0" || type === "\0") files.set(prefix ? `${prefix}/${name}` : name, body);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * The files of an npm registry tarball (paths without the leading `package/`), after checking
 * the tarball's SHA-512 against `integrity` (the registry's `dist.integrity`, pinned).
 */
export async function fetchNpmTarball(
  tarball: string,
  integrity: string,
): Promise<Map<string, Uint8Array>> {
  const tgz = new Uint8Array(await (await fetch(tarball)).arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", tgz));
  let bin = "";
  for (const b of digest) bin += String.fromCharCode(b);
  const got = "sha512-" + btoa(bin);
  if (got !== integrity) {
    throw new Error(`${tarball}: tarball integrity ${got}, expected ${integrity}`);
  }
  const tar = new Uint8Array(
    await new Response(new Blob([tgz]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  return new Map([...untar(tar)].map(([p, body]) => [p.replace(/^package\//, ""), body]));
}

/**
 * Writes one split's documents (joined by a blank line, ending in a newline) as
 * `<out>/<corpus>_<split>.txt.gz` and returns its manifest entry.
 */
export async function writeCorpusSplit(
  out: URL,
  corpus: string,
  split: CorpusSplit,
  texts: string[],
): Promise<CorpusSplitEntry> {
  const text = texts.join("\n\n") + "\n";
  const bytes = new TextEncoder().encode(text);
  const file = `${corpus}_${split}.txt.gz`;
  await Deno.writeFile(new URL(file, out), gzipSync(bytes, { level: 9 }));
  return {
    file,
    lines: text.split("\n").filter((l) => l).length,
    chars: text.length,
    sha256: await sha256Hex(bytes),
  };
}
