// This module is browser compatible.
/**
 * The embedded text corpora (`assets/corpus/`): per corpus a manifest `<name>.json` and one
 * gzipped UTF-8 text per split (`<name>_<split>.txt.gz`), whose SHA-256 the manifest pins.
 * `brown` is the Brown corpus (`brown.ts`), `sotu` the US State of the Union addresses
 * (`sotu.ts`); the builders live in `tools/build_<name>.ts`. {@linkcode loadCorpus} reads a
 * split back and refuses one that does not match its manifest.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** The embedded corpora. */
export const CORPORA = ["brown", "sotu"] as const;
/** The name of an embedded corpus. */
export type CorpusName = typeof CORPORA[number];
/** The three parts of a corpus. */
export type CorpusSplit = "train" | "valid" | "test";
/** The splits, in order. */
export const CORPUS_SPLITS: readonly CorpusSplit[] = ["train", "valid", "test"];

/** Where the corpus assets live. */
export const CORPUS_ASSETS_URL: URL = new URL("../../assets/corpus/", import.meta.url);

/** How messages name each corpus. */
const LABEL: Record<CorpusName, string> = { brown: "Brown", sotu: "State of the Union" };

/** One split of a manifest: its file, lines, characters and SHA-256 of the text. */
export interface CorpusSplitEntry {
  /** The gzipped text, relative to the manifest. */
  file: string;
  /** Non-empty lines. */
  lines: number;
  /** UTF-16 code units of the text. */
  chars: number;
  /** SHA-256 of the UTF-8 text, hex. */
  sha256: string;
}

/** The manifest of a corpus (`assets/corpus/<name>.json`). */
export interface CorpusManifest<E extends CorpusSplitEntry = CorpusSplitEntry> {
  /** Where the text comes from. */
  source: string;
  /** The command that rebuilds the assets. */
  command: string;
  /** Per split. */
  splits: Record<CorpusSplit, E>;
}

/**
 * The corpus of a name, or a `bad-argument` error listing the valid ones.
 *
 * @example
 * ```ts
 * import { corpusName } from "./corpus.ts";
 * if (corpusName("sotu") !== "sotu") throw new Error();
 * ```
 */
export function corpusName(name: string): CorpusName {
  if (!(CORPORA as readonly string[]).includes(name)) {
    throw new QuantlabError(
      "bad-argument",
      `Corpus "${name}" is not embedded (valid: ${CORPORA.join(", ")})`,
    );
  }
  return name as CorpusName;
}

async function readAsset(
  corpus: CorpusName,
  name: string,
  base: URL,
): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL(name, base);
  const what = `${LABEL[corpus]} corpus asset ${url}`;
  const res = await fetch(url).catch((e) => {
    throw new QuantlabError("not-found", `${what} cannot be read: ${e}`);
  });
  if (!res.ok) throw new QuantlabError("not-found", `${what} is missing`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * A corpus manifest (from `base`, default the project's assets).
 *
 * @example
 * ```ts
 * import { loadCorpusManifest } from "./corpus.ts";
 * const m = await loadCorpusManifest("sotu");
 * if (!m.splits.test.file.endsWith(".txt.gz")) throw new Error();
 * ```
 */
export async function loadCorpusManifest(
  corpus: CorpusName,
  base: URL = CORPUS_ASSETS_URL,
): Promise<CorpusManifest> {
  return JSON.parse(new TextDecoder().decode(await readAsset(corpus, `${corpus}.json`, base)));
}

/** SHA-256 of bytes, hex. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The plain text of one split of a corpus, checked against its manifest's SHA-256 (`bad-file`
 * naming the rebuild command when it differs). `base`: another assets folder (tests).
 *
 * @example
 * ```ts
 * import { loadCorpus } from "./corpus.ts";
 * const valid = await loadCorpus("sotu", "valid");
 * if (!valid.includes("\n\n")) throw new Error();
 * ```
 */
export async function loadCorpus(
  corpus: CorpusName,
  split: CorpusSplit,
  base: URL = CORPUS_ASSETS_URL,
): Promise<string> {
  const m = await loadCorpusManifest(corpus, base);
  const entry = m.splits[split];
  if (!CORPUS_SPLITS.includes(split) || !entry) {
    throw new QuantlabError(
      "bad-argument",
      `${LABEL[corpus]} split "${split}" is not train, valid or test`,
    );
  }
  const gz = await readAsset(corpus, entry.file, base);
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  const hash = await sha256Hex(bytes);
  if (hash !== entry.sha256) {
    throw new QuantlabError(
      "bad-file",
      `${LABEL[corpus]} ${split} text does not match its manifest (SHA-256 ${hash}, expected ` +
        `${entry.sha256}); rebuild with: ${m.command}`,
    );
  }
  return new TextDecoder().decode(bytes);
}
