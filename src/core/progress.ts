// This module is browser compatible.
/**
 * Progress as a callback: long jobs (quantize a checkpoint, a perplexity run, …) report through a
 * {@linkcode ProgressFactory} they are given, never by printing; the CLI passes one that draws a
 * bar on stderr (`src/cli/progress.ts`), a library caller passes its own or nothing.
 *
 * @module
 */

/** A progress reporter for one task of known size. */
export interface Progress {
  /** Advances by `n` units (default 1), optionally with a status note. */
  tick(n?: number, note?: string): void;
  /** Ends the task. */
  done(note?: string): void;
}

/** Starts a {@linkcode Progress} for a task named `label` of `total` units. */
export type ProgressFactory = (label: string, total: number) => Progress;

/**
 * A factory whose reporters do nothing (the default of every job).
 *
 * @example
 * ```ts
 * import { silentProgress } from "./progress.ts";
 * const p = silentProgress("quantize", 3);
 * p.tick(); p.done();
 * ```
 */
export const silentProgress: ProgressFactory = (): Progress => ({ tick() {}, done() {} });
