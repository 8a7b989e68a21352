// This module is browser compatible.
/**
 * A small progress bar: redraws one line on a TTY, prints a plain line every ~10 % (at most every
 * 2 s) otherwise, so logs of long runs stay readable in CI; off a TTY a status note (a tick with a
 * note) is also printed when nothing was for 30 s, so one long unit (a grid build) still shows
 * signs of life.
 *
 * @module
 */

export type { Progress } from "../core/progress.ts";
import type { Progress, ProgressFactory } from "../core/progress.ts";

function isTTY(): boolean {
  // deno-lint-ignore no-explicit-any
  const d = (globalThis as any).Deno;
  try {
    return Boolean(d?.stderr?.isTerminal?.());
  } catch {
    return false;
  }
}

function write(s: string): void {
  // deno-lint-ignore no-explicit-any
  const d = (globalThis as any).Deno;
  if (d?.stderr?.writeSync) d.stderr.writeSync(new TextEncoder().encode(s));
  else console.error(s.replace(/\r|\n$/g, ""));
}

/** Options of {@linkcode progress}. */
export interface ProgressOptions {
  /** Print nothing. */
  quiet?: boolean;
  /** Off a TTY, print a status note after this long without output (default 30 000 ms). */
  heartbeatMs?: number;
  /** Where lines go (default stderr). */
  sink?: (s: string) => void;
  /** Redraw one line (default: whether stderr is a terminal). */
  tty?: boolean;
  /** The clock in milliseconds (default `performance.now`); tests pass a fake one. */
  now?: () => number;
  /** Units done before this process started (a resumed run): counted, but not in the rate. */
  startAt?: number;
}

/**
 * Starts a progress bar for `total` units on stderr (nothing with `quiet`).
 *
 * @example
 * ```ts
 * import { progress } from "./progress.ts";
 * const lines: string[] = [];
 * const p = progress("demo", 3, { tty: false, sink: (s) => lines.push(s), now: () => 1500 });
 * p.tick(); p.tick(2); p.done();
 * if (lines.join("") !== "demo [########################] 3/3 0.0s\n") throw new Error(lines.join(""));
 * ```
 */
export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const quiet = opts.quiet ?? false;
  const tty = opts.tty ?? isTTY();
  const out = opts.sink ?? write;
  const heartbeat = opts.heartbeatMs ?? 30000;
  const clock = opts.now ?? (() => performance.now());
  const start = clock();
  const startAt = opts.startAt ?? 0;
  let done = startAt;
  let lastPrint = start;
  let lastFrac = total > 0 ? startAt / total : 0;
  const render = (note?: string): string => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const secs = (clock() - start) / 1000;
    // The rate of this process only: resumed units took no time here.
    const rate = secs > 0 ? (done - startAt) / secs : 0;
    const eta = rate > 0 && frac < 1 ? ` eta ${((total - done) / rate).toFixed(0)}s` : "";
    const width = 24;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    return `${label} [${bar}] ${done}/${total} ${secs.toFixed(1)}s${eta}${note ? ` ${note}` : ""}`;
  };
  return {
    tick(n = 1, note?: string) {
      done += n;
      if (quiet) return;
      const now = clock();
      const frac = total > 0 ? done / total : 1;
      if (tty) {
        if (now - lastPrint > 100 || done >= total) {
          out(`\r${render(note)}\x1b[K`);
          lastPrint = now;
        }
      } else if (
        (frac - lastFrac >= 0.1 && now - lastPrint > 2000) ||
        (note !== undefined && now - lastPrint >= heartbeat)
      ) {
        out(`${render(note)}\n`);
        lastPrint = now;
        lastFrac = frac;
      }
    },
    done(note?: string) {
      if (quiet) return;
      out(`${tty ? "\r" : ""}${render(note)}${tty ? "\x1b[K" : ""}\n`);
    },
  };
}

/**
 * A {@linkcode ProgressFactory} drawing {@linkcode progress} bars (none when `quiet`), for the
 * `progress` option of the jobs.
 *
 * @example
 * ```ts
 * import { progressBars } from "./progress.ts";
 * const p = progressBars(true)("quantize", 2);
 * p.tick(2); p.done();
 * ```
 */
export function progressBars(quiet: boolean): ProgressFactory {
  return (label, total) => progress(label, total, { quiet });
}
