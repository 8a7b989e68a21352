// This module is browser compatible.
/**
 * The specification of GPTQ's sweep, in plain f64 loops: no blocking, no lazy batch updates,
 * and the factor computed as the paper writes it (Cholesky of H, its inverse H⁻¹ = L⁻ᵀL⁻¹, then
 * the upper Cholesky factor U of H⁻¹). After each quantized column j the whole rest of W is
 * updated at once: W[:, j+1:] −= e·U[j, j+1:] with e = (w − q)/U[j, j]. `gptq.ts` must give the
 * same codes (tested).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { GptqProblem } from "./gptq_problem.ts";
import { gptqEnterGroup, gptqQuantizeTuple } from "./gptq_grid.ts";

/** Lower Cholesky factor of an n × n symmetric positive definite f64 matrix (a new array). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= l[j * n + k]! ** 2;
    if (!(d > 0)) {
      throw new QuantlabError("bad-value", `The Hessian is not positive definite at pivot ${j}`);
    }
    l[j * n + j] = Math.sqrt(d);
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / l[j * n + j]!;
    }
  }
  return l;
}

/**
 * Algorithm 1's factor the paper's way: U upper with H⁻¹ = UᵀU, via `cholesky`,
 * `cholesky_inverse` and `cholesky(upper=True)`, all in f64.
 *
 * @example
 * ```ts
 * import { hinvFactorReference } from "./gptq_reference.ts";
 * const u = hinvFactorReference(new Float32Array([4, 0, 0, 16]), 2);
 * if (u.join() !== "0.5,0,0,0.25") throw new Error();
 * ```
 */
export function hinvFactorReference(h: Float32Array, n: number): Float64Array {
  const l = cholesky(Float64Array.from(h), n);
  // L⁻¹ by forward substitution, column by column.
  const li = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    li[j * n + j] = 1 / l[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * n + k]! * li[k * n + j]!;
      li[i * n + j] = -s / l[i * n + i]!;
    }
  }
  // H⁻¹ = L⁻ᵀ L⁻¹.
  const hinv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = Math.max(i, j); k < n; k++) s += li[k * n + i]! * li[k * n + j]!;
      hinv[i * n + j] = s;
    }
  }
  // Upper factor: H⁻¹ = UᵀU with U = chol(H⁻¹)ᵀ.
  const l2 = cholesky(hinv, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = l2[j * n + i]!;
  return u;
}

/**
 * The plain sweep on a prepared problem (`gptqProblem`): one column at a time, every update
 * applied at once, f64 weights. Returns codes in the grid's column order and the loss Σ e².
 *
 * @example
 * ```ts
 * import { gptqProblem } from "./gptq.ts";
 * import { gptqSweepReference } from "./gptq_reference.ts";
 * const w = Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i));
 * const h = new Float32Array(64);
 * for (let i = 0; i < 8; i++) h[i * 9] = 1;
 * const pr = await gptqProblem(w, 2, 8, h, { method: "rtn", opts: { bits: 4, groupSize: 8 } });
 * if (gptqSweepReference(pr).codes.length !== 16) throw new Error();
 * ```
 */
export function gptqSweepReference(problem: GptqProblem): { codes: Uint16Array; loss: number } {
  const { rows, n, perm, grid: G } = problem;
  const p = G.p;
  const nt = n / p;
  const u = hinvFactorReference(problem.h, n);
  const w = Float64Array.from(problem.w);
  const codes = new Uint16Array(rows * nt);
  const q = new Float32Array(p);
  const qs = new Float64Array(rows * p);
  let loss = 0;
  for (let j = 0; j < n; j++) {
    const e0 = j % p;
    if (e0 === 0) {
      const c = perm ? perm[j / p]! * p : j;
      for (let r = 0; r < rows; r++) {
        if (G.dynamic && c % G.g === 0) {
          gptqEnterGroup(G, r, c / G.g, Float32Array.from(w.subarray(r * n + j, r * n + j + G.g)));
        }
        codes[r * nt + c / p] = gptqQuantizeTuple(G, r, c, w, r * n + j, q);
        for (let e = 0; e < p; e++) qs[r * p + e] = q[e]!;
      }
    }
    const d = u[j * n + j]!;
    for (let r = 0; r < rows; r++) {
      const err = (w[r * n + j]! - qs[r * p + e0]!) / d;
      loss += err * err;
      for (let k = j + 1; k < n; k++) w[r * n + k] = w[r * n + k]! - err * u[j * n + k]!;
    }
  }
  return { codes, loss };
}
