// This module is browser compatible.
/**
 * Text data: the Brown corpus, byte-level BPE training, and the project tokenizers.
 *
 * @module
 */
export * from "./tiny_tokenizer.ts";
export * from "./brown.ts";
export * from "./bpe.ts";
export * from "./brown_tokenizer.ts";
