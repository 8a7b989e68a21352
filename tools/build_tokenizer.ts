/**
 * Writes the project's tokenizer, `assets/tokenizer/brown_bpe4096/` (`tokenizer.json` and
 * `tokenizer_config.json`), from `src/data/brown_tokenizer.ts`. Deterministic; a test checks the
 * committed file equals a rebuild.
 *
 *     deno run -A tools/build_tokenizer.ts
 *
 * @module
 */
import { BROWN_TOKENIZER_URL, brownTokenizerJsonText } from "../src/data/brown_tokenizer.ts";
import { tinyTokenizerConfig } from "../src/data/tiny_tokenizer.ts";

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
