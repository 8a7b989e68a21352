// This module is browser compatible.
/**
 * A worker pool over SharedArrayBuffer, so TypeScript kernels use every core.
 *
 * A kernel exports a plain function `f(...args, start, end)` that works on rows `[start, end)`;
 * {@linkcode parallelFor} splits `[0, n)` into one contiguous chunk per worker and calls it there.
 * Typed arrays backed by a `SharedArrayBuffer` are shared (zero copy); others are copied, so
 * outputs must be shared. Workers are started lazily and terminated after 300 ms without work,
 * so a finished script exits.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

let workers: PoolWorker[] | undefined;
let nextId = 0;
let sizeOverride: number | undefined;

/**
 * Number of workers: `QUANTLAB_THREADS` or `navigator.hardwareConcurrency`.
 *
 * @example
 * ```ts
 * import { poolSize } from "./pool.ts";
 * if (poolSize() < 1) throw new Error();
 * ```
 */
export function poolSize(): number {
  if (sizeOverride !== undefined) return sizeOverride;
  let env: string | undefined;
  try {
    // deno-lint-ignore no-explicit-any
    env = (globalThis as any).Deno?.env?.get?.("QUANTLAB_THREADS");
  } catch {
    env = undefined;
  }
  const n = env ? Number(env) : (navigator.hardwareConcurrency ?? 1);
  return Math.max(1, Number.isFinite(n) ? Math.floor(n) : 1);
}

/**
 * Sets the number of workers (restarts the pool). `1` runs everything on the calling thread.
 *
 * @example
 * ```ts
 * import { poolSize, setPoolSize } from "./pool.ts";
 * setPoolSize(1);
 * if (poolSize() !== 1) throw new Error();
 * setPoolSize(undefined);
 * ```
 */
export function setPoolSize(n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    throw new QuantlabError("bad-argument", `Thread count ${n} is not valid; use an integer ≥ 1`);
  }
  shutdownPool();
  sizeOverride = n;
}

/**
 * Terminates the workers (a later call starts them again).
 *
 * @example
 * ```ts
 * import { shutdownPool } from "./pool.ts";
 * shutdownPool();
 * shutdownPool(); // idempotent: no pool, nothing to do
 * ```
 */
export function shutdownPool(): void {
  for (const w of workers ?? []) w.worker.terminate();
  workers = undefined;
}

function startWorkers(): PoolWorker[] {
  if (workers) return workers;
  workers = [];
  for (let i = 0; i < poolSize(); i++) {
    const worker = new Worker(new URL("./pool_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const pw: PoolWorker = { worker, pending: new Map() };
    worker.onmessage = (ev) => {
      const { id, ok, result, error, code } = ev.data;
      const p = pw.pending.get(id);
      if (!p) return;
      pw.pending.delete(id);
      if (ok) p.resolve(result);
      else p.reject(new QuantlabError(code ?? "unsupported", String(error).replace(/^\w+: /, "")));
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      for (const p of pw.pending.values()) p.reject(new Error(`Worker failed: ${ev.message}`));
      pw.pending.clear();
    };
    workers.push(pw);
  }
  return workers;
}

// Live workers keep a Deno process alive and Deno's Worker has no unref(): terminate the pool once
// it has been idle this long. Hot loops call far more often and keep it warm; a script that is done
// exits this long after its last parallel call.
const IDLE_SHUTDOWN_MS = 300;
let idleTimer: ReturnType<typeof setTimeout> | undefined;
let inFlight = 0;

function jobStarted(): void {
  inFlight++;
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  idleTimer = undefined;
}

function jobEnded(): void {
  if (--inFlight > 0) return;
  idleTimer = setTimeout(() => {
    idleTimer = undefined;
    if (inFlight === 0) shutdownPool();
  }, IDLE_SHUTDOWN_MS);
}

/**
 * Runs `fn(...args, start, end)` from module `module` over `[0, n)` split into contiguous chunks,
 * one per worker; returns the chunks' results in order. Runs on the calling thread when the pool
 * has one worker or when `n < 2 · minChunk`.
 *
 * @example
 * ```ts
 * import { parallelFor, sharedF32 } from "./pool.ts";
 * // `fill` is exported by the module at this URL: out[i] = i for i in [start, end).
 * const out = sharedF32(10);
 * await parallelFor(new URL("./pool_example.ts", import.meta.url).href, "fill", 10, [out]);
 * if (out[9] !== 9) throw new Error("unexpected");
 * ```
 */
export async function parallelFor(
  module: string,
  fn: string,
  n: number,
  args: unknown[],
  opts: { minChunk?: number } = {},
): Promise<unknown[]> {
  if (n <= 0) return [];
  const minChunk = Math.max(1, opts.minChunk ?? 1);
  const size = poolSize();
  const chunks = Math.max(1, Math.min(size, Math.floor(n / minChunk)));
  if (chunks === 1 || size === 1) {
    const m = await import(module);
    if (typeof m[fn] !== "function") {
      throw new QuantlabError("not-found", `Module ${module} exports no function "${fn}"`);
    }
    return [await m[fn](...args, 0, n)];
  }
  const ws = startWorkers();
  const jobs: Promise<unknown>[] = [];
  for (let c = 0; c < chunks; c++) {
    const start = Math.floor((n * c) / chunks);
    const end = Math.floor((n * (c + 1)) / chunks);
    const pw = ws[c % ws.length]!;
    const id = nextId++;
    jobStarted();
    jobs.push(
      new Promise((resolve, reject) => {
        pw.pending.set(id, { resolve, reject });
        pw.worker.postMessage({ id, module, fn, args, start, end });
      }).finally(jobEnded),
    );
  }
  return await Promise.all(jobs);
}

/**
 * A zeroed Float32Array on a SharedArrayBuffer.
 *
 * @example
 * ```ts
 * import { sharedF32 } from "./pool.ts";
 * if (!(sharedF32(4).buffer instanceof SharedArrayBuffer)) throw new Error();
 * ```
 */
export function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

/**
 * A zeroed Uint32Array on a SharedArrayBuffer.
 *
 * @example
 * ```ts
 * import { sharedU32 } from "./pool.ts";
 * if (sharedU32(4).length !== 4) throw new Error();
 * ```
 */
export function sharedU32(n: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(n * 4));
}

/** Typed arrays the pool can share. */
export type Shareable =
  | Float32Array
  | Float64Array
  | Uint32Array
  | Int32Array
  | Uint16Array
  | Uint8Array
  | Int8Array;

/**
 * A copy of `a` on a SharedArrayBuffer (or `a` itself when it already is shared).
 *
 * @example
 * ```ts
 * import { toShared } from "./pool.ts";
 * const s = toShared(new Float32Array([1, 2]));
 * if (!(s.buffer instanceof SharedArrayBuffer) || s[1] !== 2) throw new Error();
 * ```
 */
export function toShared<T extends Shareable>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const out = new ctor(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

let mainWaits = true;

/**
 * Sleeps up to 1 ms until `ctrl[1]` leaves `d`: how a caller waits for pooled chunks it counts in
 * `ctrl[1]` (spins where the thread may not block, as on a browser's main thread).
 */
export function waitFor(ctrl: Int32Array, d: number): void {
  if (!mainWaits) return;
  try {
    Atomics.wait(ctrl, 1, d, 1);
  } catch {
    mainWaits = false; // a browser's main thread: spin on the loads instead
  }
}
