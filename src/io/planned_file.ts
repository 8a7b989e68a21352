/**
 * A preallocated output file written in place: every tensor at the offset its plan gives
 * (`src/jobs/quantize_layout.ts`), by one process or by several shards at once (each writes only
 * its own byte ranges), the header last.
 *
 * Each incarnation of the file has a birth id, kept beside it (`<births>/<file name>`): a process
 * that creates the file, or finds it of the wrong size, gives it a new id before writing to it,
 * and whoever records a tensor written there records the id it wrote under. A tensor recorded
 * under another id than the file's current one was lost with an earlier incarnation (the file
 * was removed or truncated) and must be written again, so a resumed shard or the merge never
 * trusts bytes that are gone.
 *
 * @module
 */
import { writeFileAtomic } from "./atomic.ts";
import { ioError } from "./safetensors.ts";
import { baseName, joinPath } from "./paths.ts";

/** A planned file, open for positional writes. */
export interface PlannedFile {
  /** Its path. */
  path: string;
  /** The id of this incarnation of the file. */
  birth: string;
  /** The open file (read and write). */
  file: Deno.FsFile;
}

function newBirth(): string {
  return [...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function readBirth(path: string): Promise<string | null> {
  try {
    return (await Deno.readTextFile(path)).trim() || null;
  } catch {
    return null;
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw ioError(e, path, "read");
  }
}

/**
 * The birth id of the planned file `path` of `size` bytes (births kept in the folder `births`),
 * or null when it is missing, of another size or without an id: nothing recorded in it is there.
 */
export async function plannedFileBirth(
  path: string,
  size: number,
  births: string,
): Promise<string | null> {
  if ((await sizeOf(path)) !== size) return null;
  return await readBirth(joinPath(births, baseName(path)));
}

/**
 * Opens the planned file `path` of `size` bytes for positional writes, creating it (sparse, at
 * its full size) when absent; a file of another size is set to `size` and, like a new one, gets a
 * new birth id (kept in the folder `births`) before anything is written to it.
 */
export async function openPlannedFile(
  path: string,
  size: number,
  births: string,
): Promise<PlannedFile> {
  const birthPath = joinPath(births, baseName(path));
  await Deno.mkdir(births, { recursive: true }).catch((e) => {
    throw ioError(e, births, "create folder");
  });
  let birth = await readBirth(birthPath);
  if (birth === null || (await sizeOf(path)) !== size) {
    // A new incarnation: its id first, so no one records a write to it under an old one.
    birth = newBirth();
    await writeFileAtomic(birthPath, birth + "\n");
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (e) {
    throw ioError(e, path, "open");
  }
  try {
    if ((await file.stat()).size !== size) await file.truncate(size);
  } catch (e) {
    file.close();
    throw ioError(e, path, "size");
  }
  // Another process may have renewed the id meanwhile: record under the one that holds now.
  return { path, birth: (await readBirth(birthPath)) ?? birth, file };
}

/** Writes `chunks` one after another from byte `offset` of `f`, then syncs the data. */
export async function writeAtAndSync(
  f: PlannedFile,
  offset: number,
  chunks: readonly Uint8Array[],
): Promise<void> {
  try {
    await f.file.seek(offset, Deno.SeekMode.Start);
    for (const bytes of chunks) {
      let at = 0;
      while (at < bytes.length) at += await f.file.write(bytes.subarray(at));
    }
    await f.file.syncData();
  } catch (e) {
    throw ioError(e, f.path, "write");
  }
}
