// This module is browser compatible.
/**
 * What the linearity check ({@linkcode checkLinearity} in `linearity_check.ts`) quantizes: the
 * HIGGS grids on offer ({@linkcode higgsGridOptions}) and whole-model assignments of them
 * ({@linkcode linearityConfigs}) — every grid everywhere ("uniform"), random mixes (each draws a
 * range of adjacent grids, then a grid in that range per projection, so the mixes spread over the
 * whole bits range), and the optimal allocation at given budgets ("optimal", by
 * {@linkcode allocateBits}) — plus other methods applied everywhere ({@linkcode BaselineMethod}).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { hash32, randU32 } from "../core/prng.ts";
import { loadGrid } from "../grids/load.ts";
import { linearName } from "../model/types.ts";
import { unbiasedMse } from "../quant/higgs_unbiased.ts";
import type { QuantMethod } from "../quant/format.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import { allocateBits, type AllocationOption } from "./allocation.ts";
import type { ProjectionRef } from "./linearity.ts";

/** A HIGGS grid open to every projection, with its allocation cost and Gaussian MSE. */
export interface GridOption extends AllocationOption {
  /** Vector dimension. */
  p: number;
  /** Grid size. */
  n: number;
  /** The grid's per-coordinate MSE on N(0, 1) data. */
  error: number;
  /**
   * Bits of the grid's lookup table (n · p f16 values), stored once per tensor: an allocation
   * amortizes it over each projection's size, as `quantlab allocate` and the checkpoint do (a
   * (2,4096) table adds 2 bits per weight to a 256 × 256 projection). Absent: `bits` is all.
   */
  tableBits?: number;
}

/**
 * The HIGGS grids `(p, n)` as allocation options: cost log₂n/p bits for the codes plus one f16
 * scale per Hadamard block of `hadamard` columns, and the table (`tableBits`, amortized per
 * projection); error the grid's Gaussian MSE t², or t²/(1 − t²) for the unbiased scale rule
 * (`src/quant/higgs_unbiased.ts`).
 *
 * @example
 * ```ts
 * import { higgsGridOptions } from "./linearity_configs.ts";
 * const [o] = await higgsGridOptions([[2, 256]], 1024);
 * if (o!.bits !== 4 + 16 / 1024 || Math.abs(o!.error / 0.007752 - 1) > 0.005) throw new Error();
 * ```
 */
export async function higgsGridOptions(
  grids: readonly (readonly [number, number])[],
  hadamard: number,
  scaleRule: ScaleRule = "rms",
): Promise<GridOption[]> {
  const out: GridOption[] = [];
  for (const [p, n] of grids) {
    const g = await loadGrid(p, n);
    const unbiased = scaleRule === "unbiased";
    out.push({
      name: `higgs (${p},${n})${unbiased ? " unbiased" : ""}`,
      p,
      n,
      bits: Math.log2(n) / p + 16 / hadamard,
      error: unbiased ? unbiasedMse(g.mse) : g.mse,
      tableBits: n * p * 16,
    });
  }
  return out;
}

/** How HIGGS sets its scales (see `HiggsParams.scaleRule`). */
export type ScaleRule = "rms" | "unbiased";

/** A projection with its measured sensitivity. */
export interface SensitiveProjection extends ProjectionRef {
  /** α: the metric's change per unit t². */
  alpha: number;
  /** Number of weights. */
  size: number;
}

/**
 * Where an assignment comes from: a HIGGS grid everywhere, a random mix, an optimal allocation, or
 * another method everywhere (a baseline: the check of α·t² across quantizers).
 */
export type AssignmentFamily = "uniform" | "random" | "optimal" | "baseline" | "single";

/** A choice that leaves its projection dense (unquantized), in {@linkcode GridAssignment.choice}. */
export const DENSE: number = -1;

/** Another quantization method applied to every projection. */
export interface BaselineMethod {
  /** Label, e.g. `"hqq int3 g64 axis 0"`. */
  label: string;
  /** Method name in the registry. */
  method: QuantMethod;
  /** Its options. */
  options: QuantOptions;
}

/** One whole-model assignment of grids to projections. */
export interface GridAssignment {
  /** Unique label (the resume key), e.g. `uniform higgs (2,64)`, `random 3`, `optimal 3.25`. */
  label: string;
  /** Where it comes from. */
  family: AssignmentFamily;
  /** The budget in bits per weight (family "optimal"), else null. */
  budget: number | null;
  /** The option index per projection (in the projections' order), or {@linkcode DENSE}. */
  choice: number[];
}

/** Options of {@linkcode linearityConfigs}. */
export interface ConfigOptions {
  /** Number of random mixes (default 8). */
  mixes?: number;
  /** Budgets (bits per weight) for optimal allocations (default none). */
  budgets?: number[];
  /** Seed of the mixes (default 0). */
  seed?: number;
  /**
   * Also one assignment per projection with only it quantized, by this option index (family
   * "single"): the per-projection test of α·t² (default none).
   */
  single?: number;
}

/**
 * The assignments to check (see the module doc): uniform, random mixes, optimal allocations.
 * Errors: `bad-argument` when a budget is below the cheapest grid.
 *
 * @example
 * ```ts
 * import { linearityConfigs } from "./linearity_configs.ts";
 * const options = [
 *   { name: "a", p: 2, n: 16, bits: 2, error: 0.1 },
 *   { name: "b", p: 2, n: 256, bits: 4, error: 0.008 },
 * ];
 * const projections = [{ layer: 0, kind: "q_proj" as const, alpha: 1, size: 100 }];
 * const c = linearityConfigs(projections, options, { mixes: 2, budgets: [4] });
 * if (c.length !== 5 || c[4]!.choice[0] !== 1) throw new Error();
 * ```
 */
export function linearityConfigs(
  projections: readonly SensitiveProjection[],
  options: readonly GridOption[],
  opts: ConfigOptions = {},
): GridAssignment[] {
  const mixes = opts.mixes ?? 8, seed = opts.seed ?? 0, J = options.length;
  if (!Number.isInteger(mixes) || mixes < 0) {
    throw new QuantlabError("bad-argument", `Mixes = ${mixes} is not an integer ≥ 0`);
  }
  if (!J) throw new QuantlabError("bad-argument", "No grids to assign");
  const out: GridAssignment[] = options.map((o, j) => ({
    label: `uniform ${o.name}`,
    family: "uniform",
    budget: null,
    choice: projections.map(() => j),
  }));
  // Options ordered by cost, so a "range of adjacent grids" is a range of bitwidths.
  const byBits = options.map((_, j) => j).sort((a, b) => options[a]!.bits - options[b]!.bits);
  for (let k = 0; k < mixes; k++) {
    const r = (i: number) => randU32(seed, hash32((k * 0x10000 + i) >>> 0));
    // At least two grids per mix (when there are two): one grid everywhere is a uniform row.
    const lo = J > 1 ? r(0xffff) % (J - 1) : 0;
    const span = J > 1 ? 2 + (r(0xfffe) % (J - 1 - lo)) : 1;
    out.push({
      label: `random ${k}`,
      family: "random",
      budget: null,
      choice: projections.map((_, i) => byBits[lo + (r(i) % span)]!),
    });
  }
  // Each projection pays its own share of the tables, so an optimal row spends at most its budget
  // by the bits the quantized tensors store (what the rows' bitsPerWeight reports).
  const tables = options.some((o) => o.tableBits);
  const layers = projections.map((p) => ({
    name: linearName(p.layer, p.kind),
    alpha: Math.max(0, p.alpha),
    size: p.size,
    ...(tables ? { bits: options.map((o) => o.bits + (o.tableBits ?? 0) / p.size) } : {}),
  }));
  if (opts.single !== undefined) {
    const j = opts.single;
    if (!options[j]) {
      throw new QuantlabError(
        "bad-argument",
        `Single-projection grid index ${j} is not one of the ${J} grids`,
      );
    }
    projections.forEach((p, i) =>
      out.push({
        label: `single ${linearName(p.layer, p.kind)} ${options[j]!.name}`,
        family: "single",
        budget: null,
        choice: projections.map((_, k) => (k === i ? j : DENSE)),
      })
    );
  }
  for (const budget of opts.budgets ?? []) {
    out.push({
      label: `optimal ${budget}`,
      family: "optimal",
      budget,
      choice: allocateBits(layers, [...options], budget).choice,
    });
  }
  return out;
}
