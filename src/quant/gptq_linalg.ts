/**
 * The linear algebra of GPTQ (Frantar et al., ICLR 2023) on an n × n Hessian H = 2XᵀX, row-major
 * f32: validation, the reference's treatment of dead columns and its dampening, and the upper
 * Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU) that Algorithm 1 of the paper sweeps with.
 *
 * The paper computes U in three steps (Cholesky of H, `cholesky_inverse`, Cholesky of H⁻¹). Here it
 * takes one Cholesky and one triangular inverse: with J the reversal matrix, JHJ = LLᵀ gives
 * H = VVᵀ with V = JLJ upper triangular, so H⁻¹ = V⁻ᵀV⁻¹ and U = V⁻¹ = J·L⁻¹·J (the unique upper
 * factor with a positive diagonal). J·A·J of a row-major matrix is the flat array reversed. Both
 * steps are blocked (128) with the O(n³) work in `sgemm` (`src/cpu/matmul.ts`); the 128 × 128
 * diagonal blocks are factored and inverted in f64.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { sgemm } from "../cpu/matmul.ts";

/** Diagonal block size of the blocked factorizations. */
const NB = 128;

/**
 * Checks that `h` is an n × n matrix of finite values (`bad-shape` / `bad-value` errors naming
 * the Hessian and the first bad index). Symmetry is assumed (only the lower triangle is read by
 * the factorization).
 *
 * @example
 * ```ts
 * import { checkHessian } from "./gptq_linalg.ts";
 * checkHessian(new Float32Array([2, 0, 0, 2]), 2, "h");
 * ```
 */
export function checkHessian(h: Float32Array, n: number, name = "Hessian"): void {
  if (!(h instanceof Float32Array) || h.length !== n * n) {
    const len = (h as { length?: number })?.length;
    const side = Math.sqrt(len ?? 0);
    throw new QuantlabError(
      "bad-shape",
      `${name} holds ${len} values; a ${n} × ${n} Hessian (the weight's ${n} input columns) ` +
        `needs ${n * n}${Number.isInteger(side) ? ` (it is ${side} × ${side})` : " (not square)"}`,
    );
  }
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    if (v - v !== 0) {
      throw new QuantlabError(
        "bad-value",
        `${name} holds ${v} at row ${Math.floor(i / n)}, column ${i % n}; a Hessian must be finite`,
      );
    }
  }
}

/** A Hessian prepared as GPTQ's reference does, before the factorization. */
export interface PreparedHessian {
  /** The damped Hessian (a copy): dead diagonal entries set to 1, then λ added to the diagonal. */
  h: Float32Array;
  /** 1 where diag(H) was 0 (an input never active): the weight column is zeroed. */
  dead: Uint8Array;
  /** The dampening λ = percdamp · mean(diag H) (after the dead entries became 1). */
  damp: number;
}

/**
 * GPTQ's preparation: dead columns (diag H = 0) get H[d, d] = 1, then λ = percdamp · mean(diag H)
 * is added to the diagonal. Returns a new array; `h` is not changed.
 *
 * @example
 * ```ts
 * import { prepareHessian } from "./gptq_linalg.ts";
 * const p = prepareHessian(new Float32Array([3, 0, 0, 0]), 2, 0.5);
 * if (p.dead.join() !== "0,1" || p.damp !== 1 || p.h.join() !== "4,0,0,2") throw new Error();
 * ```
 */
export function prepareHessian(h: Float32Array, n: number, percdamp: number): PreparedHessian {
  if (!(percdamp >= 0 && Number.isFinite(percdamp))) {
    throw new QuantlabError(
      "bad-argument",
      `Dampening ${percdamp} is not valid; use a fraction ≥ 0 of the mean diagonal, e.g. 0.01`,
    );
  }
  const out = h.slice();
  const dead = new Uint8Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (out[i * n + i] === 0) {
      dead[i] = 1;
      out[i * n + i] = 1;
    }
    sum += out[i * n + i]!;
  }
  const damp = percdamp * (sum / n);
  for (let i = 0; i < n; i++) out[i * n + i] = out[i * n + i]! + damp;
  return { h: out, dead, damp };
}

/** Maps a pivot index to the one the error names (the reversed order of upperCholeskyOfInverse). */
let pivotOf = (k: number): number => k;

function notPd(k: number, v: number): never {
  k = pivotOf(k);
  throw new QuantlabError(
    "bad-value",
    `The Hessian is not positive definite: pivot ${k} is ${v} after dampening; use a larger ` +
      `dampening (percdamp) or more calibration samples`,
  );
}

/** Factors the kb × kb diagonal block at (k0, k0) of `a` (stride n) in f64, in place (lower). */
function factorDiag(a: Float32Array, n: number, k0: number, kb: number): Float64Array {
  const l = new Float64Array(kb * kb);
  for (let i = 0; i < kb; i++) {
    for (let j = 0; j <= i; j++) l[i * kb + j] = a[(k0 + i) * n + k0 + j]!;
  }
  for (let j = 0; j < kb; j++) {
    let d = l[j * kb + j]!;
    for (let k = 0; k < j; k++) d -= l[j * kb + k]! * l[j * kb + k]!;
    if (!(d > 0)) notPd(k0 + j, d);
    const s = Math.sqrt(d);
    l[j * kb + j] = s;
    for (let i = j + 1; i < kb; i++) {
      let v = l[i * kb + j]!;
      for (let k = 0; k < j; k++) v -= l[i * kb + k]! * l[j * kb + k]!;
      l[i * kb + j] = v / s;
    }
  }
  return l;
}

/** Inverse of a kb × kb lower-triangular f64 matrix (lower). */
function invertLower(l: Float64Array, kb: number): Float64Array {
  const m = new Float64Array(kb * kb);
  for (let j = 0; j < kb; j++) {
    m[j * kb + j] = 1 / l[j * kb + j]!;
    for (let i = j + 1; i < kb; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * kb + k]! * m[k * kb + j]!;
      m[i * kb + j] = -s / l[i * kb + i]!;
    }
  }
  return m;
}

/**
 * Lower Cholesky factor of a symmetric positive definite n × n matrix, in place: on return the
 * lower triangle of `a` holds L (A = LLᵀ) and the strict upper triangle is zero. Blocked
 * right-looking: f64 diagonal blocks, `sgemm` panels and trailing updates. Throws a `bad-value`
 * error naming the pivot when A is not positive definite.
 *
 * @example
 * ```ts
 * import { choleskyLowerInPlace } from "./gptq_linalg.ts";
 * const a = new Float32Array([4, 2, 2, 5]);
 * choleskyLowerInPlace(a, 2);
 * if (a.join() !== "2,0,1,2") throw new Error(a.join());
 * ```
 */
export function choleskyLowerInPlace(a: Float32Array, n: number): Float32Array {
  for (let k0 = 0; k0 < n; k0 += NB) {
    const kb = Math.min(NB, n - k0);
    const l = factorDiag(a, n, k0, kb);
    for (let i = 0; i < kb; i++) {
      for (let j = 0; j < kb; j++) a[(k0 + i) * n + k0 + j] = j <= i ? l[i * kb + j]! : 0;
    }
    const m = n - k0 - kb;
    if (m === 0) continue;
    // Panel: L21 = A21 · L11⁻ᵀ.
    const inv = Float32Array.from(invertLower(l, kb));
    const panel = new Float32Array(m * kb);
    sgemm({
      transB: true,
      M: m,
      N: kb,
      K: kb,
      A: a.subarray((k0 + kb) * n + k0),
      lda: n,
      B: inv,
      C: panel,
    });
    for (let i = 0; i < m; i++) {
      a.set(panel.subarray(i * kb, (i + 1) * kb), (k0 + kb + i) * n + k0);
    }
    // Trailing: A22 −= L21 · L21ᵀ, by block columns, on and below the diagonal blocks only.
    for (let j = 0; j < m; j += NB) {
      const w = Math.min(NB, m - j);
      const c = k0 + kb + j;
      sgemm({
        transB: true,
        M: m - j,
        N: w,
        K: kb,
        alpha: -1,
        A: panel.subarray(j * kb),
        B: panel.subarray(j * kb, (j + w) * kb),
        beta: 1,
        C: a.subarray(c * n + c),
        ldc: n,
      });
    }
  }
  for (let i = 0; i < n; i++) a.fill(0, i * n + i + 1, (i + 1) * n);
  return a;
}

/**
 * Inverse of a lower-triangular n × n matrix (a new array, lower triangular). Blocked by rows of
 * blocks: M_ii = L_ii⁻¹ in f64, M[i, :i] = −M_ii · (L[i, :i] · M[:i, :i]) with `sgemm`.
 *
 * @example
 * ```ts
 * import { invertLowerTriangular } from "./gptq_linalg.ts";
 * const m = invertLowerTriangular(new Float32Array([2, 0, 1, 4]), 2);
 * if (m.join() !== "0.5,0,-0.125,0.25") throw new Error(m.join());
 * ```
 */
export function invertLowerTriangular(l: Float32Array, n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i0 = 0; i0 < n; i0 += NB) {
    const ib = Math.min(NB, n - i0);
    const blk = new Float64Array(ib * ib);
    for (let i = 0; i < ib; i++) {
      for (let j = 0; j <= i; j++) blk[i * ib + j] = l[(i0 + i) * n + i0 + j]!;
    }
    for (let i = 0; i < ib; i++) {
      if (!(blk[i * ib + i]! > 0)) notPd(i0 + i, blk[i * ib + i]!);
    }
    const mii = invertLower(blk, ib);
    for (let i = 0; i < ib; i++) {
      for (let j = 0; j <= i; j++) m[(i0 + i) * n + i0 + j] = mii[i * ib + j]!;
    }
    if (i0 === 0) continue;
    const t = new Float32Array(ib * i0);
    // T = L[i, :i] · M[:i, :i], by block columns j (M is lower: rows above j0 are zero there).
    for (let j0 = 0; j0 < i0; j0 += NB) {
      const w = Math.min(NB, i0 - j0);
      sgemm({
        M: ib,
        N: w,
        K: i0 - j0,
        A: l.subarray(i0 * n + j0),
        lda: n,
        B: m.subarray(j0 * n + j0),
        ldb: n,
        C: t.subarray(j0),
        ldc: i0,
      });
    }
    sgemm({
      M: ib,
      N: i0,
      K: ib,
      alpha: -1,
      A: Float32Array.from(mii),
      B: t,
      C: m.subarray(i0 * n),
      ldc: n,
    });
  }
  return m;
}

/**
 * The upper-triangular V with A = VVᵀ (positive diagonal) for a symmetric positive definite
 * n × n `a` (not changed): V = J·chol(J·A·J)·J, one Cholesky of the reversed matrix. Its inverse is
 * GPTQ's U ({@linkcode upperCholeskyOfInverse}); the sweep in `gptq.ts` uses V directly.
 *
 * @example
 * ```ts
 * import { upperCholeskyFactor } from "./gptq_linalg.ts";
 * // [[5, 2], [2, 4]] = VVᵀ with V = [[2, 1], [0, 2]].
 * const v = upperCholeskyFactor(new Float32Array([5, 2, 2, 4]), 2);
 * if (v.join() !== "2,1,0,2") throw new Error(v.join());
 * ```
 */
export function upperCholeskyFactor(a: Float32Array, n: number): Float32Array {
  const rev = a.slice().reverse();
  pivotOf = (k) => n - 1 - k;
  try {
    return choleskyLowerInPlace(rev, n).reverse();
  } finally {
    pivotOf = (k) => k;
  }
}

/**
 * The upper-triangular U with A⁻¹ = UᵀU for a symmetric positive definite n × n `a` (not
 * changed): U = J·chol(J·A·J)⁻¹·J (see the module doc). This is the `Hinv` of GPTQ's Algorithm 1.
 *
 * @example
 * ```ts
 * import { upperCholeskyOfInverse } from "./gptq_linalg.ts";
 * // A = diag(4, 16): A⁻¹ = diag(1/4, 1/16) = UᵀU with U = diag(1/2, 1/4).
 * const u = upperCholeskyOfInverse(new Float32Array([4, 0, 0, 16]), 2);
 * if (u.join() !== "0.5,0,0,0.25") throw new Error(u.join());
 * ```
 */
export function upperCholeskyOfInverse(a: Float32Array, n: number): Float32Array {
  const v = upperCholeskyFactor(a, n).reverse(); // J·V·J: lower
  return invertLowerTriangular(v, n).reverse();
}
