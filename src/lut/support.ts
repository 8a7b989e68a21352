// This module is browser compatible.
/**
 * What the lookup-table kernels cover, and the argument checks both backends share, so CPU and
 * WebGPU reject the same inputs with the same messages.
 *
 * Covered: every valid {@linkcode QuantizedTensor} with p ∈ {1, 2} (scalar codes and the joint
 * pair codes of HIGGS), code widths 1–16 bits, any group size (per channel included), groups along
 * either axis, with or without zeros, no rotation or a (randomized) Hadamard rotation.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type QuantizedTensor, validateQuantized } from "../quant/format.ts";

/** Joint-code dimensions the LUT kernels handle. */
export const LUT_SUPPORTED_P: readonly number[] = [1, 2];

/**
 * Throws a QuantlabError unless the LUT kernels cover `q`: a `bad-file` error for an inconsistent
 * tensor (from `validateQuantized`), `unsupported` for a valid format outside the kernels' reach.
 *
 * @example
 * ```ts
 * import { checkLutSupport } from "./support.ts";
 * import { packCodes } from "../quant/packing.ts";
 * checkLutSupport({
 *   method: "rtn", shape: [1, 4], paddedCols: 4, p: 1, codeBits: 2,
 *   codes: packCodes([0, 1, 2, 3], 1, 4, 2), table: new Float32Array([0, 1, 2, 3]),
 *   tableDtype: "F32", groupSize: 4, groupAxis: 1, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float", dtype: "F32" }, rotation: { kind: "none" }, params: {},
 * }); // an RTN tensor the LUT kernels run: returns
 * ```
 */
export function checkLutSupport(q: QuantizedTensor, name = "tensor"): void {
  validateQuantized(q, name);
  if (!LUT_SUPPORTED_P.includes(q.p)) {
    throw new QuantlabError(
      "unsupported",
      `LUT matmul of "${name}": joint codes of p = ${q.p} weights are not covered; ` +
        `the kernels handle p = ${LUT_SUPPORTED_P.join(" or ")}`,
    );
  }
  const kind = (q.rotation as { kind: string }).kind;
  if (kind !== "none" && kind !== "hadamard") {
    throw new QuantlabError(
      "unsupported",
      `LUT matmul of "${name}": rotation "${kind}" is not covered; use "none" or "hadamard"`,
    );
  }
}

/**
 * Checks a product's batch and buffer sizes against a layer `[outF, inF]`; throws `bad-argument`
 * for a batch that is not a positive integer and `bad-shape` for a wrong length, naming the values.
 *
 * @example
 * ```ts
 * import { checkLutCall } from "./support.ts";
 * checkLutCall(new Float32Array(6), 2, 3, 5); // x holds batch · inF values: returns
 * let threw = false;
 * try {
 *   checkLutCall(new Float32Array(5), 2, 3, 5);
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("a short x was accepted");
 * ```
 */
export function checkLutCall(
  x: ArrayLike<number>,
  batch: number,
  inF: number,
  outF: number,
  out?: ArrayLike<number>,
): void {
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new QuantlabError(
      "bad-argument",
      `LUT matmul batch ${batch} is not valid; use an integer ≥ 1`,
    );
  }
  if (x.length !== batch * inF) {
    throw new QuantlabError(
      "bad-shape",
      `LUT matmul input holds ${x.length} values; batch ${batch} × ${inF} input features ` +
        `needs ${batch * inF}`,
    );
  }
  if (out && out.length !== batch * outF) {
    throw new QuantlabError(
      "bad-shape",
      `LUT matmul output holds ${out.length} values; batch ${batch} × ${outF} output features ` +
        `needs ${batch * outF}`,
    );
  }
}
