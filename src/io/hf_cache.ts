/**
 * Model folders as users hold them: plain folders, Hugging Face cache snapshot folders
 * (`models--org--name/snapshots/<rev>/`, whose entries are symlinks into `../../blobs/`) and the
 * cache's repository folder `models--org--name` itself (its `refs/main` names the snapshot).
 *
 * {@linkcode resolveModelPath} turns a cache repository folder into its snapshot folder and
 * leaves every other path alone; {@linkcode listFolderFiles} lists a folder's files, counting a
 * symlink (relative or absolute) to a regular file as a file and a dangling one as an error.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { ioError } from "./safetensors.ts";
import { joinPath, q } from "./paths.ts";

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw ioError(e, path, "inspect");
  }
}

/**
 * The folder to read for `path`: for a Hugging Face cache repository folder (one holding
 * `snapshots/` and `refs/`, named like `models--org--name`), the snapshot `refs/main` names (or
 * the only snapshot when there is no `refs/main`); any other path unchanged. A `refs/main` that
 * names a missing snapshot is a `not-found` error naming both.
 *
 * @example
 * ```ts
 * import { resolveModelPath } from "./hf_cache.ts";
 * const repo = await Deno.makeTempDir({ prefix: "models--org--name" });
 * await Deno.mkdir(`${repo}/snapshots/abc123`, { recursive: true });
 * await Deno.mkdir(`${repo}/refs`);
 * await Deno.writeTextFile(`${repo}/refs/main`, "abc123");
 * const snap = await resolveModelPath(repo);
 * await Deno.remove(repo, { recursive: true });
 * if (snap !== `${repo}/snapshots/abc123`) throw new Error(snap);
 * ```
 */
export async function resolveModelPath(path: string): Promise<string> {
  const st = await statOrNull(path);
  if (st === null || !st.isDirectory) return path;
  const snapshots = joinPath(path, "snapshots");
  const refs = joinPath(path, "refs");
  if (!(await statOrNull(snapshots))?.isDirectory || !(await statOrNull(refs))?.isDirectory) {
    return path;
  }
  const main = joinPath(refs, "main");
  let rev: string | null = null;
  try {
    rev = (await Deno.readTextFile(main)).trim();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw ioError(e, main, "read");
  }
  if (rev === null) {
    const revs: string[] = [];
    for await (const e of Deno.readDir(snapshots)) if (e.isDirectory) revs.push(e.name);
    if (revs.length !== 1) {
      throw new QuantlabError(
        "not-found",
        `Hugging Face cache folder ${q(path)} has no refs/main and ${revs.length} snapshots; ` +
          "name a snapshot folder (snapshots/<revision>) instead",
      );
    }
    rev = revs[0]!;
  }
  if (rev === "" || /[\\/]|^\.\.?$/.test(rev)) {
    throw new QuantlabError(
      "bad-file",
      `${q(main)} holds ${q(rev)}; expected a revision (a snapshot folder name)`,
    );
  }
  const snap = joinPath(snapshots, rev);
  if (!(await statOrNull(snap))?.isDirectory) {
    throw new QuantlabError(
      "not-found",
      `Hugging Face cache folder ${q(path)}: refs/main names revision ${q(rev)}, but ${
        q(snap)
      } does not exist; download the model again or name an existing snapshot folder`,
    );
  }
  return snap;
}

/**
 * Names of the regular files in `dir`, counting symlinks (relative or absolute) that resolve to
 * regular files; sub-folders and links to folders are left out. A dangling symlink is a
 * `bad-file` error naming it and its target.
 *
 * @example
 * ```ts
 * import { listFolderFiles } from "./hf_cache.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/blob`, "{}");
 * await Deno.symlink("blob", `${dir}/config.json`);
 * const names = await listFolderFiles(dir);
 * await Deno.remove(dir, { recursive: true });
 * if (names.join() !== "blob,config.json") throw new Error(names.join());
 * ```
 */
export async function listFolderFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) names.push(e.name);
      else if (e.isSymlink) {
        const p = joinPath(dir, e.name);
        const st = await statOrNull(p);
        if (st === null) {
          const target = await Deno.readLink(p).catch(() => "?");
          throw new QuantlabError(
            "bad-file",
            `${q(p)} is a symlink to ${q(target)}, which does not exist (a dangling link; an ` +
              "interrupted download leaves these): download the file again or remove the link",
          );
        }
        if (st.isFile) names.push(e.name);
      }
    }
  } catch (e) {
    if (e instanceof QuantlabError) throw e;
    throw ioError(e, dir, "list folder");
  }
  return names.sort();
}
