/**
 * Builds the project's tokenizer, `assets/tokenizer/brown_bpe4096/`: a byte-level BPE with 4,096
 * ids (256 bytes, 3,838 merges, `<s>`, `</s>`) learned by `trainBpe` on Brown's train split, as
 * `tokenizer.json` and `tokenizer_config.json`. Deterministic; a test checks the committed file
 * equals a rebuild.
 *
 *     deno run -A src/data/build_tokenizer.ts
 *
 * @module
 */
import { bpeTokenizerJson, trainBpe } from "./bpe.ts";
import { loadBrown } from "./brown.ts";
import { tinyTokenizerConfig } from "../model/tiny.ts";

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
 * import { brownTokenizerJsonText } from "./build_tokenizer.ts";
 * const json = JSON.parse(await brownTokenizerJsonText());
 * if (json.added_tokens[1].id !== 4095) throw new Error();
 * ```
 */
export async function brownTokenizerJsonText(): Promise<string> {
  const model = trainBpe(await loadBrown("train"), BROWN_VOCAB_SIZE - 2);
  return JSON.stringify(bpeTokenizerJson(model), null, 2) + "\n";
}

if (import.meta.main) {
  await Deno.mkdir(BROWN_TOKENIZER_URL, { recursive: true });
  await Deno.writeTextFile(
    new URL("tokenizer.json", BROWN_TOKENIZER_URL),
    await brownTokenizerJsonText(),
  );
  await Deno.writeTextFile(
    new URL("tokenizer_config.json", BROWN_TOKENIZER_URL),
    JSON.stringify(tinyTokenizerConfig(), null, 2) + "\n",
  );
  console.log(`wrote ${BROWN_TOKENIZER_URL.pathname}`);
}
