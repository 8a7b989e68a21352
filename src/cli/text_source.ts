/**
 * The `--text` argument of the evaluation commands: a UTF-8 file, or `CORPUS:SPLIT`
 * ({@linkcode TEXT_CORPORA}: `brown:test`, `sotu:valid`, …), a split of an embedded corpus
 * (`src/data/corpus.ts`: Brown, the State of the Union addresses).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randU32 } from "../core/prng.ts";
import { CORPORA, type CorpusName, type CorpusSplit, loadCorpus } from "../data/corpus.ts";
import { sha256 } from "../io/results.ts";
import { loadTokenizer } from "../model/loader.ts";
import type { ParsedArgs } from "./command.ts";

/** How help pages name the embedded splits a `--text` argument may be. */
export const TEXT_CORPORA = `{${CORPORA.join("|")}}:{train|valid|test}`;

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
  const m = embeddedSplit(arg);
  if (m) {
    return new TextEncoder().encode(
      await loadCorpus(m[1] as CorpusName, m[2] as CorpusSplit),
    );
  }
  try {
    return await Deno.readFile(arg);
  } catch (e) {
    throw new QuantlabError(
      e instanceof Deno.errors.NotFound ? "not-found" : "bad-file",
      `Cannot read text file ${arg}: ${(e as Error).message} (or use ${TEXT_CORPORA})`,
    );
  }
}

/**
 * The `--text` argument (or another text flag, e.g. `calib`) as an input path for
 * `Command.inputs` (none for an embedded split such as `brown:test` or `sotu:valid`, or when
 * absent).
 *
 * @example
 * ```ts
 * import { textInput } from "./text_source.ts";
 * if (textInput({ values: { text: "brown:test" }, positionals: [] }).path !== undefined) {
 *   throw new Error();
 * }
 * ```
 */
export function textInput(
  args: ParsedArgs,
  flag = "text",
): { path: string | undefined; what: string } {
  const t = args.values[flag];
  return { path: typeof t === "string" && !embeddedSplit(t) ? t : undefined, what: `--${flag}` };
}

/** `CORPUS:SPLIT` of an embedded corpus, parsed; null for anything else (a file path). */
function embeddedSplit(arg: string): RegExpExecArray | null {
  const m = /^([a-z]+):(train|valid|test)$/.exec(arg);
  return m && (CORPORA as readonly string[]).includes(m[1]!) ? m : null;
}

/** Token windows for the linearity commands, and the SHA-256 of their text (null: random). */
export interface EvalWindows {
  /** `count` windows of `ctx` token ids. */
  windows: number[][];
  /** SHA-256 of the text bytes, or null for random tokens. */
  textSha256: string | null;
}

/**
 * `count` windows of `ctx` tokens: consecutive from the start of a `--text` argument (tokenized
 * with the model's tokenizer), or, when `text` is null, uniform random ids below `vocabSize`
 * from the counter-based PRNG stream `stream`. Errors: `bad-argument` when the text is too short,
 * naming the token counts.
 *
 * @example
 * ```ts
 * import { evalWindows } from "./text_source.ts";
 * const r = await evalWindows("assets/tiny-llama", null, 2, 8, 4096, 1);
 * if (r.windows.length !== 2 || r.windows[1]!.length !== 8 || r.textSha256 !== null) {
 *   throw new Error();
 * }
 * ```
 */
export async function evalWindows(
  modelDir: string,
  text: string | null,
  count: number,
  ctx: number,
  vocabSize: number,
  stream: number,
): Promise<EvalWindows> {
  if (text === null) {
    return {
      windows: Array.from(
        { length: count },
        (_, w) => Array.from({ length: ctx }, (_, i) => randU32(stream, w * ctx + i) % vocabSize),
      ),
      textSha256: null,
    };
  }
  const bytes = await readTextArg(text);
  const ids = (await loadTokenizer(modelDir)).encode(new TextDecoder().decode(bytes));
  if (ids.length < count * ctx) {
    throw new QuantlabError(
      "bad-argument",
      `The text has ${ids.length} token${ids.length === 1 ? "" : "s"}; ${count} windows of ` +
        `${ctx} need ${count * ctx}: ` +
        "lower --windows or --ctx",
    );
  }
  return {
    windows: Array.from({ length: count }, (_, w) => ids.slice(w * ctx, (w + 1) * ctx)),
    textSha256: await sha256(bytes),
  };
}
