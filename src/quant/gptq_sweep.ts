/**
 * GPTQ's column sweep (steps 5–6 of `gptq.ts`) on a prepared {@linkcode GptqProblem}, in the
 * nearest-plane form: with H = VVᵀ (V upper, one Cholesky) a column is quantized from
 * w̃_j = w_j + Σ_{i<j} (w_i − q_i)·V[i, j]/V[j, j], which gives exactly Algorithm 1's codes
 * without forming H⁻¹. Columns go in blocks (default 128): inside a block each row runs column by
 * column (rows split over the worker pool, {@linkcode gptqBlockRows}); after it the rest of W̃ is
 * updated at once with one `sgemm` (lazy batch update). Columns read *ahead* of the current one
 * (a jointly coded p-tuple, a dynamic group's statistics) take Algorithm 1's values: the feedback
 * of the columns in between counted as exact (a short triangular pass).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { sgemm } from "../cpu/matmul.ts";
import { parallelFor, poolSize, sharedF32, toShared } from "../cpu/pool.ts";
import type { GptqProblem } from "./gptq_problem.ts";
import { gptqEnterGroup, type GptqGrid, gptqQuantizeTuple } from "./gptq_grid.ts";
import { upperCholeskyFactor } from "./gptq_linalg.ts";

const SELF = import.meta.url;

/** Rows per pool chunk below which a block stays on the calling thread. */
const MIN_ROWS = 64;

/** What {@linkcode gptqSweep} returns. */
export interface GptqSweepResult {
  /** Codes in the grid's column order, rows × n/p. */
  codes: Uint16Array;
  /** Σ e² over all weights: tr((W − Ŵ)H(W − Ŵ)ᵀ) with the problem's (damped) H. */
  loss: number;
  /** Milliseconds spent on the factor V. */
  factorMs: number;
  /** Milliseconds spent on the column sweep. */
  sweepMs: number;
}

/**
 * Original column (grid order) of sweep position j: act-order permutes p-tuples.
 *
 * @example
 * ```ts
 * import { gptqColumnOf } from "./gptq_sweep.ts";
 * if (gptqColumnOf(Int32Array.from([1, 0]), 2, 1) !== 3 || gptqColumnOf(null, 2, 1) !== 1) {
 *   throw new Error();
 * }
 * ```
 */
export function gptqColumnOf(perm: Int32Array | null, p: number, j: number): number {
  return perm ? perm[Math.floor(j / p)]! * p + (j % p) : j;
}

/**
 * The effective block: a multiple of p, and with dynamic groups aligned so that every group lies
 * in one block or starts at a block start.
 */
function effectiveBlock(block: number, G: GptqGrid): number {
  const p = G.p;
  let b = Math.max(p, block - (block % p));
  if (!G.dynamic) return b;
  const g = G.g;
  if (g <= b) return b - (b % g);
  while (g % b !== 0 || b % p !== 0) b--;
  return b;
}

let look = new Float32Array(16);
const q = new Float32Array(16);

/** The shared arrays of a sweep, as the pool kernel receives them. */
export interface SweepState {
  /** The original W [rows, n] (sweep order). */
  w0: Float32Array;
  /** W̃ [rows, n]: W plus the feedback of the columns already quantized. */
  w: Float32Array;
  /** The current block of W̃ [rows, nb]. */
  w1: Float32Array;
  /** W − Q of the current block [rows, nb]. */
  d1: Float32Array;
  /** V′ (V with columns divided by the diagonal), [n, n]. */
  v: Float32Array;
  /** V′ of the current block [nb, nb]. */
  v1: Float32Array;
  /** diag V, n. */
  dg: Float64Array;
  /** Codes [rows, n/p] in the grid's column order. */
  codes: Uint16Array;
  /** Act-order permutation of tuples, or null. */
  perm: Int32Array | null;
  /** Columns. */
  n: number;
}

/**
 * Algorithm 1's values of columns j … j+cnt−1 of row r once every column before j is quantized
 * (j = i1 + i): W̃ with the feedback of the columns in between taken as exact (q = w̃).
 */
function lookahead(S: SweepState, r: number, i1: number, i: number, nb: number, cnt: number) {
  const { n, w0, v } = S;
  const j = i1 + i;
  if (look.length < cnt) look = new Float32Array(cnt);
  // From the block, or (a group reaching past it, at a block start only) from W̃.
  const [src, at] = i + cnt <= nb ? [S.w1, r * nb + i] : [S.w, r * n + j];
  for (let t = 0; t < cnt; t++) look[t] = src[at + t]!;
  for (let s = 0; s + 1 < cnt; s++) {
    const d = w0[r * n + j + s]! - look[s]!;
    if (d === 0) continue;
    const vrow = (j + s) * n + j;
    for (let t = s + 1; t < cnt; t++) look[t] = look[t]! + d * v[vrow + t]!;
  }
  return look;
}

/**
 * Pool kernel: rows [start, end) of the block at columns [i1, i1 + nb): copies them into `w1`,
 * quantizes column by column with in-block feedback, fills `d1` and the codes; returns the rows'
 * share of the loss.
 *
 * @example
 * ```ts
 * import { gptqProblem } from "./gptq.ts";
 * import { gptqSweep } from "./gptq_sweep.ts";
 * const w = Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i));
 * const h = new Float32Array(64);
 * for (let i = 0; i < 8; i++) h[i * 9] = 1;
 * const pr = await gptqProblem(w, 2, 8, h, { method: "rtn", opts: { bits: 4, groupSize: 8 } });
 * if ((await gptqSweep(pr)).codes.length !== 16) throw new Error(); // gptqBlockRows inside
 * ```
 */
export function gptqBlockRows(
  G: GptqGrid,
  S: SweepState,
  i1: number,
  nb: number,
  start: number,
  end: number,
): number {
  const { n, w0, w1, d1, v1, dg, codes, perm } = S;
  const p = G.p;
  const nt = n / p;
  let loss = 0;
  for (let r = start; r < end; r++) {
    const base = r * nb;
    w1.set(S.w.subarray(r * n + i1, r * n + i1 + nb), base);
    for (let i = 0; i < nb; i++) {
      const j = i1 + i;
      const e0 = i % p;
      if (e0 === 0) {
        const c = gptqColumnOf(perm, p, j);
        if (G.dynamic && c % G.g === 0) {
          gptqEnterGroup(G, r, c / G.g, lookahead(S, r, i1, i, nb, G.g));
        }
        codes[r * nt + c / p] = p === 1
          ? gptqQuantizeTuple(G, r, c, w1, base + i, q)
          : gptqQuantizeTuple(G, r, c, lookahead(S, r, i1, i, nb, p), 0, q);
      }
      const qi = q[e0]!;
      const err = (w1[base + i]! - qi) * dg[j]!;
      loss += err * err;
      const dlt = w0[r * n + j]! - qi;
      d1[base + i] = dlt;
      const vrow = i * nb;
      for (let k = i + 1; k < nb; k++) w1[base + k] = w1[base + k]! + dlt * v1[vrow + k]!;
    }
  }
  return loss;
}

/**
 * The blocked sweep with lazy batch updates on a prepared problem (`problem.w` is not changed;
 * with dynamic groups `problem.grid`'s parameters are updated in place). Returns codes in the
 * grid's column order (rows × n/p) and the loss.
 *
 * @example
 * ```ts
 * import { gptqProblem } from "./gptq.ts";
 * import { gptqSweep } from "./gptq_sweep.ts";
 * const w = Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i));
 * const h = new Float32Array(64);
 * for (let i = 0; i < 8; i++) h[i * 9] = 1;
 * const pr = await gptqProblem(w, 2, 8, h, { method: "rtn", opts: { bits: 4, groupSize: 8 } });
 * const { codes } = await gptqSweep(pr);
 * if (codes.length !== 16) throw new Error();
 * ```
 */
export async function gptqSweep(problem: GptqProblem, blockSize = 128): Promise<GptqSweepResult> {
  const { h, rows, n, perm, grid: G } = problem;
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new QuantlabError(
      "bad-argument",
      `GPTQ block size ${blockSize} is not valid; use a positive integer, e.g. 128`,
    );
  }
  const t0 = performance.now();
  const par = poolSize() > 1 && rows >= 2 * MIN_ROWS;
  // H = VVᵀ, V upper; V′[i, j] = V[i, j]/V[j, j] drives the feedback.
  const V = upperCholeskyFactor(h, n);
  const dg = par ? new Float64Array(new SharedArrayBuffer(8 * n)) : new Float64Array(n);
  for (let j = 0; j < n; j++) dg[j] = V[j * n + j]!;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) V[i * n + j] = V[i * n + j]! / dg[j]!;
  }
  const t1 = performance.now();
  const B = effectiveBlock(blockSize, G);
  const share = <T extends Float32Array | Uint16Array>(a: T): T => par ? toShared(a) : a;
  const f32 = (len: number) => par ? sharedF32(len) : new Float32Array(len);
  const S: SweepState = {
    w0: share(problem.w),
    w: par ? toShared(problem.w.slice()) : problem.w.slice(),
    w1: f32(rows * B),
    d1: f32(rows * B),
    v: share(V),
    v1: f32(B * B),
    dg,
    codes: share(new Uint16Array(rows * (n / G.p))),
    perm,
    n,
  };
  if (par) {
    // Dynamic groups write their parameters from the workers.
    G.scales = toShared(G.scales);
    G.enc = toShared(G.enc);
    if (G.zeros) G.zeros = toShared(G.zeros);
  }
  let loss = 0;
  for (let i1 = 0; i1 < n; i1 += B) {
    const nb = Math.min(B, n - i1);
    for (let i = 0; i < nb; i++) {
      S.v1.set(S.v.subarray((i1 + i) * n + i1, (i1 + i) * n + i1 + nb), i * nb);
    }
    const parts = await parallelFor(SELF, "gptqBlockRows", rows, [G, S, i1, nb], {
      minChunk: MIN_ROWS,
    });
    for (const l of parts as number[]) loss += l;
    const rest = n - i1 - nb;
    if (rest > 0) {
      sgemm({
        M: rows,
        N: rest,
        K: nb,
        A: S.d1.subarray(0, rows * nb),
        B: S.v.subarray(i1 * n + i1 + nb),
        ldb: n,
        beta: 1,
        C: S.w.subarray(i1 + nb),
        ldc: n,
      });
    }
  }
  return { codes: S.codes, loss, factorMs: t1 - t0, sweepMs: performance.now() - t1 };
}
