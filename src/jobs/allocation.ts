// This module is browser compatible.
/**
 * Per-layer bitwidth allocation under the linearity model of HIGGS (Malinovskii et al., NAACL
 * 2025): PPL(W + ΔW) − PPL(W) ≈ Σ_l α_l·t_l², with t_l² = ‖ΔW_l‖²/‖W_l‖². Given each layer's
 * sensitivity α_l, its size and, per quantization option j (a grid or bitwidth), its cost b_j in
 * bits per weight and error t²_{l,j}, choose one option per layer to minimize Σ α_l·t²_{l,j}
 * subject to Σ size_l·b_j ≤ budget · Σ size_l: a multiple-choice knapsack.
 *
 * {@linkcode allocateBits} solves it exactly by dynamic programming over the integer costs when
 * they are small enough (costs in units of the greatest common divisor of all size·bits
 * products), else over a discretized budget with every cost rounded up, so the answer always fits
 * the budget. {@linkcode continuousAllocation} is the closed-form relaxation for errors that halve
 * in standard deviation per bit (t² ∝ 4^−b): b_l = budget + ½·log₂(α_l) − the size-weighted mean
 * of ½·log₂(α).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** One quantization option (a grid, a bitwidth) open to every layer. */
export interface AllocationOption {
  /** Label, e.g. `"higgs (2,256)"`. */
  name: string;
  /** Cost in bits per weight (codes, scales and tables amortized). */
  bits: number;
  /**
   * The relative error t² it gives a layer (for HIGGS, the grid's Gaussian MSE); a layer may
   * override it with {@linkcode AllocationLayer.errors}.
   */
  error?: number;
}

/** One layer of the allocation problem. */
export interface AllocationLayer {
  /** Label, e.g. `"model.layers.3.mlp.down_proj"`. */
  name: string;
  /** Sensitivity α_l ≥ 0 (perplexity increase per unit t²). */
  alpha: number;
  /** Number of weights. */
  size: number;
  /** This layer's t² per option (same order as the options); default: each option's error. */
  errors?: number[];
  /**
   * This layer's cost in bits per weight per option (same order), e.g. with its own table and
   * padding amortized; default: each option's bits.
   */
  bits?: number[];
}

/** Options of {@linkcode allocateBits}. */
export interface AllocateOptions {
  /**
   * Budget steps of the dynamic program when the exact integer costs are too fine (more than
   * 4 × resolution units): costs are then rounded up to steps of budget/resolution, which wastes
   * less than layers/resolution of the budget. Default max(20,000, 200 × layers).
   */
  resolution?: number;
}

/** The chosen allocation. */
export interface Allocation {
  /** Index of the chosen option per layer. */
  choice: number[];
  /** Σ α_l·t²_{l,choice}: the predicted perplexity increase. */
  predictedIncrease: number;
  /** Σ size_l·b_choice / Σ size_l: the bits per weight it spends (≤ the budget). */
  bitsPerWeight: number;
  /** True when the costs were solved exactly (no rounding of costs). */
  exact: boolean;
}

function fail(msg: string): never {
  throw new QuantlabError("bad-argument", msg);
}

/** Per-layer error table, validated. */
function errorTable(layers: AllocationLayer[], options: AllocationOption[]): number[][] {
  if (options.length === 0) fail("Bit allocation needs at least one option");
  if (layers.length === 0) fail("Bit allocation needs at least one layer");
  for (const o of options) {
    if (!(Number.isFinite(o.bits) && o.bits > 0)) {
      fail(`Option "${o.name}" costs ${o.bits} bits per weight; use a finite number > 0`);
    }
  }
  return layers.map((l) => {
    if (!(Number.isFinite(l.alpha) && l.alpha >= 0)) {
      fail(`Layer "${l.name}" has sensitivity α = ${l.alpha}; use a finite number ≥ 0`);
    }
    if (!(Number.isSafeInteger(l.size) && l.size > 0)) {
      fail(`Layer "${l.name}" has ${l.size} weights; use an integer > 0`);
    }
    if (l.errors && l.errors.length !== options.length) {
      fail(`Layer "${l.name}" gives ${l.errors.length} errors for ${options.length} options`);
    }
    if (l.bits && l.bits.length !== options.length) {
      fail(`Layer "${l.name}" gives ${l.bits.length} costs for ${options.length} options`);
    }
    for (const b of l.bits ?? []) {
      if (!(Number.isFinite(b) && b > 0)) {
        fail(`Layer "${l.name}" costs ${b} bits per weight; use a finite number > 0`);
      }
    }
    return options.map((o, j) => {
      const e = l.errors ? l.errors[j]! : o.error;
      if (e === undefined || !(Number.isFinite(e) && e >= 0)) {
        fail(`Layer "${l.name}", option "${o.name}": error t² = ${e}; use a finite number ≥ 0`);
      }
      return e;
    });
  });
}

/** Bits as an exact fraction num/den (den a power of ten ≤ 10^6), or null. */
function fraction(bits: number): [number, number] | null {
  for (let den = 1; den <= 1e6; den *= 10) {
    const num = Math.round(bits * den);
    if (Math.abs(num / den - bits) <= 1e-12 * Math.max(1, bits)) return [num, den];
  }
  return null;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Integer costs size·bits in a common unit, when they are exact and small enough. */
function exactCosts(
  layers: AllocationLayer[],
  options: AllocationOption[],
  budgetBits: number,
  maxSteps: number,
): { costs: number[][]; budget: number } | null {
  const fr = layers.map((l) => options.map((o, j) => fraction(l.bits?.[j] ?? o.bits)));
  if (fr.flat().some((f) => f === null)) return null;
  const den = fr.flat().reduce((d, f) => Math.max(d, f![1]), 1);
  // Cost of (l, j) in 1/den bits: size_l · num_lj · (den / den_lj), all integers.
  const raw = layers.map((l, i) => fr[i]!.map((f) => l.size * f![0] * (den / f![1])));
  if (raw.flat().some((c) => !Number.isSafeInteger(c))) return null;
  const g = raw.flat().reduce((a, c) => gcd(a, c), 0);
  const budget = Math.floor((budgetBits * den) / g + 1e-9);
  if (budget > maxSteps) return null;
  return { costs: raw.map((r) => r.map((c) => c / g)), budget };
}

/**
 * Chooses one option per layer minimizing Σ α_l·t²_{l,j} with Σ size_l·b_j ≤
 * `budgetBitsPerWeight` · Σ size_l (see the module doc). Errors: `bad-argument` for invalid
 * inputs and for a budget below the cheapest choice, naming the values.
 *
 * @example Two layers, a 3- and a 4-bit option, 3.5 bits per weight on average
 * ```ts
 * import { allocateBits } from "./allocation.ts";
 * const a = allocateBits(
 *   [{ name: "a", alpha: 1, size: 100 }, { name: "b", alpha: 10, size: 100 }],
 *   [{ name: "3-bit", bits: 3, error: 0.03 }, { name: "4-bit", bits: 4, error: 0.008 }],
 *   3.5,
 * );
 * // The sensitive layer gets 4 bits.
 * if (a.choice.join() !== "0,1" || a.bitsPerWeight !== 3.5) throw new Error(a.choice.join());
 * ```
 */
export function allocateBits(
  layers: AllocationLayer[],
  options: AllocationOption[],
  budgetBitsPerWeight: number,
  opts: AllocateOptions = {},
): Allocation {
  const err = errorTable(layers, options);
  const resolution = opts.resolution ?? Math.max(20_000, 200 * layers.length);
  if (!(Number.isSafeInteger(resolution) && resolution >= 1)) {
    fail(`Allocation resolution ${resolution} is not valid; use an integer ≥ 1`);
  }
  if (!Number.isFinite(budgetBitsPerWeight)) {
    fail(`Bit budget ${budgetBitsPerWeight} is not a finite number`);
  }
  const total = layers.reduce((s, l) => s + l.size, 0);
  const budgetBits = budgetBitsPerWeight * total;
  const cost = (l: number, j: number): number => layers[l]!.bits?.[j] ?? options[j]!.bits;
  const cheapest = layers.reduce(
    (s, lay, l) => s + lay.size * Math.min(...options.map((_, j) => cost(l, j))),
    0,
  );
  // Shown rounded up, so "use at least" is always enough.
  const minBits = Math.ceil((cheapest / total) * 1e4 - 1e-6) / 1e4;
  if (budgetBits < cheapest * (1 - 1e-12)) {
    fail(
      `Bit budget ${budgetBitsPerWeight} per weight is below the cheapest option ` +
        `(${minBits} bits per weight); use at least ${minBits}`,
    );
  }
  const exact = exactCosts(layers, options, budgetBits, 4 * resolution);
  let costs: number[][];
  let B: number;
  if (exact) {
    costs = exact.costs;
    B = exact.budget;
  } else {
    // Steps of budgetBits/resolution, every cost rounded up: whatever fits here fits for real.
    const step = budgetBits / resolution;
    costs = layers.map((lay, l) =>
      options.map((_, j) => Math.ceil((lay.size * cost(l, j)) / step - 1e-9))
    );
    B = resolution;
  }

  // dp[c] = least Σ α·t² of the layers so far at total cost exactly c (Infinity: unreachable).
  const L = layers.length;
  const J = options.length;
  let dp = new Float64Array(B + 1).fill(Infinity);
  dp[0] = 0;
  const pick = Array.from({ length: L }, () => new Int32Array(B + 1).fill(-1));
  for (let l = 0; l < L; l++) {
    const next = new Float64Array(B + 1).fill(Infinity);
    const a = layers[l]!.alpha;
    for (let j = 0; j < J; j++) {
      const c = costs[l]![j]!;
      const e = a * err[l]![j]!;
      for (let b = c; b <= B; b++) {
        const v = dp[b - c]! + e;
        // Ties keep the lower option index; across totals the cheapest best total wins below.
        if (v < next[b]!) {
          next[b] = v;
          pick[l]![b] = j;
        }
      }
    }
    dp = next;
  }
  let best = -1;
  for (let b = 0; b <= B; b++) if (dp[b]! < Infinity && (best < 0 || dp[b]! < dp[best]!)) best = b;
  if (best < 0) {
    fail(
      `Bit budget ${budgetBitsPerWeight} per weight fits no choice at resolution ${resolution}; ` +
        `raise the budget or the resolution`,
    );
  }
  const choice = new Array<number>(L);
  for (let l = L - 1, b = best; l >= 0; l--) {
    const j = pick[l]![b]!;
    choice[l] = j;
    b -= costs[l]![j]!;
  }
  const predictedIncrease = choice.reduce((s, j, l) => s + layers[l]!.alpha * err[l]![j]!, 0);
  const bits = choice.reduce((s, j, l) => s + layers[l]!.size * cost(l, j), 0);
  return { choice, predictedIncrease, bitsPerWeight: bits / total, exact: exact !== null };
}

/**
 * The continuous relaxation for errors t² = c·4^−b (each bit quarters the error): minimizing
 * Σ α_l·c·4^(−b_l) with Σ size_l·b_l = budget·Σ size_l gives b_l = budget + ½·log₂(α_l) − the
 * size-weighted mean of ½·log₂(α). Layers with α = 0 are refused (they would take −∞ bits).
 *
 * @example
 * ```ts
 * import { continuousAllocation } from "./allocation.ts";
 * const b = continuousAllocation([{ name: "a", alpha: 1, size: 1 }, { name: "b", alpha: 16, size: 1 }], 3);
 * if (b.join() !== "2,4") throw new Error(b.join());
 * ```
 */
export function continuousAllocation(
  layers: AllocationLayer[],
  budgetBitsPerWeight: number,
): number[] {
  if (layers.length === 0) fail("Bit allocation needs at least one layer");
  for (const l of layers) {
    if (!(Number.isFinite(l.alpha) && l.alpha > 0)) {
      fail(`Layer "${l.name}" has sensitivity α = ${l.alpha}; the relaxation needs α > 0`);
    }
    if (!(Number.isSafeInteger(l.size) && l.size > 0)) {
      fail(`Layer "${l.name}" has ${l.size} weights; use an integer > 0`);
    }
  }
  const total = layers.reduce((s, l) => s + l.size, 0);
  const mean = layers.reduce((s, l) => s + l.size * 0.5 * Math.log2(l.alpha), 0) / total;
  return layers.map((l) => budgetBitsPerWeight + 0.5 * Math.log2(l.alpha) - mean);
}
