// This module is browser compatible.
/**
 * Tokenizer glue over `@huggingface/tokenizers` (pure JS, offline): encoding with the
 * tokenizer's own post-processor (which decides whether a BOS token is prepended), decoding,
 * a description of the special tokens the post-processor adds (printed by `generate` and
 * recorded by `ppl`), and a streaming decoder for generation.
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { QuantlabError } from "../core/errors.ts";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function tokenContent(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return null;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + optional `tokenizer_config.json`).
 *
 * @example
 * ```ts
 * import { TextTokenizer } from "./tokenizer.ts";
 * import { byteLevelTokenizerJson } from "../data/tiny_tokenizer.ts";
 * const tok = TextTokenizer.fromJson(byteLevelTokenizerJson());
 * const ids = tok.encode("hello world");
 * if (tok.decode(ids, { skipSpecialTokens: true }) !== "hello world") throw new Error("unexpected");
 * ```
 */
export class TextTokenizer {
  readonly #tok: Tokenizer;
  /** Ids of the special (added) tokens. */
  readonly specialIds: ReadonlySet<number>;
  /** Ids that end generation, from `tokenizer_config.json` `eos_token` (may be empty). */
  readonly eosIds: readonly number[];
  /** Number of ids (the largest id + 1, added tokens included). */
  readonly vocabSize: number;

  private constructor(tok: Tokenizer, json: Record<string, unknown>, cfg: Record<string, unknown>) {
    this.#tok = tok;
    const special = new Set<number>();
    let maxId = -1;
    for (const t of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
      if (isObject(t) && typeof t.id === "number") {
        if (t.special) special.add(t.id);
        maxId = Math.max(maxId, t.id);
      }
    }
    for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.specialIds = special;
    this.vocabSize = maxId + 1;
    const eos = tokenContent(cfg.eos_token);
    const eosId = eos === null ? undefined : tok.token_to_id(eos);
    this.eosIds = eosId === undefined ? [] : [eosId];
  }

  /**
   * Builds a tokenizer from the parsed `tokenizer.json` and (optionally) `tokenizer_config.json`.
   * Unsupported components become a `bad-file` error naming the failure.
   */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): TextTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
      throw new QuantlabError("bad-file", 'tokenizer.json has no "model" object');
    }
    const json = { added_tokens: [], ...tokenizerJson };
    const cfg = isObject(tokenizerConfig) ? tokenizerConfig : {};
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(json, cfg);
    } catch (e) {
      throw new QuantlabError(
        "bad-file",
        `tokenizer.json could not be loaded: ${e instanceof Error ? e.message : e}`,
      );
    }
    return new TextTokenizer(tok, json, cfg);
  }

  /** Token ids of `text`; with `addSpecialTokens` (default) the post-processor adds BOS etc. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    if (text.length === 0 && !(opts.addSpecialTokens ?? true)) return [];
    return this.#tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** The text of `ids` (empty for no ids). */
  decode(
    ids: readonly number[],
    opts: { skipSpecialTokens?: boolean; cleanUpSpaces?: boolean } = {},
  ): string {
    if (ids.length === 0) return "";
    return this.#tok.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      ...(opts.cleanUpSpaces !== undefined
        ? { clean_up_tokenization_spaces: opts.cleanUpSpaces }
        : {}),
    });
  }

  /** The token string of `id`, if any. */
  idToToken(id: number): string | undefined {
    return this.#tok.id_to_token(id);
  }

  /** The id of token string `token`, if any. */
  tokenToId(token: string): number | undefined {
    return this.#tok.token_to_id(token);
  }

  /**
   * The special tokens the post-processor adds around a text: `prefix` before it, `suffix`
   * after it (found by encoding a probe text with and without special tokens).
   */
  addedSpecials(): { prefix: number[]; suffix: number[] } {
    const probe = "a";
    const plain = this.encode(probe, { addSpecialTokens: false });
    const full = this.encode(probe, { addSpecialTokens: true });
    for (let i = 0; i + plain.length <= full.length; i++) {
      if (plain.every((v, j) => full[i + j] === v)) {
        return { prefix: full.slice(0, i), suffix: full.slice(i + plain.length) };
      }
    }
    return { prefix: [], suffix: [] };
  }

  /**
   * One sentence on what the post-processor adds, e.g.
   * `the tokenizer's post-processor prepends "<s>" (id 1)`.
   */
  describeSpecials(): string {
    const { prefix, suffix } = this.addedSpecials();
    const show = (ids: number[]): string =>
      ids.map((id) => `${JSON.stringify(this.idToToken(id) ?? "?")} (id ${id})`).join(", ");
    const parts: string[] = [];
    if (prefix.length) parts.push(`prepends ${show(prefix)}`);
    if (suffix.length) parts.push(`appends ${show(suffix)}`);
    return parts.length
      ? `the tokenizer's post-processor ${parts.join(" and ")}`
      : "the tokenizer's post-processor adds no special tokens (no BOS)";
  }
}

/**
 * Turns a stream of token ids into text pieces as soon as they decode cleanly: it re-decodes the
 * pending ids and holds back output while the text ends in an incomplete UTF-8 sequence (U+FFFD);
 * the pending ids are dropped after each newline so decoding stays cheap.
 *
 * @example
 * ```ts
 * import { StreamDecoder, TextTokenizer } from "./tokenizer.ts";
 * import { byteLevelTokenizerJson } from "../data/tiny_tokenizer.ts";
 * const tok = TextTokenizer.fromJson(byteLevelTokenizerJson());
 * const s = new StreamDecoder(tok);
 * const text = tok.encode("héllo", { addSpecialTokens: false }).map((id) => s.push(id)).join("");
 * if (text + s.flush() !== "héllo") throw new Error("unexpected");
 * ```
 */
export class StreamDecoder {
  readonly #tok: TextTokenizer;
  #ids: number[] = [];
  #printed = 0;

  /** A decoder for `tokenizer`. */
  constructor(tokenizer: TextTokenizer) {
    this.#tok = tokenizer;
  }

  /** Adds one id; returns the text that became final (possibly empty). */
  push(id: number): string {
    this.#ids.push(id);
    const text = this.#tok.decode(this.#ids, { skipSpecialTokens: true, cleanUpSpaces: false });
    if (text.endsWith("\uFFFD")) return "";
    const out = text.slice(this.#printed);
    if (text.endsWith("\n")) {
      this.#ids = [];
      this.#printed = 0;
    } else {
      this.#printed = text.length;
    }
    return out;
  }

  /** The remaining text (even if incomplete). */
  flush(): string {
    const text = this.#tok.decode(this.#ids, { skipSpecialTokens: true, cleanUpSpaces: false });
    const out = text.slice(this.#printed);
    this.#ids = [];
    this.#printed = 0;
    return out;
  }
}
