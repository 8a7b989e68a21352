/**
 * Content hashes of input files, for run keys and results files: XXH64 (`checksum.ts`) of every
 * byte of a file, streamed in 16 MiB pieces, so a multi-gigabyte checkpoint is never held whole
 * and a change anywhere in it — the same size or not — changes the hash. The pass over a
 * safetensors file can also check chosen float tensors for NaN and ±Infinity on the way
 * ({@linkcode hashSafetensorsFile}), so a run refuses a bad weight before it quantizes anything.
 * Speed: `bench/content_hash_bench.ts`, docs/performance.md.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { bf16BitsToF32, f16BitsToF32, firstNonFinite } from "../core/dtype.ts";
import { type DType, DTYPE_BYTES } from "../core/tensor.ts";
import { checksumStream } from "./checksum.ts";
import { ioError, SafetensorsFile } from "./safetensors.ts";
import { q } from "./paths.ts";

/** A file's size and the XXH64 of all its bytes. */
export interface FileHash {
  /** Size in bytes. */
  bytes: number;
  /** `"xxh64:<16 hex digits>"` of the whole file. */
  xxh64: string;
}

/** A byte range of a file whose values must be finite (one tensor). */
interface FiniteRange {
  name: string;
  start: number;
  end: number;
  dtype: DType;
  shape: readonly number[];
}

const PIECE = 16 << 20;

/** Reads exactly `buf.length` bytes; false at an early end of file. */
async function readFully(file: Deno.FsFile, buf: Uint8Array): Promise<boolean> {
  for (let at = 0; at < buf.length;) {
    const n = await file.read(buf.subarray(at));
    if (n === null) return false;
    at += n;
  }
  return true;
}

function valueAt(piece: Uint8Array, i: number, dtype: DType): number {
  const v = new DataView(piece.buffer, piece.byteOffset, piece.byteLength);
  switch (dtype) {
    case "BF16":
      return bf16BitsToF32(v.getUint16(2 * i, true));
    case "F16":
      return f16BitsToF32(v.getUint16(2 * i, true));
    case "F32":
      return v.getFloat32(4 * i, true);
    default:
      return v.getFloat64(8 * i, true);
  }
}

function nonFiniteError(path: string, r: FiniteRange, index: number, value: number): QuantlabError {
  const cols = r.shape.length === 2 ? r.shape[1]! : 0;
  const where = cols > 0 ? ` (row ${Math.floor(index / cols)}, column ${index % cols})` : "";
  return new QuantlabError(
    "bad-value",
    `Tensor ${q(r.name)} of ${q(path)} holds ${value} at index ${index}${where}; only finite ` +
      "weights can be quantized: repair or replace the checkpoint",
  );
}

/**
 * The size and XXH64 of the whole file at `path`, checking on the way that the tensors named in
 * `finite` hold no NaN or ±Infinity (a `bad-value` error naming the tensor, index and value).
 * `path` must be a safetensors file when `finite` names tensors; any file otherwise.
 *
 * @example
 * ```ts
 * import { hashSafetensorsFile } from "./content_hash.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/a.safetensors`, { w: Tensor.f32([2], new Float32Array([1, NaN])) });
 * const h = await hashSafetensorsFile(`${dir}/a.safetensors`);
 * const msg = await hashSafetensorsFile(`${dir}/a.safetensors`, new Set(["w"]))
 *   .catch((e) => e.message);
 * await Deno.remove(dir, { recursive: true });
 * if (!/^xxh64:/.test(h.xxh64) || !msg.includes('"w"')) throw new Error(msg);
 * ```
 */
export async function hashSafetensorsFile(
  path: string,
  finite: ReadonlySet<string> = new Set(),
): Promise<FileHash> {
  const ranges: FiniteRange[] = [];
  if (finite.size > 0) {
    const f = await SafetensorsFile.open(path);
    try {
      for (const name of finite) {
        const i = f.info(name);
        if (i.byteLength > 0) {
          const end = i.byteOffset + i.byteLength;
          ranges.push({ name, start: i.byteOffset, end, dtype: i.dtype, shape: i.shape });
        }
      }
    } finally {
      f.close();
    }
    ranges.sort((a, b) => a.start - b.start);
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw ioError(e, path, "open");
  }
  try {
    const size = (await file.stat()).size;
    const hash = checksumStream();
    const buf = new Uint8Array(Math.min(PIECE, Math.max(size, 1)));
    let ri = 0;
    for (let pos = 0; pos < size;) {
      while (ri < ranges.length && ranges[ri]!.end <= pos) ri++;
      const r = ranges[ri];
      const inside = r !== undefined && r.start <= pos;
      // A piece lies wholly inside one checked tensor (starting on a value boundary) or outside.
      const end = inside
        ? Math.min(pos + PIECE, r.end)
        : Math.min(pos + PIECE, r?.start ?? size, size);
      const piece = buf.subarray(0, end - pos);
      if (!(await readFully(file, piece))) {
        throw new QuantlabError("bad-file", `${q(path)} shrank while it was being read`);
      }
      hash.update(piece);
      if (inside) {
        const i = firstNonFinite(piece, r.dtype);
        if (i >= 0) {
          const index = (pos - r.start) / DTYPE_BYTES[r.dtype] + i;
          throw nonFiniteError(path, r, index, valueAt(piece, i, r.dtype));
        }
      }
      pos = end;
    }
    return { bytes: size, xxh64: hash.digest() };
  } catch (e) {
    throw ioError(e, path, "read");
  } finally {
    file.close();
  }
}
