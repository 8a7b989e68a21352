// This module is browser compatible.
/**
 * The quantization methods by name, for `quantlab quantize --method …`, checkpoints and the
 * experiments. Adding a method takes one line here; the other files to touch are listed in
 * `docs/architecture.md` ("Checklist: add a quantization method").
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { QUANT_METHODS, type QuantMethod } from "./format.ts";
import type { Quantizer } from "./quantizer.ts";
import { higgsQuantizer } from "./higgs.ts";
import { hqqQuantizer } from "./hqq.ts";
import { af4Quantizer, fp4Quantizer, nf4Quantizer } from "./normal_float.ts";
import { rtnQuantizer } from "./rtn.ts";

/** Every quantizer, by method name. */
export const QUANTIZERS: Readonly<Record<QuantMethod, Quantizer>> = {
  higgs: higgsQuantizer,
  hqq: hqqQuantizer,
  nf4: nf4Quantizer,
  af4: af4Quantizer,
  fp4: fp4Quantizer,
  rtn: rtnQuantizer,
};

/**
 * Names of the methods this build can run, in `QUANT_METHODS` order.
 *
 * @example
 * ```ts
 * import { availableMethods } from "./registry.ts";
 * if (!availableMethods().includes("higgs")) throw new Error();
 * ```
 */
export function availableMethods(): QuantMethod[] {
  return QUANT_METHODS.filter((m) => QUANTIZERS[m] !== undefined);
}

/**
 * The quantizer of `method`, or a `bad-argument` error listing the valid methods.
 *
 * @example
 * ```ts
 * import { getQuantizer } from "./registry.ts";
 * if (getQuantizer("higgs").method !== "higgs") throw new Error();
 * ```
 */
export function getQuantizer(method: string): Quantizer {
  const q = (QUANTIZERS as Record<string, Quantizer | undefined>)[method];
  if (!Object.hasOwn(QUANTIZERS, method) || !q) {
    throw new QuantlabError(
      "bad-argument",
      `Quantization method "${method}" is not valid; use one of ${availableMethods().join(", ")}`,
    );
  }
  return q;
}
