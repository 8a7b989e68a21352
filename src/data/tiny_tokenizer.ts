// This module is browser compatible.
/**
 * A tiny byte-level BPE tokenizer (GPT-2 byte mapping, merges learned from a fixed English
 * sample, `<s>`/`</s>` special tokens, optional BOS post-processor), built in memory as a
 * `tokenizer.json` object: for tests, examples and benchmarks of the runtime without downloads.
 *
 * @module
 */
import { bpeTokenizerJson, bytesToUnicode } from "./bpe.ts";

const SAMPLE =
  `The quick brown fox jumps over the lazy dog. A language model assigns a probability to
every sequence of tokens; the perplexity of a text is the exponential of the mean negative
log-likelihood of its tokens. Quantization stores the weights of the model with fewer bits, and a
good quantizer keeps the perplexity close to that of the original model. In the beginning there
was the word, and the word was tokenized into pieces that the model could read and predict.`;

/** Options of {@linkcode byteLevelTokenizerJson}. */
export interface TinyTokenizerOptions {
  /** Number of BPE merges to learn (vocabulary = 256 + merges + 2). Default 200. */
  merges?: number;
  /** Prepend `<s>` through a TemplateProcessing post-processor (Llama style). Default true. */
  bos?: boolean;
  /** Training text for the merges (default: a fixed English sample). */
  text?: string;
}

/**
 * A byte-level BPE `tokenizer.json` object: ids 0–255 are the bytes, then the learned merges,
 * then `<s>` and `</s>` (special). Deterministic for given options.
 *
 * @example
 * ```ts
 * import { byteLevelTokenizerJson } from "./tiny_tokenizer.ts";
 * const json = byteLevelTokenizerJson({ merges: 50 });
 * const vocab = (json.model as { vocab: Record<string, number> }).vocab;
 * if (Object.keys(vocab).length !== 256 + 50) throw new Error("unexpected");
 * ```
 */
export function byteLevelTokenizerJson(opts: TinyTokenizerOptions = {}): Record<string, unknown> {
  const numMerges = opts.merges ?? 200;
  const bos = opts.bos ?? true;
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  const vocab: Record<string, number> = {};
  b2u.forEach((ch, i) => (vocab[ch] = i));
  // Words as the ByteLevel pre-tokenizer sees them (a leading space becomes part of the word).
  const words = new Map<string, number>();
  for (const m of (opts.text ?? SAMPLE).matchAll(/ ?[^\s]+|\s+/g)) {
    const w = [...enc.encode(m[0])].map((b) => b2u[b]!).join("\u0000");
    words.set(w, (words.get(w) ?? 0) + 1);
  }
  let corpus = [...words].map(([w, n]) => ({ parts: w.split("\u0000"), n }));
  const merges: string[] = [];
  let next = 256;
  while (merges.length < numMerges) {
    const counts = new Map<string, number>();
    for (const { parts, n } of corpus) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + n);
      }
    }
    let best: string | null = null;
    let bestN = 0;
    for (const [k, n] of counts) {
      if (n > bestN || (n === bestN && best !== null && k < best)) {
        best = k;
        bestN = n;
      }
    }
    if (best === null) {
      // Out of pairs in the sample: add filler merges of byte pairs so the size is as asked.
      const a = b2u[97 + (merges.length % 26)]!, b = b2u[48 + Math.floor(merges.length / 26) % 10]!;
      const tok = a + b;
      if (vocab[tok] === undefined) {
        merges.push(`${a} ${b}`);
        vocab[tok] = next++;
      } else {
        merges.push(`${b} ${a}`);
        vocab[b + a] = next++;
      }
      continue;
    }
    const [a, b] = best.split(" ") as [string, string];
    merges.push(best);
    vocab[a + b] = next++;
    corpus = corpus.map(({ parts, n }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          out.push(a + b);
          i++;
        } else {
          out.push(parts[i]!);
        }
      }
      return { parts: out, n };
    });
  }
  return bpeTokenizerJson({ vocab, merges }, { bos });
}

/**
 * The `tokenizer_config.json` object matching {@linkcode byteLevelTokenizerJson}.
 *
 * @example
 * ```ts
 * import { tinyTokenizerConfig } from "./tiny_tokenizer.ts";
 * if (tinyTokenizerConfig().eos_token !== "</s>") throw new Error("unexpected");
 * ```
 */
export function tinyTokenizerConfig(): Record<string, unknown> {
  return {
    bos_token: "<s>",
    eos_token: "</s>",
    clean_up_tokenization_spaces: false,
    model_max_length: 4096,
  };
}
