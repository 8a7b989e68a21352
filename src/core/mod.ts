// This module is browser compatible.
/**
 * Tensors, dtypes and conversions, the seeded PRNG and distributions, errors, and the progress
 * callback type: what every other layer builds on.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./tensor.ts";
export * from "./prng.ts";
export * from "./distributions.ts";
export * from "./dtype.ts";
export * from "./progress.ts";
