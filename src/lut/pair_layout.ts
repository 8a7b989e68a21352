// This module is browser compatible.
/**
 * Row pairs interleaved block by block for the one-row `fast` kernels (`<format>_il` in
 * `gen/lut_int8.ts`): rows 2p and 2p + 1 hold their code blocks (the bytes of 64 weights)
 * alternately, so the kernel, which computes two rows at a time, reads one contiguous stream
 * instead of two side by side — 2.5× the codes' bandwidth from DRAM at decode (1B shape, NF4,
 * `docs/performance.md`). An odd last row keeps its place. The codes are permuted in place in the
 * tensor's own region at the first one-row `fast` call; {@linkcode restoreCheckpointLayout} puts
 * the checkpoint's order back before anything else reads them (the batch kernel, the `exact`
 * kernels, dequantization, the GPU upload), so calls of different kinds on one tensor must not
 * overlap in time (a model's forward awaits each layer in turn).
 *
 * @module
 */
import type { QuantizedTensor } from "../quant/format.ts";
import { tmacRestore } from "./tmac_path.ts";

/** Interleaved tensors, by `q`: their block size. */
const interleaved = new WeakMap<QuantizedTensor, number>();

/**
 * Interleaves (or, with `inverse`, restores) the row pairs of `rows` rows of `bpr` bytes each in
 * blocks of `cb` bytes, in place.
 *
 * @example
 * ```ts
 * import { interleavePairs } from "./pair_layout.ts";
 * const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // 2 rows of 4 bytes, then 2 more
 * interleavePairs(b, 2, 4, 2, false);
 * if (b.join() !== "1,2,5,6,3,4,7,8,9,10") throw new Error(b.join());
 * interleavePairs(b, 2, 4, 2, true);
 * if (b.join() !== "1,2,3,4,5,6,7,8,9,10") throw new Error(b.join());
 * ```
 */
export function interleavePairs(
  bytes: Uint8Array,
  rows: number,
  bpr: number,
  cb: number,
  inverse: boolean,
): void {
  // Whole 32-bit words when the blocks and rows allow (every format here): ~4× fewer moves.
  const k = bytes.byteOffset % 4 === 0 && bpr % 4 === 0 && cb % 4 === 0 ? 4 : 1;
  const v = k === 4 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2) : bytes;
  const n = bpr / k, c = cb / k;
  const tmp = k === 4 ? new Uint32Array(2 * n) : new Uint8Array(2 * n);
  for (let r = 0; r + 1 < rows; r += 2) {
    const o = r * n;
    for (let i = 0; i < 2 * n; i++) tmp[i] = v[o + i]!;
    for (let b = 0; b < n / c; b++) {
      for (let h = 0; h < 2; h++) {
        const nat = h * n + b * c, il = (2 * b + h) * c;
        const [from, to] = inverse ? [il, nat] : [nat, il];
        for (let i = 0; i < c; i++) v[o + to + i] = tmp[from + i]!;
      }
    }
  }
}

/** Whether `q`'s row pairs are interleaved now. */
export function isInterleaved(q: QuantizedTensor): boolean {
  return interleaved.has(q);
}

const bytesOf = (a: Uint32Array): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Interleaves `q`'s codes (blocks of `cb` bytes) unless they are already. */
export function interleaveOn(q: QuantizedTensor, cb: number): void {
  if (interleaved.has(q)) return;
  const rows = q.shape[0];
  interleavePairs(bytesOf(q.codes), rows, q.codes.byteLength / rows, cb, false);
  interleaved.set(q, cb);
}

/**
 * Puts the checkpoint's layout back in `q`'s regions if a `fast` kernel changed it (row pairs
 * interleaved here, or the bit-plane repack of `tmac_path.ts`). Cheap when there is nothing to do.
 *
 * @example
 * ```ts
 * import { restoreCheckpointLayout } from "./pair_layout.ts";
 * import { packCodes } from "../quant/packing.ts";
 * const q = {
 *   method: "nf4" as const, shape: [1, 64] as [number, number], paddedCols: 64, p: 1,
 *   codeBits: 4, codes: packCodes(new Array(64).fill(1), 1, 64, 4),
 *   table: new Float32Array(16), tableDtype: "F32" as const, groupSize: 64,
 *   groupAxis: 1 as const, scales: new Float32Array([1]),
 *   scaleStorage: { kind: "float" as const, dtype: "F32" as const },
 *   rotation: { kind: "none" as const }, params: {},
 * };
 * restoreCheckpointLayout(q); // never changed: nothing to do
 * ```
 */
export function restoreCheckpointLayout(q: QuantizedTensor): void {
  tmacRestore(q);
  const cb = interleaved.get(q);
  if (cb === undefined) return;
  const rows = q.shape[0];
  interleavePairs(bytesOf(q.codes), rows, q.codes.byteLength / rows, cb, true);
  interleaved.delete(q);
}
