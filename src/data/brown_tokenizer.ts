// This module is browser compatible.
/**
 * The project's tokenizer, `assets/tokenizer/brown_bpe4096/`: a byte-level BPE with 4,096 ids
 * (256 bytes, 3,838 merges, `<s>`, `</s>`) learned by `trainBpe` on Brown's train split.
 * `tools/build_tokenizer.ts` writes it; a test checks the committed file equals a rebuild.
 *
 * @module
 */
import { bpeTokenizerJson, trainBpe } from "./bpe.ts";
import { loadBrown } from "./brown.ts";

/** Total ids of the project's tokenizer (bytes + merges + 2 specials). */
export const BROWN_VOCAB_SIZE = 4096;

/** Where it lives. */
export const BROWN_TOKENIZER_URL: URL = new URL(
  "../../assets/tokenizer/brown_bpe4096/",
  import.meta.url,
);

/**
 * The project's tokenizer as `tokenizer.json` text (two-space JSON, trailing newline).
 *
 * @example
 * ```ts
 * import { brownTokenizerJsonText } from "./brown_tokenizer.ts";
 * const json = JSON.parse(await brownTokenizerJsonText());
 * if (json.added_tokens[1].id !== 4095) throw new Error();
 * ```
 */
export async function brownTokenizerJsonText(): Promise<string> {
  const model = trainBpe(await loadBrown("train"), BROWN_VOCAB_SIZE - 2);
  return JSON.stringify(bpeTokenizerJson(model), null, 2) + "\n";
}
