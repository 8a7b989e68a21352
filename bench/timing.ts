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

/**
 * CPU milliseconds this process has used so far (user + system, from `/proc/self/stat`; Linux,
 * 10 ms ticks). On a loaded machine a single-threaded run's CPU time is inflated far less than its
 * wall time.
 */
export function processCpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * CPU nanoseconds every thread of this process has used so far (the run time of each
 * `/proc/self/task/N/schedstat`; Linux): finer than {@linkcode processCpuMs}'s 10 ms ticks, for
 * timing single calls of a few milliseconds. Threads that ended are not counted.
 */
export function threadsCpuNs(): number {
  let ns = 0;
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/self/task/${e.name}/schedstat`).split(" ")[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns;
}
