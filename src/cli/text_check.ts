/**
 * Warnings about a `--text` file before it is evaluated: bytes that are not valid UTF-8 (read as
 * U+FFFD), and content that is mostly not text (control characters, replacement characters) — a
 * binary file gives a perplexity in the millions that means nothing.
 *
 * @module
 */

/** Share of non-text characters above which a text is called "mostly non-text". */
const NON_TEXT_LIMIT = 0.1;

/**
 * One warning line per problem of `bytes` as a text named `name` (none for clean UTF-8 text).
 *
 * @example
 * ```ts
 * import { textWarnings } from "./text_check.ts";
 * if (textWarnings(new TextEncoder().encode("plain text\n"), "a.txt").length !== 0) throw new Error();
 * const w = textWarnings(new Uint8Array([0xff, 0, 1, 2, 3]), "b.bin");
 * if (w.length !== 2 || !w[0]!.includes("not valid UTF-8")) throw new Error(w.join());
 * ```
 */
export function textWarnings(bytes: Uint8Array, name: string): string[] {
  const out: string[] = [];
  if (bytes.length === 0) return [`${name} is empty`];
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const text = new TextDecoder().decode(bytes);
    const bad = [...text].filter((c) => c === "\uFFFD").length;
    out.push(
      `${name} is not valid UTF-8: ${bad} invalid byte sequence${bad === 1 ? "" : "s"} are read ` +
        "as U+FFFD",
    );
  }
  const text = new TextDecoder().decode(bytes);
  let chars = 0, nonText = 0;
  for (const c of text) {
    chars++;
    const code = c.codePointAt(0)!;
    if ((code < 32 && c !== "\n" && c !== "\r" && c !== "\t") || code === 0x7f || code === 0xfffd) {
      nonText++;
    }
  }
  if (chars > 0 && nonText / chars > NON_TEXT_LIMIT) {
    out.push(
      `${name} is mostly not text: ${(100 * nonText / chars).toFixed(0)}% of its characters are ` +
        "control or invalid characters; its perplexity says little",
    );
  }
  return out;
}

/**
 * "1 token", "5 tokens".
 *
 * @example
 * ```ts
 * import { plural } from "./text_check.ts";
 * if (plural(1, "token") !== "1 token" || plural(0, "token") !== "0 tokens") throw new Error();
 * ```
 */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
