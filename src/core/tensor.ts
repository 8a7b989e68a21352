// This module is browser compatible.
/**
 * The in-memory tensor: a shape, a dtype and a flat row-major typed array.
 *
 * f16 and bf16 values are kept as their raw 16-bit patterns in a `Uint16Array`; convert with
 * `src/core/dtype.ts`. Kernels work on f32.
 *
 * @module
 */
import { QuantlabError } from "./errors.ts";

/** Element types, named as safetensors names them. */
export type DType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/** The typed array that holds each dtype. */
export interface DTypeArrays {
  /** F64 elements. */
  F64: Float64Array;
  /** F32 elements. */
  F32: Float32Array;
  /** F16 elements. */
  F16: Uint16Array;
  /** BF16 elements. */
  BF16: Uint16Array;
  /** I64 elements. */
  I64: BigInt64Array;
  /** I32 elements. */
  I32: Int32Array;
  /** I16 elements. */
  I16: Int16Array;
  /** I8 elements. */
  I8: Int8Array;
  /** U64 elements. */
  U64: BigUint64Array;
  /** U32 elements. */
  U32: Uint32Array;
  /** U16 elements. */
  U16: Uint16Array;
  /** U8 elements. */
  U8: Uint8Array;
  /** BOOL elements. */
  BOOL: Uint8Array;
}

/** Any typed array a tensor may hold. */
export type TensorData = DTypeArrays[DType];

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

const ARRAY_OF: { [D in DType]: new (b: ArrayBufferLike, o: number, n: number) => DTypeArrays[D] } =
  {
    F64: Float64Array,
    F32: Float32Array,
    F16: Uint16Array,
    BF16: Uint16Array,
    I64: BigInt64Array,
    I32: Int32Array,
    I16: Int16Array,
    I8: Int8Array,
    U64: BigUint64Array,
    U32: Uint32Array,
    U16: Uint16Array,
    U8: Uint8Array,
    BOOL: Uint8Array,
  };

/**
 * True when `name` is a dtype quantlab knows.
 *
 * @example
 * ```ts
 * import { isDType } from "./tensor.ts";
 * if (!isDType("BF16") || isDType("F8_E4M3")) throw new Error("unexpected");
 * ```
 */
export function isDType(name: string): name is DType {
  return Object.hasOwn(DTYPE_BYTES, name);
}

/**
 * Number of elements of a shape (1 for the scalar shape `[]`).
 *
 * @example
 * ```ts
 * import { numel } from "./tensor.ts";
 * if (numel([2, 3]) !== 6 || numel([]) !== 1) throw new Error("unexpected");
 * ```
 */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Views `bytes` as the typed array of `dtype` (copying only when the offset is misaligned).
 *
 * @example
 * ```ts
 * import { viewAs } from "./tensor.ts";
 * const a = viewAs("F32", new Uint8Array(new Float32Array([1.5]).buffer));
 * if (a[0] !== 1.5) throw new Error("unexpected");
 * ```
 */
export function viewAs<D extends DType>(dtype: D, bytes: Uint8Array): DTypeArrays[D] {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new QuantlabError(
      "bad-shape",
      `Cannot view ${bytes.byteLength} bytes as ${dtype}: not a multiple of ${size}`,
    );
  }
  const ctor = ARRAY_OF[dtype];
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  return new ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

/**
 * A dense row-major tensor.
 *
 * @example
 * ```ts
 * import { Tensor } from "./tensor.ts";
 * const t = Tensor.zeros([2, 3]);
 * t.data[4] = 7;
 * if (t.numel !== 6 || t.dtype !== "F32") throw new Error("unexpected");
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Flat row-major elements. */
  readonly data: DTypeArrays[D];

  /** Wraps `data`; its length must equal the product of `shape`. */
  constructor(shape: readonly number[], dtype: D, data: DTypeArrays[D]) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new QuantlabError(
          "bad-shape",
          `Shape [${shape.join(", ")}] has dimension ${d}; dimensions must be integers ≥ 0`,
        );
      }
    }
    const n = numel(shape);
    if (data.length !== n) {
      throw new QuantlabError(
        "bad-shape",
        `Shape [${shape.join(", ")}] needs ${n} elements but the data holds ${data.length}`,
      );
    }
    this.shape = [...shape];
    this.dtype = dtype;
    this.data = data;
  }

  /** A zero-filled f32 tensor. */
  static zeros(shape: readonly number[]): Tensor<"F32"> {
    return new Tensor(shape, "F32", new Float32Array(numel(shape)));
  }

  /** Wraps a Float32Array. */
  static f32(shape: readonly number[], data: Float32Array): Tensor<"F32"> {
    return new Tensor(shape, "F32", data);
  }

  /** Number of elements. */
  get numel(): number {
    return this.data.length;
  }

  /** Size of the data in bytes. */
  get byteLength(): number {
    return this.data.byteLength;
  }

  /** Rows and columns of a 2-D tensor, or a `bad-shape` error naming `what`. */
  dims2(what = "tensor"): [number, number] {
    if (this.shape.length !== 2) {
      throw new QuantlabError(
        "bad-shape",
        `Expected ${what} to be 2-D but its shape is [${this.shape.join(", ")}]`,
      );
    }
    return [this.shape[0]!, this.shape[1]!];
  }
}
