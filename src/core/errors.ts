// This module is browser compatible.
/**
 * One error family for the whole library. Every failure the user can cause (a bad argument,
 * a malformed file, an unsupported shape) is a {@linkcode QuantlabError} with a stable `code`
 * and a sentence-case message that names the offending value and what would be valid.
 *
 * @module
 */

/** Machine-readable error categories. */
export type ErrorCode =
  | "bad-argument" // a caller passed a value outside the valid range
  | "bad-shape" // tensor shapes do not fit together
  | "bad-value" // NaN/Inf or other invalid numeric content
  | "bad-file" // a file is malformed, truncated or tampered with
  | "not-found" // a file, tensor or config key is missing
  | "unsupported" // valid input that this build does not cover
  | "gpu"; // a WebGPU validation, out-of-memory or device-lost error

/**
 * The error class of quantlab.
 *
 * @example Throwing and matching
 * ```ts
 * import { QuantlabError } from "./errors.ts";
 * const e = new QuantlabError("bad-argument", 'Group size 100 does not divide 4096');
 * if (!(e instanceof QuantlabError) || e.code !== "bad-argument") throw new Error("unexpected");
 * ```
 */
export class QuantlabError extends Error {
  /** The category of the failure. */
  readonly code: ErrorCode;
  /** Creates an error with a code and a message that names the value and what would be valid. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuantlabError";
    this.code = code;
  }
}

/**
 * Throws a `bad-argument` {@linkcode QuantlabError} unless `ok` holds.
 *
 * @example
 * ```ts
 * import { check } from "./errors.ts";
 * check(4096 % 64 === 0, "Group size 64 does not divide 4096"); // holds: returns
 * let message = "";
 * try {
 *   check(4096 % 100 === 0, "Group size 100 does not divide 4096");
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * if (message !== "Group size 100 does not divide 4096") throw new Error(message);
 * ```
 */
export function check(ok: boolean, message: string, code: ErrorCode = "bad-argument"): asserts ok {
  if (!ok) throw new QuantlabError(code, message);
}

/**
 * Throws a `bad-value` error naming the tensor and the first index holding NaN or ±Inf.
 *
 * @example
 * ```ts
 * import { assertFinite } from "./errors.ts";
 * assertFinite(new Float32Array([1, 2, 3]), "w");
 * ```
 */
export function assertFinite(data: ArrayLike<number>, name: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // `v - v` is 0 for finite numbers and NaN for NaN/±Inf: one cheap test on the hot path.
    if (v - v !== 0) {
      throw new QuantlabError(
        "bad-value",
        `Tensor "${name}" holds ${v} at index ${i}; only finite values can be quantized`,
      );
    }
  }
}
