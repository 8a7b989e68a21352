/**
 * GPTQ (Frantar et al., ICLR 2023) on one weight matrix, with any of quantlab's grids as the inner
 * quantizer, producing that format's `QuantizedTensor` (so every kernel, checkpoint and eval path
 * serves it unchanged).
 *
 * Input: W [rows, cols] (rows = output features, row-major f32) and the Hessian H = 2XᵀX
 * [cols, cols] of the layer's inputs X. The steps, as the reference implementation
 * (IST-DASLab/gptq, AutoGPTQ) takes them:
 * 1. Dead inputs (diag H = 0): H[d, d] = 1 and W[:, d] = 0. Dampening λ = percdamp · mean(diag H)
 *    (default 0.01) added to the diagonal (`gptq_linalg.ts`).
 * 2. The *template*: the data-free quantization of (dead-zeroed) W with the grid's own method
 *    (`rtn`, `hqq`, `nf4`, `af4`, `fp4`, `higgs`); it fixes the table, the storage, HIGGS's
 *    rotation and the static group parameters (`gptq_grid.ts`).
 * 3. HIGGS only: the sweep runs in the rotated domain. W' = W·Rᵀ (each row padded and rotated
 *    blockwise with the same Hₒ·D as `higgs.ts`, by the same `fwhtBlocks` call) and, consistently,
 *    H' = R·H·Rᵀ, so tr((W − Ŵ)H(W − Ŵ)ᵀ) = tr((W' − Ŵ')H'(W' − Ŵ')ᵀ). Padding inputs carry no
 *    data: their diagonal is λ (1 when λ = 0). Damping commutes with the orthonormal rotation.
 * 4. Act-order (optional): columns in descending diag H (p-tuples by the sum of their diagonal,
 *    so a code's columns stay adjacent); the permutation is undone when the codes are stored, so
 *    the tensor is an ordinary one and inference needs no change.
 * 5. The factor. Algorithm 1 sweeps with U, the upper Cholesky factor of H⁻¹: for column j,
 *    e_j = (w̃_j − q_j)/U[j, j] and W̃[:, j+1:] −= e_j·U[j, j+1:]. Summed over j this says
 *    W − Q = E·U, i.e. E = (W − Q)·V with V = U⁻¹ the upper factor of H = VVᵀ (`gptq_linalg.ts`:
 *    one Cholesky, no inverse). So the value a column is quantized from is
 *    w̃_j = w_j + Σ_{i<j} (w_i − q_i)·V[i, j]/V[j, j] (the original w, the quantized q) and
 *    e_j = (w̃_j − q_j)·V[j, j]: the same codes for half the factorization work (the "nearest
 *    plane" form of GPTQ).
 * 6. The sweep: columns in blocks of 128 with lazy batch updates (the rest of W̃ is updated once
 *    per block, W̃[:, i2:] += (W − Q)[:, i1:i2]·V′[i1:i2, i2:], one `sgemm`, V′ = V with columns
 *    divided by the diagonal); inside a block each row runs column by column. Where Algorithm 1
 *    reads columns *ahead* of the current one — a p-tuple quantized jointly, a dynamic group's
 *    statistics — their values are Algorithm 1's (the feedback of the columns in between counted
 *    as exact; a short triangular pass over the tuple or group). For p = 2 (HIGGS pairs) this is
 *    exactly the vector form of GPTQ: the pair is coded as the nearest grid point of its current
 *    values, and the remaining columns get −E·U_SS⁻¹·U[S, :] with U_SS the pair's 2 × 2 block,
 *    which the two scalar steps compute (the second error includes the first's feedback).
 *
 * **Groups and act-order.** Without act-order a scalar format's groups are *dynamic*: the scale
 * (and zero) of a group are set, with the format's rule, from the current (error-updated) weights
 * when the sweep enters the group, as GPTQ does. Blocks are aligned with groups (a group lies in
 * one block or starts at a block start) so this is exact. With act-order the sweep visits
 * columns out of order, and GPTQ's dynamic groups would then hold scattered columns (its `g_idx`),
 * which the format (contiguous groups) cannot express; so act-order uses *static groups*
 * (AutoGPTQ's `static_groups=True`): every group's parameters come from the original W before the
 * sweep (the template's), and each column uses the group of its original position. HQQ and HIGGS
 * always use static parameters (HQQ's optimizer and HIGGS's RMS scale are set once, from W).
 *
 * The sweep is `gptq_sweep.ts`; its plain specification is `gptq_reference.ts`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fwhtBlocks } from "../hadamard/fwht.ts";
import type { QuantizedTensor } from "./format.ts";
import { checkHessian, prepareHessian } from "./gptq_linalg.ts";
import { gptqGrid } from "./gptq_grid.ts";
import { gptqSweep } from "./gptq_sweep.ts";
import type { GridSpec } from "./grid_spec.ts";
import { packCodes } from "./packing.ts";
import { getQuantizer } from "./registry.ts";
import { checkWeights } from "./group_encoding.ts";
import type { GptqProblem } from "./gptq_problem.ts";

/** Options of {@linkcode gptqQuantize}. */
export interface GptqOptions {
  /** Dampening as a fraction of mean(diag H) (default 0.01). */
  percdamp?: number;
  /** Columns per lazy-update block (default 128). */
  blockSize?: number;
  /** Quantize columns in descending diag H (default false). */
  actOrder?: boolean;
  /** Fix every group's parameters from the original W before the sweep (forced by actOrder). */
  staticGroups?: boolean;
  /** Tensor name for error messages. */
  name?: string;
}

/** What {@linkcode gptqQuantize} returns. */
export interface GptqResult {
  /** The quantized tensor (the grid's format). */
  tensor: QuantizedTensor;
  /** The data-free quantization of the same (dead-zeroed) weight with the same grid. */
  dataFree: QuantizedTensor;
  /** GPTQ's loss Σ e² = tr((W − Ŵ)H_λ(W − Ŵ)ᵀ) with the damped Hessian (rotated domain for HIGGS). */
  loss: number;
  /** The dampening λ added to the diagonal. */
  damp: number;
  /** Dead input columns (diag H = 0), zeroed in W. */
  dead: number;
  /** Milliseconds: setup (template, rotation, act-order), factor, sweep. */
  ms: { setup: number; factor: number; sweep: number };
}

/** Copies rows of `cols` values into rows of `pc` ≥ cols (zero padding), with `outRows` rows. */
function padRows(x: Float32Array, rows: number, cols: number, pc: number, outRows = rows) {
  const out = new Float32Array(outRows * pc);
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * cols, (r + 1) * cols), r * pc);
  return out;
}

/** Rotates each row of `pc` columns blockwise as HIGGS does (orthonormal Hₒ·D), in place. */
function rotateRows(
  x: Float32Array,
  rows: number,
  pc: number,
  h: number,
  seed: number | null,
): Float32Array {
  const s = seed ?? -1;
  const log = Math.round(Math.log2(h));
  fwhtBlocks(x, pc, log, 1 / Math.sqrt(h), s >= 0 ? 1 : 0, s >= 0 ? s : 0, 0, (rows * pc) / h);
  return x;
}

function transpose(a: Float32Array, n: number): Float32Array {
  const t = new Float32Array(n * n);
  const T = 64; // tiles keep both sides in cache
  for (let i0 = 0; i0 < n; i0 += T) {
    for (let j0 = 0; j0 < n; j0 += T) {
      const i1 = Math.min(n, i0 + T);
      const j1 = Math.min(n, j0 + T);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * n + i] = a[i * n + j]!;
    }
  }
  return t;
}

/**
 * Sets up a GPTQ problem (steps 1–4 of the module doc): validates, prepares the Hessian, runs the
 * data-free template, rotates for HIGGS and applies act-order.
 *
 * @example
 * ```ts
 * import { gptqProblem } from "./gptq.ts";
 * const w = Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i));
 * const h = new Float32Array(64);
 * for (let i = 0; i < 8; i++) h[i * 9] = 1;
 * const p = await gptqProblem(w, 2, 8, h, { method: "rtn", opts: { bits: 4, groupSize: 8 } });
 * if (p.n !== 8 || p.perm !== null) throw new Error();
 * ```
 */
export async function gptqProblem(
  w: Float32Array,
  rows: number,
  cols: number,
  h: Float32Array,
  spec: GridSpec,
  opts: GptqOptions = {},
): Promise<GptqProblem> {
  const name = opts.name ?? "tensor";
  checkWeights(w, rows, cols, name);
  checkHessian(h, cols, `The Hessian of "${name}"`);
  const actOrder = opts.actOrder ?? false;
  const staticGroups = actOrder || (opts.staticGroups ?? false);
  if (spec.method === "higgs" && spec.opts.extra?.scaleRule === "unbiased") {
    throw new QuantlabError(
      "unsupported",
      `Cannot quantize "${name}" with GPTQ-HIGGS and scale rule "unbiased": the scales are fixed ` +
        `before the sweep; use scaleRule=rms`,
    );
  }
  const prep = prepareHessian(h, cols, opts.percdamp ?? 0.01);
  const wz = w.slice();
  let dead = 0;
  for (let c = 0; c < cols; c++) {
    if (!prep.dead[c]) continue;
    dead++;
    for (let r = 0; r < rows; r++) wz[r * cols + c] = 0;
  }
  const template = await getQuantizer(spec.method).quantize(
    wz,
    rows,
    cols,
    spec.opts,
    undefined,
    name,
  );
  const grid = gptqGrid(template, { dynamic: !staticGroups, name });
  let ww: Float32Array = wz;
  let hh: Float32Array = prep.h;
  const n = template.paddedCols;
  if (n !== cols) {
    // Padding inputs carry no data: only the dampening (1 when there is none) on their diagonal.
    ww = padRows(wz, rows, cols, n);
    hh = padRows(prep.h, cols, cols, n, n);
    for (let i = cols; i < n; i++) hh[i * n + i] = prep.damp > 0 ? prep.damp : 1;
  }
  if (template.rotation.kind === "hadamard") {
    const { size, seed } = template.rotation;
    ww = rotateRows(ww, rows, n, size, seed);
    hh = rotateRows(transpose(rotateRows(hh, n, n, size, seed), n), n, n, size, seed);
  }
  let perm: Int32Array | null = null;
  if (actOrder) {
    const p = grid.p;
    const nt = n / p;
    const score = new Float64Array(nt);
    for (let t = 0; t < nt; t++) {
      for (let e = 0; e < p; e++) score[t] = score[t]! + hh[(t * p + e) * (n + 1)]!;
    }
    perm = Int32Array.from([...score.keys()].sort((a, b) => score[b]! - score[a]! || a - b));
    const col = new Int32Array(n);
    for (let j = 0; j < n; j++) col[j] = perm[Math.floor(j / p)]! * p + (j % p);
    const pw = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) pw[r * n + j] = ww[r * n + col[j]!]!;
    const ph = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      const src = col[i]! * n;
      for (let j = 0; j < n; j++) ph[i * n + j] = hh[src + col[j]!]!;
    }
    ww = pw;
    hh = ph;
  }
  return { w: ww, h: hh, rows, n, perm, grid, template, damp: prep.damp, dead, staticGroups };
}

/**
 * The output tensor: the template with GPTQ's codes, scales and zeros, and the GPTQ settings in
 * `params` (`gptq`, `gptqPercdamp`, `gptqActOrder`, `gptqStaticGroups`, `gptqBlockSize`).
 *
 * @example
 * ```ts
 * import { gptqProblem, gptqTensor } from "./gptq.ts";
 * import { gptqSweep } from "./gptq_sweep.ts";
 * const w = Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i));
 * const h = new Float32Array(64);
 * for (let i = 0; i < 8; i++) h[i * 9] = 1;
 * const pr = await gptqProblem(w, 2, 8, h, { method: "rtn", opts: { bits: 4, groupSize: 8 } });
 * const t = gptqTensor(pr, (await gptqSweep(pr)).codes, {});
 * if (t.params.gptqActOrder !== false) throw new Error();
 * ```
 */
export function gptqTensor(
  problem: GptqProblem,
  codes: Uint16Array,
  opts: GptqOptions,
): QuantizedTensor {
  const { template: t, grid: G, rows, n } = problem;
  const out: QuantizedTensor = {
    ...t,
    codes: packCodes(codes, rows, n / G.p, t.codeBits),
    scales: G.scales,
    params: {
      ...t.params,
      gptq: true,
      gptqPercdamp: opts.percdamp ?? 0.01,
      gptqActOrder: opts.actOrder ?? false,
      gptqStaticGroups: problem.staticGroups,
      gptqBlockSize: opts.blockSize ?? 128,
    },
  };
  if (G.zeros) out.zeros = G.zeros;
  return out;
}

/**
 * GPTQ on one weight W [rows, cols] with Hessian H = 2XᵀX [cols, cols] and the grid `spec`
 * (see the module doc): the grid's `QuantizedTensor`, with the data-free quantization for
 * comparison.
 *
 * @example
 * ```ts
 * import { gptqQuantize } from "./gptq.ts";
 * import { fillNormal } from "../core/prng.ts";
 * const w = fillNormal(new Float32Array(4 * 16), 1);
 * const h = new Float32Array(256);
 * for (let i = 0; i < 16; i++) h[i * 17] = 2;
 * const r = await gptqQuantize(w, 4, 16, h, { method: "nf4", opts: { groupSize: 16 } });
 * if (r.tensor.method !== "nf4" || r.tensor.params.gptq !== true) throw new Error();
 * ```
 */
export async function gptqQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  h: Float32Array,
  spec: GridSpec,
  opts: GptqOptions = {},
): Promise<GptqResult> {
  const t0 = performance.now();
  const problem = await gptqProblem(w, rows, cols, h, spec, opts);
  const setup = performance.now() - t0;
  const { codes, loss, factorMs, sweepMs } = await gptqSweep(problem, opts.blockSize ?? 128);
  return {
    tensor: gptqTensor(problem, codes, opts),
    dataFree: problem.template,
    loss,
    damp: problem.damp,
    dead: problem.dead,
    ms: { setup, factor: factorMs, sweep: sweepMs },
  };
}
