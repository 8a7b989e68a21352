// This module is browser compatible.
/**
 * The configuration of HQQ (`hqq.ts`): the library's `BaseQuantizeConfig` and optimizer parameters
 * with their defaults and checks, the levels a bit width gives, the optimizer's per-step shrink
 * schedule and the trace it reports.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { stripUndefined } from "./rtn.ts";

/** Valid HQQ bit widths (the library's SUPPORTED_BITS plus 7; 1.58 = ternary, levels 0, 1, 2). */
export const HQQ_BITS: readonly number[] = [1, 1.58, 2, 3, 4, 5, 6, 7, 8];

/** HQQ configuration (the library's `BaseQuantizeConfig` plus its optimizer parameters). */
export interface HqqConfig {
  /** Bits: 1–8 or 1.58. */
  nbits: number;
  /** Weights per group; null = per channel (one group per row for axis 1, per column for axis 0). */
  groupSize: number | null;
  /** 1: groups along the input dimension (library default); 0: along the output dimension. */
  axis: 0 | 1;
  /** Run the proximal optimizer (else plain min–max). */
  optimize: boolean;
  /** Round the initial zero to an integer (library default: on for 4 bits). */
  roundZero: boolean;
  /** p of the lp "norm" (0 < p ≤ 1). */
  lpNorm: number;
  /** β of the shrinkage (> 0). */
  beta: number;
  /** β ← β·κ after each step (κ ≥ 1; 1 = the library's loop since May 2025). */
  kappa: number;
  /** Maximum optimizer steps. */
  iters: number;
  /** Stop as soon as the whole-tensor error fails to decrease. */
  earlyStop: boolean;
  /** 8-bit meta-quantization of the zeros (per tensor, or group 128 with offloadMeta). */
  quantZero: boolean;
  /** 8-bit meta-quantization of the scales (group 128). */
  quantScale: boolean;
  /** The library's offload_meta: zeros meta-quantized in groups of 128 like the scales. */
  offloadMeta: boolean;
  /** Stored precision of scale and zero (and of the meta parameters). */
  scaleDtype: "F16" | "F32";
}

/** What the optimizer did. */
export interface HqqTrace {
  /** mean|W − W_r| (f32) of each executed step. */
  errors: number[];
  /** Steps executed (zero updates). */
  steps: number;
  /** True when the early-stop rule ended the loop. */
  stoppedEarly: boolean;
}

/**
 * A full HQQ configuration from partial options, validated (defaults: 4 bits, group 64, axis 1,
 * optimizer on with p = 0.7, β = 10, κ = 1.01, 20 steps, early stop; `roundZero` = (nbits = 4);
 * no meta-quantization; f16 scale and zero).
 *
 * @example
 * ```ts
 * import { hqqConfig } from "./hqq_config.ts";
 * const c = hqqConfig({ nbits: 3 });
 * if (c.roundZero || c.groupSize !== 64 || c.iters !== 20) throw new Error();
 * ```
 */
export function hqqConfig(opts: Partial<HqqConfig> = {}): HqqConfig {
  const o = stripUndefined(opts);
  const nbits = o.nbits ?? 4;
  const c: HqqConfig = {
    nbits,
    groupSize: 64,
    axis: 1,
    optimize: true,
    roundZero: nbits === 4,
    lpNorm: 0.7,
    beta: 10,
    kappa: 1.01,
    iters: 20,
    earlyStop: true,
    quantZero: false,
    quantScale: false,
    offloadMeta: false,
    scaleDtype: "F16",
    ...o,
  };
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-argument", msg);
  };
  if (!HQQ_BITS.includes(c.nbits)) {
    bad(`HQQ bits ${c.nbits} is not valid; use ${HQQ_BITS.join(", ")}`);
  }
  if (c.groupSize !== null && (!Number.isInteger(c.groupSize) || c.groupSize < 1)) {
    bad(`HQQ group size ${c.groupSize} is not valid; use a positive integer or null (per channel)`);
  }
  if (c.axis !== 0 && c.axis !== 1) bad(`HQQ axis ${c.axis} is not valid; use 0 or 1`);
  if (!(c.lpNorm > 0 && c.lpNorm <= 1)) bad(`HQQ lpNorm ${c.lpNorm} is not valid; use 0 < p ≤ 1`);
  if (!(c.beta > 0 && Number.isFinite(c.beta))) bad(`HQQ beta ${c.beta} is not valid; use β > 0`);
  if (!(c.kappa >= 1 && Number.isFinite(c.kappa))) {
    bad(`HQQ kappa ${c.kappa} is not valid; use κ ≥ 1 (1 keeps β fixed)`);
  }
  if (!Number.isInteger(c.iters) || c.iters < 1) {
    bad(`HQQ iters ${c.iters} is not valid; use an integer ≥ 1`);
  }
  if (c.scaleDtype !== "F16" && c.scaleDtype !== "F32") {
    bad(`Scale dtype ${c.scaleDtype} is not valid; use F16 or F32`);
  }
  return c;
}

/** 2^nbits − 1 rounded (1.58 bits → 2) and the code width that holds it. */
export function hqqLevels(nbits: number): { maxV: number; codeBits: number } {
  const maxV = Math.round(2 ** nbits - 1);
  return { maxV, codeBits: Math.max(1, Math.ceil(Math.log2(maxV + 1))) };
}

/** Per-step shrink parameters: f32(1/β_i) and a threshold below which the shrink is exactly 0. */
export function hqqSchedule(c: HqqConfig): { invBeta: number[]; thr: number[] } {
  const invBeta: number[] = [];
  const thr: number[] = [];
  let beta = c.beta;
  for (let i = 0; i < c.iters; i++) {
    invBeta.push(Math.fround(1 / beta));
    // |x| − |x|^(p−1)/β > 0 ⟺ |x| > β^(−1/(2−p)); the margin covers f32 rounding.
    thr.push(beta ** (-1 / (2 - c.lpNorm)) * (1 - 1e-4));
    beta *= c.kappa;
  }
  return { invBeta, thr };
}
