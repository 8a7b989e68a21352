/**
 * The `--text` argument of the evaluation commands: a UTF-8 file, or `brown:train|valid|test`, a
 * split of the embedded Brown corpus (`src/data/brown.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { loadBrown } from "../data/brown.ts";

/**
 * The bytes of a `--text` argument. Errors: `not-found` / `bad-file` naming the path.
 *
 * @example
 * ```ts
 * import { readTextArg } from "./text_source.ts";
 * const b = await readTextArg("brown:valid");
 * if (b.length < 100000) throw new Error();
 * ```
 */
export async function readTextArg(arg: string): Promise<Uint8Array> {
  const m = /^brown:(train|valid|test)$/.exec(arg);
  if (m) return new TextEncoder().encode(await loadBrown(m[1] as "train" | "valid" | "test"));
  try {
    return await Deno.readFile(arg);
  } catch (e) {
    throw new QuantlabError(
      e instanceof Deno.errors.NotFound ? "not-found" : "bad-file",
      `Cannot read text file ${arg}: ${(e as Error).message} (or use brown:train|valid|test)`,
    );
  }
}
