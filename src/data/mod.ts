// This module is browser compatible.
/**
 * Text data: the embedded corpora (Brown, State of the Union), byte-level BPE training, and the
 * project tokenizers.
 *
 * @module
 */
export * from "./tiny_tokenizer.ts";
export * from "./corpus.ts";
export * from "./brown.ts";
export * from "./sotu.ts";
export * from "./bpe.ts";
export * from "./brown_tokenizer.ts";
export * from "./calibration.ts";
