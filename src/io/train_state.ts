/**
 * The training checkpoint `train_state.bin`: a header of three u32 (magic, steps done, key
 * length), the run's key (UTF-8 JSON naming everything that shapes the trajectory, padded to 4
 * bytes), then the f32 parameters, AdamW's first and second moments. Two versions share that
 * layout and differ in the magic and the key:
 *
 * - version 1 (`qlts`, the first trainer): key `{c, B, T, peak, warmup, seed, steps}`; such a
 *   run had weight decay 0.1 and no gradient clipping, and keeps both when resumed;
 * - version 2 (`qlt2`): key `{version: 2, …, weightDecay, gradClip}`.
 *
 * A run resumed from a version-1 file keeps writing version 1, so it stays resumable by the
 * command that started it.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { writeFileAtomic } from "./atomic.ts";

/** Magic of each version, by version. */
export const STATE_MAGIC: Readonly<Record<1 | 2, number>> = {
  1: 0x71_6c_74_73, // "qlts"
  2: 0x32_74_6c_71, // "qlt2"
};

/** A checkpoint's contents. */
export interface TrainState {
  /** Format version. */
  version: 1 | 2;
  /** Optimizer steps done. */
  step: number;
  /** The run's key. */
  key: string;
  /** Parameters. */
  params: Float32Array;
  /** AdamW's first moments. */
  m: Float32Array;
  /** AdamW's second moments. */
  v: Float32Array;
}

/**
 * Reads a checkpoint of `n` parameters; null when the file does not exist. Throws a `bad-file`
 * QuantlabError naming the path when the magic is unknown or the file is short.
 *
 * @example
 * ```ts
 * import { readTrainState, writeTrainState } from "./train_state.ts";
 * const path = await Deno.makeTempFile();
 * const p = new Float32Array([1, 2]);
 * await writeTrainState(path, { version: 2, step: 3, key: "{}", params: p, m: p, v: p });
 * const s = await readTrainState(path, 2);
 * await Deno.remove(path);
 * if (s?.step !== 3 || s.key !== "{}" || s.v[1] !== 2) throw new Error();
 * ```
 */
export async function readTrainState(path: string, n: number): Promise<TrainState | null> {
  let buf: Uint8Array;
  try {
    buf = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const bad = (why: string) =>
    new QuantlabError("bad-file", `Training checkpoint ${path} ${why}; delete it to start over`);
  if (buf.length < 12) throw bad(`holds ${buf.length} bytes`);
  const head = new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 12));
  const version = head[0] === STATE_MAGIC[1] ? 1 : head[0] === STATE_MAGIC[2] ? 2 : null;
  if (version === null) throw bad(`starts with 0x${head[0]!.toString(16)}, not a known magic`);
  const keyLen = head[2]!;
  const at = Math.ceil((12 + keyLen) / 4) * 4;
  if (buf.length < at + 12 * n) {
    throw bad(`holds ${buf.length} bytes; ${at + 12 * n} are needed for ${n} parameters`);
  }
  const key = new TextDecoder().decode(buf.subarray(12, 12 + keyLen));
  const f = new Float32Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + 12 * n));
  return {
    version,
    step: head[1]!,
    key,
    params: f.subarray(0, n),
    m: f.subarray(n, 2 * n),
    v: f.subarray(2 * n, 3 * n),
  };
}

/** Writes a checkpoint atomically (a temporary file renamed over `path`). */
export async function writeTrainState(path: string, s: TrainState): Promise<void> {
  const kb = new TextEncoder().encode(s.key);
  const at = Math.ceil((12 + kb.length) / 4) * 4;
  const n = s.params.length;
  const buf = new Uint8Array(at + 12 * n);
  new Uint32Array(buf.buffer, 0, 3).set([STATE_MAGIC[s.version], s.step, kb.length]);
  buf.set(kb, 12);
  const f = new Float32Array(buf.buffer, at, 3 * n);
  f.set(s.params);
  f.set(s.m, n);
  f.set(s.v, 2 * n);
  await writeFileAtomic(path, buf);
}
