/**
 * The `--hadamard` flag of `quantize` and `allocate`: `auto` (the default: per tensor, the
 * largest power of two ≤ 1024 dividing the input width), `max=N` (auto with a smaller or larger
 * ceiling), a fixed size (64 … 4096; a width it does not divide is zero-padded) or 0 (no
 * rotation). Both commands parse it here, so `allocate` refuses what `quantize` would refuse.
 *
 * @module
 */
import { UsageError } from "./command.ts";
import { HIGGS_HADAMARD_SIZES } from "../quant/higgs_params.ts";

/** The Hadamard part of `QuantOptions`: both unset means auto with the default maximum. */
export interface HadamardChoice {
  /** A fixed block size, or 0 for none; unset for auto. */
  hadamard?: number;
  /** With auto: the largest block it may pick. */
  hadamardMax?: number;
}

/**
 * Parses a `--hadamard` value (undefined: auto).
 *
 * @example
 * ```ts
 * import { parseHadamardFlag } from "./hadamard_flag.ts";
 * if (parseHadamardFlag("auto").hadamard !== undefined) throw new Error();
 * if (parseHadamardFlag("max=512").hadamardMax !== 512) throw new Error();
 * if (parseHadamardFlag("256").hadamard !== 256) throw new Error();
 * let refused = false;
 * try { parseHadamardFlag("300"); } catch { refused = true; }
 * if (!refused) throw new Error();
 * ```
 */
export function parseHadamardFlag(value: string | undefined): HadamardChoice {
  if (value === undefined || value === "auto") return {};
  const sizes = HIGGS_HADAMARD_SIZES.join(", ");
  const max = /^max=(\d+)$/.exec(value);
  if (max) {
    const n = Number(max[1]);
    if (!HIGGS_HADAMARD_SIZES.includes(n)) {
      throw new UsageError(`--hadamard ${value} is not valid; the maximum must be one of ${sizes}`);
    }
    return { hadamardMax: n };
  }
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (n !== 0 && !HIGGS_HADAMARD_SIZES.includes(n)) {
    throw new UsageError(
      `--hadamard ${value} is not valid; use auto, max=N, one of ${sizes}, or 0 for none`,
    );
  }
  return { hadamard: n };
}

/**
 * The flag's text for a choice (the inverse of {@linkcode parseHadamardFlag}).
 *
 * @example
 * ```ts
 * import { hadamardFlagText } from "./hadamard_flag.ts";
 * if (hadamardFlagText({ hadamardMax: 512 }) !== "max=512") throw new Error();
 * ```
 */
export function hadamardFlagText(c: HadamardChoice): string {
  if (c.hadamard !== undefined) return String(c.hadamard);
  return c.hadamardMax !== undefined ? `max=${c.hadamardMax}` : "auto";
}

/** The flag's help line. */
export const HADAMARD_HELP =
  "Hadamard block: auto = per tensor the largest power of two ≤ 1024 dividing the width " +
  "(the default), max=N = auto up to N, a size 64–4096 (zero-pads widths it does not divide), " +
  "or 0 = no rotation";
