// This module is browser compatible.
/**
 * Training the Llama family: forward and backward in one file, and AdamW.
 *
 * @module
 */
export * from "./llama_train.ts";
export * from "./adamw.ts";
