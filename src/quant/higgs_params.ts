// This module is browser compatible.
/**
 * The parameters of HIGGS (`higgs.ts`): bits, grid dimension and size, Hadamard block, group,
 * seed, storage precisions and scale rule, resolved from the quantizer options with their defaults
 * and checks, and the sizes they imply (padded columns, stored bits per weight).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { QuantOptions } from "./quantizer.ts";

/** Resolved HIGGS parameters (what a checkpoint records). */
export interface HiggsParams {
  /** Grid dimension: weights per code. */
  p: number;
  /** Grid size n (number of points). */
  gridSize: number;
  /** Bits per code word: ⌈log2 n⌉. */
  codeBits: number;
  /** Bits per coordinate log2(n)/p (e.g. 4 for (2,256), 2.5 for (2,32)). */
  bits: number;
  /** Hadamard block size h (power of two, 64–4096); 0 = no rotation. */
  hadamard: number;
  /** Weights per scale (divides h). */
  groupSize: number;
  /** Random-sign seed (u32), or null for the plain Hadamard. */
  seed: number | null;
  /** Stored precision of the scales. */
  scaleDtype: "F16" | "F32";
  /** Stored precision of the grid table (the search uses the rounded grid). */
  tableDtype: "F16" | "F32";
  /**
   * How each group's scale is set: `"rms"` (the group's RMS, the paper's and HF's rule) or
   * `"unbiased"` (‖x‖²/⟨x, d⟩, so the error has no component along the weights; see
   * `higgs_unbiased.ts`).
   */
  scaleRule: "rms" | "unbiased";
}

/** Valid Hadamard sizes. */
export const HIGGS_HADAMARD_SIZES: readonly number[] = [64, 128, 256, 512, 1024, 2048, 4096];

/** The largest block `--hadamard auto` picks unless told otherwise. */
export const HIGGS_AUTO_HADAMARD_MAX = 1024;

/**
 * The Hadamard block `auto` picks for an input width: the largest valid size ≤ `max` that divides
 * `cols` (so nothing is padded), or the smallest valid size (64, the least padding) when none
 * divides it.
 *
 * @example
 * ```ts
 * import { autoHadamardSize } from "./higgs_params.ts";
 * const sizes = [896, 4864, 2304, 3584, 4096].map((c) => autoHadamardSize(c));
 * if (sizes.join() !== "128,256,256,512,1024") throw new Error(sizes.join());
 * if (autoHadamardSize(4096, 512) !== 512 || autoHadamardSize(100) !== 64) throw new Error();
 * ```
 */
export function autoHadamardSize(cols: number, max: number = HIGGS_AUTO_HADAMARD_MAX): number {
  let best = 0;
  for (const h of HIGGS_HADAMARD_SIZES) if (h <= max && cols % h === 0) best = h;
  return best || HIGGS_HADAMARD_SIZES[0]!;
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y) [x, y] = [y, x % y];
  return (a / x) * b;
}

/**
 * Resolves and validates HIGGS options. Defaults: p = 2, bits = 4 (n = 2^(p·bits)), h = auto
 * (for an input width `cols`, {@linkcode autoHadamardSize}; without `cols`, the maximum 1024),
 * g = h (lcm(h, p) when p does not divide h), seed = null (plain Hadamard), f16 scales, f16 table,
 * RMS scales. `opts.extra.scaleRule` may be "unbiased" (see `higgs_unbiased.ts`); `opts.extra.tableDtype` may be
 * "F32"; `opts.hadamard = 0` disables the rotation. Only `axis: 1` is valid (the rotation runs
 * along the input dimension).
 *
 * @example
 * ```ts
 * import { resolveHiggsParams } from "./higgs_params.ts";
 * const p = resolveHiggsParams({ bits: 4, p: 2 });
 * if (p.gridSize !== 256 || p.codeBits !== 8 || p.groupSize !== 1024) throw new Error();
 * ```
 */
export function resolveHiggsParams(
  opts: QuantOptions,
  name = "tensor",
  cols?: number,
): HiggsParams {
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-argument", `Cannot quantize "${name}" with HIGGS: ${msg}`);
  };
  const p = opts.p ?? 2;
  if (!Number.isInteger(p) || p < 1 || p > 16) bad(`p = ${p} is not valid; use an integer 1 to 16`);
  let n: number;
  if (opts.gridSize !== undefined) {
    n = opts.gridSize;
    if (!Number.isInteger(n) || n < 2 || n > 65536) {
      bad(`grid size ${n} is not valid; use an integer from 2 to 65536`);
    }
  } else {
    const bits = opts.bits ?? 4;
    const total = p * bits;
    n = 2 ** total;
    if (!(bits > 0) || !Number.isInteger(n) || n < 2 || n > 65536) {
      bad(
        `bits = ${bits} with p = ${p} gives a grid of 2^${total} points; use bits with p·bits an ` +
          `integer from 1 to 16, or give the grid size n`,
      );
    }
  }
  const codeBits = Math.ceil(Math.log2(n) - 1e-12);
  const max = opts.hadamardMax ?? HIGGS_AUTO_HADAMARD_MAX;
  if (!HIGGS_HADAMARD_SIZES.includes(max)) {
    bad(`Hadamard maximum ${max} is not valid; use one of ${HIGGS_HADAMARD_SIZES.join(", ")}`);
  }
  const h = opts.hadamard ?? (cols === undefined ? max : autoHadamardSize(cols, max));
  if (h !== 0 && !HIGGS_HADAMARD_SIZES.includes(h)) {
    bad(
      `Hadamard size ${h} is not valid; use one of ${
        HIGGS_HADAMARD_SIZES.join(", ")
      } (or 0 for none)`,
    );
  }
  // Groups hold whole p-tuples (g % p = 0) and nest with the rotation blocks (g | h or h | g), so
  // a padded row is a whole number of both. When p does not divide h (p = 3, 5, …) the default
  // group spans p blocks: g = lcm(h, p) = p·h for odd p.
  const gOpt = opts.groupSize ?? null;
  const gDefault = lcm(h || 1024, p);
  const g = gOpt === null ? gDefault : gOpt;
  if (!Number.isInteger(g) || g < 1) bad(`group size ${g} is not valid; use a positive integer`);
  if (g % p !== 0) bad(`group size ${g} is not a multiple of p = ${p}`);
  if (h !== 0 && h % g !== 0 && g % h !== 0) {
    bad(
      `group size ${g} neither divides nor is a multiple of the Hadamard size ${h}; use a ` +
        `divisor of ${h} (${
          h % p === 0 ? `e.g. ${h}, ${h / 2}` : `a multiple of p = ${p}`
        }) or a multiple of ${h}`,
    );
  }
  if ((opts.axis ?? 1) !== 1) {
    // An option the caller chose: fixed by changing it (exit 2), not a limit of the input.
    throw new QuantlabError(
      "bad-argument",
      `Cannot quantize "${name}" with HIGGS along axis ${opts.axis}: the rotation and groups run ` +
        `along the input dimension (axis 1)`,
    );
  }
  const seed = opts.seed ?? null;
  if (seed !== null && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    bad(`seed ${seed} is not valid; use an integer from 0 to 4294967295`);
  }
  const scaleDtype = opts.scaleDtype ?? "F16";
  if (scaleDtype !== "F16" && scaleDtype !== "F32") {
    bad(`scale dtype ${scaleDtype} is not valid; use F16 or F32`);
  }
  for (const k of Object.keys(opts.extra ?? {})) {
    if (k !== "tableDtype" && k !== "scaleRule") {
      bad(`option "${k}" is not a HIGGS option; HIGGS takes tableDtype and scaleRule`);
    }
  }
  const scaleRule = opts.extra?.scaleRule ?? "rms";
  if (scaleRule !== "rms" && scaleRule !== "unbiased") {
    bad(`scale rule ${scaleRule} is not valid; use rms or unbiased`);
  }
  const tableDtype = opts.extra?.tableDtype ?? "F16";
  if (tableDtype !== "F16" && tableDtype !== "F32") {
    bad(`table dtype ${tableDtype} is not valid; use F16 or F32`);
  }
  return {
    p,
    gridSize: n,
    codeBits,
    bits: Math.log2(n) / p,
    hadamard: h,
    groupSize: g,
    seed,
    scaleDtype,
    tableDtype: tableDtype as "F16" | "F32",
    scaleRule: scaleRule as "rms" | "unbiased",
  };
}

/**
 * Columns after padding: a multiple of max(h, g).
 *
 * @example
 * ```ts
 * import { higgsPaddedCols, resolveHiggsParams } from "./higgs_params.ts";
 * if (higgsPaddedCols(1000, resolveHiggsParams({ hadamard: 256 })) !== 1024) throw new Error();
 * ```
 */
export function higgsPaddedCols(cols: number, params: HiggsParams): number {
  const unit = Math.max(params.hadamard, params.groupSize);
  return Math.ceil(cols / unit) * unit;
}

/**
 * Bits per weight a HIGGS tensor of shape [rows, cols] stores with `opts`, counted exactly as
 * `bitsPerWeight` of `format.ts` counts the quantized tensor (and `quantlab error` prints it):
 * codes and scales of the padded row, the table amortized over the tensor. The Hadamard block
 * and group follow {@linkcode resolveHiggsParams} with this width (so `auto` is per tensor).
 *
 * @example
 * ```ts
 * import { higgsStoredBits } from "./higgs_params.ts";
 * // 4-bit codes + one f16 scale per 128 columns + a 256 × 2 f16 table over 256·896 weights.
 * const b = higgsStoredBits(256, 896, { p: 2, bits: 4 });
 * if (b !== 4 + 16 / 128 + (512 * 16) / (256 * 896)) throw new Error(String(b));
 * ```
 */
export function higgsStoredBits(rows: number, cols: number, opts: QuantOptions): number {
  const params = resolveHiggsParams(opts, "tensor", cols);
  const padded = higgsPaddedCols(cols, params);
  const codes = rows * (padded / params.p) * params.codeBits;
  const scales = rows * (padded / params.groupSize) * (params.scaleDtype === "F32" ? 32 : 16);
  const table = 2 ** params.codeBits * params.p * (params.tableDtype === "F32" ? 32 : 16);
  return (codes + scales + table) / (rows * cols);
}
