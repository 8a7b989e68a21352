// This module is browser compatible.
/**
 * The control block shared by the WebAssembly GEMM's calling thread and one helper thread: a
 * state word driven with `Atomics` (starting → idle ⇄ busy → exited) and the job's parameters.
 *
 * @module
 */
import type { GemmJob } from "./wasm_gemm_kernels.ts";

/** Index of the state word in the control block's Int32Array (the error flag follows it). */
export const STATE = 0;
/** The helper is starting (not yet serving). */
export const STARTING = 0;
/** The helper waits for a job. */
export const IDLE = 1;
/** A job is posted or running; the helper sets IDLE again when done. */
export const BUSY = 2;
/** The helper has left (idle too long, or no kernels): it must be started again. */
export const EXITED = 3;
/** The caller asks the helper to leave. */
export const STOP = 4;
/** The caller has claimed the helper and is writing its job (BUSY follows). */
export const CLAIMED = 5;
/** A helper leaves after this long without a job. */
export const HELPER_IDLE_MS = 500;
/** Bytes of a control block. */
export const CONTROL_BYTES = 256;

const F64_AT = 8; // the parameters, as f64, from byte 64
const FIELDS = ["M", "N", "K", "alpha", "beta", "a", "lda", "b", "ldb", "c"] as const;

/** The part of a job one helper computes: rows `[r0, r1)`, columns `[c0, c1)`, its scratch. */
export interface JobPart {
  job: GemmJob;
  r0: number;
  r1: number;
  c0: number;
  c1: number;
  scratch: number;
}

/**
 * Writes a job's part into a control block.
 *
 * @example
 * ```ts
 * import { readJob, writeJob, CONTROL_BYTES } from "./wasm_gemm_control.ts";
 * const ctrl = new SharedArrayBuffer(CONTROL_BYTES);
 * const job = { transA: true, transB: false, M: 2, N: 3, K: 4, alpha: 1, beta: 0,
 *   a: 64, lda: 2, b: 128, ldb: 3, c: 256 };
 * writeJob(ctrl, { job, r0: 0, r1: 2, c0: 1, c1: 3, scratch: 4096 });
 * if (readJob(ctrl).c0 !== 1 || !readJob(ctrl).job.transA) throw new Error("unexpected");
 * ```
 */
export function writeJob(ctrl: SharedArrayBuffer, p: JobPart): void {
  const f = new Float64Array(ctrl, F64_AT * 8);
  FIELDS.forEach((name, i) => (f[i] = p.job[name]));
  const n = FIELDS.length;
  f[n] = p.job.transA ? 1 : 0;
  f[n + 1] = p.job.transB ? 1 : 0;
  f[n + 2] = p.r0;
  f[n + 3] = p.r1;
  f[n + 4] = p.c0;
  f[n + 5] = p.c1;
  f[n + 6] = p.scratch;
}

/** Reads what {@linkcode writeJob} wrote. */
export function readJob(ctrl: SharedArrayBuffer): JobPart {
  const f = new Float64Array(ctrl, F64_AT * 8);
  const n = FIELDS.length;
  const job = { transA: f[n] === 1, transB: f[n + 1] === 1 } as GemmJob;
  FIELDS.forEach((name, i) => (job[name] = f[i]!));
  return { job, r0: f[n + 2]!, r1: f[n + 3]!, c0: f[n + 4]!, c1: f[n + 5]!, scratch: f[n + 6]! };
}
