/**
 * Timing helpers shared by the benchmarks.
 *
 * @module
 */

/** Median milliseconds of `reps` runs of `fn` after `warm` warm-up runs. */
export async function medianMs(fn: () => unknown, reps: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}
