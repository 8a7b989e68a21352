/**
 * Checksums of stored tensor bytes: XXH64 (seed 0) over the bytes of several tensors in a given
 * order, written `"xxh64:<16 hex digits>"`. XXH64 is a fast non-cryptographic hash (the
 * `xxhash-wasm` package: WebAssembly, no native code); it detects accidental and casual changes
 * (a flipped byte, a truncated or swapped array), not a deliberate forgery, which would simply
 * rewrite the checksum too.
 *
 * @module
 */
import xxhash from "xxhash-wasm";

const api = await xxhash();

/** The prefix naming the algorithm. */
export const CHECKSUM_ALGORITHM = "xxh64";

/** A checksum string as stored: `"xxh64:"` and 16 lowercase hex digits. */
export const CHECKSUM_PATTERN: RegExp = /^xxh64:[0-9a-f]{16}$/;

/**
 * The checksum of the bytes of `arrays`, taken in order as one stream.
 *
 * @example
 * ```ts
 * import { checksumOf } from "./checksum.ts";
 * const a = checksumOf([new Uint32Array([1, 2]), new Uint16Array([3])]);
 * const b = checksumOf([new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0])]);
 * if (a !== b || !/^xxh64:[0-9a-f]{16}$/.test(a)) throw new Error(a);
 * ```
 */
export function checksumOf(arrays: readonly ArrayBufferView[]): string {
  const h = api.create64();
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return `${CHECKSUM_ALGORITHM}:${h.digest().toString(16).padStart(16, "0")}`;
}

/** An XXH64 being computed over bytes fed in order ({@linkcode checksumStream}). */
export interface ChecksumStream {
  /** Adds the next bytes. */
  update(bytes: Uint8Array): void;
  /** The checksum of everything added, as {@linkcode checksumOf} writes it. */
  digest(): string;
}

/**
 * An XXH64 fed piece by piece: the same value as {@linkcode checksumOf} over the concatenation.
 *
 * @example
 * ```ts
 * import { checksumOf, checksumStream } from "./checksum.ts";
 * const s = checksumStream();
 * s.update(new Uint8Array([1, 2]));
 * s.update(new Uint8Array([3]));
 * if (s.digest() !== checksumOf([new Uint8Array([1, 2, 3])])) throw new Error();
 * ```
 */
export function checksumStream(): ChecksumStream {
  const h = api.create64();
  return {
    update: (bytes) => void h.update(bytes),
    digest: () => `${CHECKSUM_ALGORITHM}:${h.digest().toString(16).padStart(16, "0")}`,
  };
}
