// This module is browser compatible.
/**
 * Evaluation: perplexity over windows, KL divergence, paired statistics.
 *
 * @module
 */
export * from "./perplexity.ts";
export * from "./paired.ts";
export * from "./kl.ts";
