// This module is browser compatible.
/**
 * Helper threads of the WebAssembly SIMD GEMM, so one synchronous `sgemm` call uses every core of
 * the pool (`poolSize()`, i.e. `QUANTLAB_THREADS` or the hardware threads). The async pool of
 * `pool.ts` cannot serve here: every caller of `matmul`/`sgemm` is synchronous. So each helper is
 * a worker of `wasm_gemm_worker.ts` on the same shared `WebAssembly.Memory`; the caller posts a
 * part of the product through a control block (`wasm_gemm_control.ts`), computes its own part,
 * and waits for the helpers with `Atomics.wait` (allowed on Deno's main thread; in a browser
 * window, where it throws, everything stays on the calling thread).
 *
 * Helpers start on the first large product and serve once they are up (a few hundred ms; until
 * then the caller computes alone); they leave by themselves after `HELPER_IDLE_MS` without work.
 *
 * @module
 */
import { poolSize } from "./pool.ts";
import type { GemmJob, GemmVariant } from "./wasm_gemm_kernels.ts";
import {
  BUSY,
  CLAIMED,
  CONTROL_BYTES,
  EXITED,
  IDLE,
  STATE,
  STOP,
  writeJob,
} from "./wasm_gemm_control.ts";

/** Computes rows `[r0, r1)`, columns `[c0, c1)` of the job on the calling thread. */
export type SelfPart = (r0: number, r1: number, c0: number, c1: number, scratch: number) => void;

/** The helpers bound to one memory. */
export interface HelperSet {
  /** Helpers serving now (0 while they start). */
  readonly ready: number;
  /** All helpers, serving or starting: `run` uses at most this many scratch areas beyond the first. */
  readonly count: number;
  /**
   * Splits the job between the calling thread and the ready helpers (thread t uses the scratch
   * at `scratch0 + t·stride`) and returns when all parts are done. Throws when a helper failed.
   */
  run(job: GemmJob, scratch0: number, stride: number, self: SelfPart): void;
}

interface Helper {
  worker: Worker;
  ctrl: SharedArrayBuffer;
  i32: Int32Array;
}

let helpers: Helper[] = [];
let boundTo: WebAssembly.Memory | null = null;
let waitWorks: boolean | undefined;
/** Set when a helper failed to load (no permission, say): the GEMM then stays on one thread. */
let broken = false;

/** Whether this thread may block in Atomics.wait (not a browser window's main thread). */
function canWait(): boolean {
  if (waitWorks === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      waitWorks = typeof Worker === "function";
    } catch {
      waitWorks = false;
    }
  }
  return waitWorks;
}

function stopAll(): void {
  for (const h of helpers) {
    if (Atomics.compareExchange(h.i32, STATE, IDLE, STOP) !== IDLE) {
      // Starting or gone: a starting helper cannot be reached through its state word yet.
      Atomics.store(h.i32, STATE, STOP);
    }
    Atomics.notify(h.i32, STATE);
  }
  helpers = [];
  boundTo = null;
}

const WORKER_URL = new URL("./wasm_gemm_worker.ts", import.meta.url);

/** Whether a worker may load its module here: Deno asks for read access to a local file. */
function mayLoadWorker(): boolean {
  if (WORKER_URL.protocol !== "file:" || typeof Deno === "undefined") return true;
  try {
    const path = decodeURIComponent(WORKER_URL.pathname);
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

function start(variant: GemmVariant, mem: WebAssembly.Memory): Helper {
  const ctrl = new SharedArrayBuffer(CONTROL_BYTES);
  const worker = new Worker(WORKER_URL.href, { type: "module" });
  const i32 = new Int32Array(ctrl);
  worker.onerror = (ev: ErrorEvent): void => {
    ev.preventDefault();
    broken = true;
    Atomics.store(i32, STATE, EXITED);
  };
  worker.postMessage({ variant, mem, ctrl });
  return { worker, ctrl, i32 };
}

/** Even cut points of `[0, n)` into `parts`, rounded to multiples of `q`. */
function cuts(n: number, parts: number, q: number): number[] {
  const out = [0];
  for (let t = 1; t < parts; t++) out.push(Math.min(n, Math.round((n * t) / parts / q) * q));
  out.push(n);
  return out;
}

/**
 * The helper threads for kernels of `variant` on `mem` (started if needed; null when there is
 * one core, or this thread cannot block), or, with null, stops them all.
 *
 * @example
 * ```ts
 * import { gemmHelpers } from "./wasm_gemm_threads.ts";
 * gemmHelpers(null); // stop any helper threads
 * ```
 */
export function gemmHelpers(
  s: { variant: GemmVariant; mem: WebAssembly.Memory } | null,
): HelperSet | null {
  if (s === null) {
    stopAll();
    return null;
  }
  const want = Math.min(poolSize(), 16) - 1;
  if (want < 1 || broken || !canWait()) return null;
  if (helpers.length === 0 && !mayLoadWorker()) {
    broken = true;
    return null;
  }
  if (boundTo !== s.mem || helpers.length !== want) {
    stopAll();
    boundTo = s.mem;
    for (let t = 0; t < want; t++) helpers.push(start(s.variant, s.mem));
  }
  // Restart helpers that left after idling.
  for (let t = 0; t < helpers.length; t++) {
    if (Atomics.load(helpers[t]!.i32, STATE) === EXITED) helpers[t] = start(s.variant, s.mem);
  }
  const list = helpers;
  return {
    count: list.length,
    get ready(): number {
      return list.filter((h) => Atomics.load(h.i32, STATE) === IDLE).length;
    },
    run(job, scratch0, stride, self): void {
      // Claim the idle helpers: a helper that times out at this moment is simply left out.
      const claimed = list.filter((h) => {
        if (Atomics.load(h.i32, STATE) !== IDLE) return false;
        Atomics.store(h.i32, STATE + 1, 0);
        return Atomics.compareExchange(h.i32, STATE, IDLE, CLAIMED) === IDLE;
      });
      const parts = 1 + claimed.length;
      const byCols = job.N >= job.M || job.M < 16 * parts;
      const cut = byCols ? cuts(job.N, parts, 8) : cuts(job.M, parts, 6);
      const region = (t: number): [number, number, number, number] =>
        byCols ? [0, job.M, cut[t]!, cut[t + 1]!] : [cut[t]!, cut[t + 1]!, 0, job.N];
      claimed.forEach((h, i) => {
        const [r0, r1, c0, c1] = region(i + 1);
        writeJob(h.ctrl, { job, r0, r1, c0, c1, scratch: scratch0 + (i + 1) * stride });
        Atomics.store(h.i32, STATE, BUSY);
        Atomics.notify(h.i32, STATE);
      });
      const [r0, r1, c0, c1] = region(0);
      try {
        if (r1 > r0 && c1 > c0) self(r0, r1, c0, c1, scratch0);
      } finally {
        for (const h of claimed) {
          while (Atomics.load(h.i32, STATE) === BUSY) Atomics.wait(h.i32, STATE, BUSY, 1000);
        }
      }
      if (claimed.some((h) => Atomics.load(h.i32, STATE + 1) !== 0)) {
        throw new Error("A WebAssembly GEMM helper thread failed");
      }
    },
  };
}
