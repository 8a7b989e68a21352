/**
 * Atomic file writes: data goes to `${path}.tmp-<random>` in the same folder, which is renamed over
 * `path`, so a reader (or a run resumed after a kill) sees the old file or the new one, never a
 * partial one. The one implementation every writer of quantlab uses (results, checkpoints, grids,
 * training state); the streaming safetensors writer uses the same temporary names.
 *
 * @module
 */
import { ioError } from "./safetensors.ts";
import { baseName, joinPath } from "./paths.ts";

/**
 * A fresh temporary path next to `path` (`${path}.tmp-<12 hex digits>`).
 *
 * @example
 * ```ts
 * import { tempPathFor } from "./atomic.ts";
 * if (!/^a\/b\.json\.tmp-[0-9a-f]{12}$/.test(tempPathFor("a/b.json"))) throw new Error();
 * ```
 */
export function tempPathFor(path: string): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return `${path}.tmp-${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Writes `data` (text or bytes) to `path` atomically; a failure removes the temporary file and
 * throws a `bad-file` error naming `path`.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, "hello");
 * await writeFileAtomic(`${dir}/b.bin`, new Uint8Array([1, 2]));
 * const text = await Deno.readTextFile(`${dir}/a.txt`);
 * await Deno.remove(dir, { recursive: true });
 * if (text !== "hello") throw new Error();
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw ioError(e, path, "write");
  }
}

/**
 * Copies `from` to `to` atomically.
 *
 * @example
 * ```ts
 * import { copyFileAtomic, writeFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, "hi");
 * await copyFileAtomic(`${dir}/a.txt`, `${dir}/b.txt`);
 * const text = await Deno.readTextFile(`${dir}/b.txt`);
 * await Deno.remove(dir, { recursive: true });
 * if (text !== "hi") throw new Error();
 * ```
 */
export async function copyFileAtomic(from: string, to: string): Promise<void> {
  const tmp = tempPathFor(to);
  try {
    await Deno.copyFile(from, tmp);
    await Deno.rename(tmp, to);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw ioError(e, to, "copy to");
  }
}

/**
 * Writes `value` as pretty JSON (two spaces, trailing newline) to `path` atomically.
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/r.json`, { a: 1 });
 * const back = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
 * await Deno.remove(dir, { recursive: true });
 * if (back.a !== 1) throw new Error("unexpected");
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Removes the `${path}.tmp-*` files a killed writer left next to `path` (an unreadable folder is
 * left alone: the next write fails with a better message).
 *
 * @example
 * ```ts
 * import { removeStaleTemps } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a.json.tmp-0123456789ab`, "{");
 * await removeStaleTemps(`${dir}/a.json`);
 * const left = [...Deno.readDirSync(dir)].length;
 * await Deno.remove(dir, { recursive: true });
 * if (left !== 0) throw new Error();
 * ```
 */
export async function removeStaleTemps(path: string): Promise<void> {
  const i = path.lastIndexOf("/");
  const dir = i < 0 ? "." : path.slice(0, i) || "/";
  const prefix = `${baseName(path)}.tmp-`;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.startsWith(prefix)) {
        await Deno.remove(joinPath(dir, e.name)).catch(() => {});
      }
    }
  } catch {
    // an unreadable folder fails later, with a better message
  }
}

/**
 * Whether `path` exists (a broken symlink counts); other errors than "not found" throw.
 *
 * @example
 * ```ts
 * import { pathExists } from "./atomic.ts";
 * if (await pathExists("/no/such/path")) throw new Error();
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw ioError(e, path, "inspect");
  }
}
