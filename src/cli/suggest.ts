/**
 * "Did you mean …?" for the command line: the nearest known word to a misspelled command,
 * subcommand or option by edit distance (Damerau–Levenshtein, adjacent swaps cost 1), or by
 * prefix (`--group-size` → `--group`).
 *
 * @module
 */

/**
 * The edit distance between two words: insertions, deletions, substitutions and swaps of
 * adjacent characters each cost 1.
 *
 * @example
 * ```ts
 * import { editDistance } from "./suggest.ts";
 * if (editDistance("quantise", "quantize") !== 1 || editDistance("bitz", "bits") !== 1) {
 *   throw new Error();
 * }
 * ```
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `word`, or undefined when none is close: within an edit distance of
 * a third of the word's length (at least 1), or one being a prefix of the other at a `-` boundary
 * (`group-size` → `group`).
 *
 * @example
 * ```ts
 * import { suggest } from "./suggest.ts";
 * if (suggest("quantise", ["quantize", "info"]) !== "quantize") throw new Error();
 * if (suggest("group-size", ["group", "bits"]) !== "group") throw new Error();
 * if (suggest("xyz", ["quantize"]) !== undefined) throw new Error();
 * ```
 */
export function suggest(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(w, k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  if (best !== undefined && bestD <= Math.max(1, Math.floor(w.length / 3))) return best;
  const prefix = known.filter((k) => w.startsWith(`${k}-`) || k.startsWith(`${w}-`));
  return prefix.length === 1 ? prefix[0] : undefined;
}

/**
 * `"; did you mean X?"` for the nearest known word, else `fallback` (may be empty).
 *
 * @example
 * ```ts
 * import { didYouMean } from "./suggest.ts";
 * if (didYouMean("lst", ["list", "mse"], (s) => s) !== "; did you mean list?") throw new Error();
 * ```
 */
export function didYouMean(
  word: string,
  known: readonly string[],
  show: (w: string) => string,
  fallback = "",
): string {
  const s = suggest(word, known);
  return s === undefined ? fallback : `; did you mean ${show(s)}?`;
}
