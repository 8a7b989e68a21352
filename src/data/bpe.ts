// This module is browser compatible.
/**
 * Byte-level BPE (GPT-2 style) training and the `tokenizer.json` it becomes, read by the runtime's
 * tokenizer (`@huggingface/tokenizers`). Training splits the text as the ByteLevel pre-tokenizer
 * does (GPT-2's regex: contractions, letters, digits, other symbols, each with an optional
 * leading space; whitespace), maps bytes to GPT-2's printable characters, and then repeatedly
 * merges the most frequent adjacent pair (ties: the pair whose ids are smaller, in order), with
 * incremental pair counts and a lazy max-heap, so a 4,096-token vocabulary on the 4.9 M
 * characters of Brown's train split takes seconds.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** GPT-2's pre-tokenization regex (the ByteLevel pre-tokenizer with `use_regex`). */
export const GPT2_SPLIT: RegExp =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's byte → printable character map (bytes 33–126, 161–172, 174–255 map to themselves; the
 * others to 256 + k).
 *
 * @example
 * ```ts
 * import { bytesToUnicode } from "./bpe.ts";
 * const m = bytesToUnicode();
 * if (m[65] !== "A" || m[32] !== "Ġ") throw new Error(m[32]);
 * ```
 */
export function bytesToUnicode(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = keep(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

/** The learned merges and vocabulary. */
export interface BpeModel {
  /** Token string (GPT-2 byte characters) → id: the 256 bytes, then one token per merge. */
  vocab: Record<string, number>;
  /** Merges in rank order, `"a b"`. */
  merges: string[];
}

/** A max-heap of (count, pair) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  readonly #c: number[] = [];
  readonly #p: number[] = [];
  push(count: number, pair: number): void {
    const c = this.#c, p = this.#p;
    let i = c.length;
    c.push(count);
    p.push(pair);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.#above(count, pair, c[up]!, p[up]!)) break;
      c[i] = c[up]!;
      p[i] = p[up]!;
      i = up;
    }
    c[i] = count;
    p[i] = pair;
  }
  /** Higher count first; ties: the smaller pair key. */
  #above(c1: number, p1: number, c2: number, p2: number): boolean {
    return c1 > c2 || (c1 === c2 && p1 < p2);
  }
  pop(): [number, number] | null {
    const c = this.#c, p = this.#p;
    if (!c.length) return null;
    const top: [number, number] = [c[0]!, p[0]!];
    const lc = c.pop()!, lp = p.pop()!;
    if (c.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i, mc = lc, mp = lp;
        if (l < c.length && this.#above(c[l]!, p[l]!, mc, mp)) [m, mc, mp] = [l, c[l]!, p[l]!];
        if (r < c.length && this.#above(c[r]!, p[r]!, mc, mp)) [m, mc, mp] = [r, c[r]!, p[r]!];
        if (m === i) break;
        c[i] = mc;
        p[i] = mp;
        i = m;
      }
      c[i] = lc;
      p[i] = lp;
    }
    return top;
  }
}

/**
 * Learns byte-level BPE merges from `text` until the vocabulary (256 bytes + merged tokens) has
 * `vocabSize` tokens (see the module doc). A merge whose result already is a token (reached
 * through other pairs) reuses its id. Stops early when no pair occurs twice. Errors:
 * `bad-argument` for a size outside [256, 65536].
 *
 * @example
 * ```ts
 * import { trainBpe } from "./bpe.ts";
 * const m = trainBpe("low lower lowest low low", 259);
 * if (m.merges[0] !== "l o" || m.merges[1] !== "lo w") throw new Error(m.merges.join());
 * ```
 */
export function trainBpe(text: string, vocabSize: number): BpeModel {
  if (!Number.isInteger(vocabSize) || vocabSize < 256 || vocabSize > 65536) {
    throw new QuantlabError(
      "bad-argument",
      `BPE vocabulary size ${vocabSize} is not an integer in [256, 65536]`,
    );
  }
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  // Unique pre-tokenized words with their counts.
  const counts = new Map<string, number>();
  for (const m of text.matchAll(GPT2_SPLIT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, n] of counts) {
    words.push([...enc.encode(w)]);
    freq.push(n);
  }
  const tokens: string[] = [...b2u];
  const vocab: Record<string, number> = {};
  b2u.forEach((ch, i) => (vocab[ch] = i));
  const K = 65536; // pair key a·K + b (ids < 65536)
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const add = (pair: number, wi: number, n: number) => {
    pairCount.set(pair, (pairCount.get(pair) ?? 0) + n);
    if (n > 0) {
      let s = pairWords.get(pair);
      if (!s) pairWords.set(pair, s = new Set());
      s.add(wi);
    }
  };
  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.length; i++) add(w[i]! * K + w[i + 1]!, wi, freq[wi]!);
  });
  const heap = new PairHeap();
  for (const [pair, n] of pairCount) heap.push(n, pair);
  const out: string[] = [];
  while (tokens.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const [n, pair] = top;
    if (pairCount.get(pair) !== n) continue; // stale
    if (n < 2) break;
    const a = Math.floor(pair / K), b = pair % K;
    const str = tokens[a]! + tokens[b]!;
    let id = vocab[str];
    if (id === undefined) {
      id = tokens.length;
      tokens.push(str);
      vocab[str] = id;
    }
    out.push(`${tokens[a]} ${tokens[b]}`);
    const touched = new Set<number>();
    for (const wi of pairWords.get(pair) ?? []) {
      const w = words[wi]!, f = freq[wi]!;
      // Remove this word's pairs, merge, add them back (words are short).
      for (let i = 0; i + 1 < w.length; i++) {
        const q = w[i]! * K + w[i + 1]!;
        pairCount.set(q, pairCount.get(q)! - f);
        touched.add(q);
      }
      const merged: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          merged.push(id);
          i++;
        } else merged.push(w[i]!);
      }
      words[wi] = merged;
      for (let i = 0; i + 1 < merged.length; i++) {
        const q = merged[i]! * K + merged[i + 1]!;
        add(q, wi, f);
        touched.add(q);
      }
    }
    pairWords.delete(pair);
    pairCount.delete(pair);
    for (const q of touched) {
      const c = pairCount.get(q);
      if (c !== undefined && c > 0) heap.push(c, q);
    }
  }
  return { vocab, merges: out };
}

/** Options of {@linkcode bpeTokenizerJson}. */
export interface BpeJsonOptions {
  /** Prepend `<s>` through a TemplateProcessing post-processor (Llama style). Default true. */
  bos?: boolean;
}

/**
 * The `tokenizer.json` object of a byte-level BPE model: its vocabulary, then `<s>` and `</s>`
 * (special, the next two ids), ByteLevel pre-tokenizer and decoder, optional BOS post-processor.
 *
 * @example
 * ```ts
 * import { bpeTokenizerJson, trainBpe } from "./bpe.ts";
 * const json = bpeTokenizerJson(trainBpe("aaa bbb aaa", 258));
 * if ((json.added_tokens as { id: number }[])[0]!.id !== 258) throw new Error();
 * ```
 */
export function bpeTokenizerJson(
  model: BpeModel,
  opts: BpeJsonOptions = {},
): Record<string, unknown> {
  const bos = opts.bos ?? true;
  const next = Object.values(model.vocab).reduce((m, id) => Math.max(m, id), -1) + 1;
  const bosId = next, eosId = next + 1;
  const special = (id: number, content: string): Record<string, unknown> => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const byteLevel = {
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: true,
  };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(bosId, "<s>"), special(eosId, "</s>")],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: bos
      ? {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, {
          Sequence: { id: "A", type_id: 0 },
        }],
        pair: [
          { SpecialToken: { id: "<s>", type_id: 0 } },
          { Sequence: { id: "A", type_id: 0 } },
          { Sequence: { id: "B", type_id: 1 } },
        ],
        special_tokens: { "<s>": { id: "<s>", ids: [bosId], tokens: ["<s>"] } },
      }
      : byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: model.vocab,
      merges: model.merges,
    },
  };
}
