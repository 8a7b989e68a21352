/**
 * `quantlab --version`: the package version from `deno.json`, the git commit of the checkout when
 * there is one (read from `.git` directly, so no subprocess permission is needed), and the Deno
 * version.
 *
 * @module
 */
const ROOT = new URL("../../", import.meta.url);

async function readText(path: string): Promise<string | null> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch {
    return null;
  }
}

/** The `.git` folder of the checkout (following a worktree's `gitdir:` file), or null. */
async function gitDir(): Promise<string | null> {
  const dotGit = decodeURIComponent(new URL(".git", ROOT).pathname);
  const file = await readText(dotGit);
  if (file?.startsWith("gitdir: ")) return file.slice(8);
  try {
    return (await Deno.stat(dotGit)).isDirectory ? dotGit : null;
  } catch {
    return null;
  }
}

/**
 * The short commit id of the checkout, or null outside a git checkout.
 *
 * @example
 * ```ts
 * import { gitCommit } from "./version.ts";
 * const c = await gitCommit();
 * if (c !== null && !/^[0-9a-f]{12}$/.test(c)) throw new Error(c);
 * ```
 */
export async function gitCommit(): Promise<string | null> {
  const dir = await gitDir();
  if (dir === null) return null;
  const head = await readText(`${dir}/HEAD`);
  if (head === null) return null;
  if (/^[0-9a-f]{40}$/.test(head)) return head.slice(0, 12);
  const ref = /^ref: (.+)$/.exec(head)?.[1];
  if (!ref) return null;
  const common = await readText(`${dir}/commondir`);
  const dirs = [dir, ...(common ? [common.startsWith("/") ? common : `${dir}/${common}`] : [])];
  for (const d of dirs) {
    const id = await readText(`${d}/${ref}`);
    if (id && /^[0-9a-f]{40}$/.test(id)) return id.slice(0, 12);
    const packed = await readText(`${d}/packed-refs`);
    const line = packed?.split("\n").find((l) => l.endsWith(` ${ref}`));
    if (line) return line.slice(0, 12);
  }
  return null;
}

/**
 * The `--version` text: `quantlab 0.1.0 (commit abc123…)`, then the Deno, V8 and TypeScript
 * versions.
 *
 * @example
 * ```ts
 * import { versionText } from "./version.ts";
 * if (!(await versionText()).startsWith("quantlab ")) throw new Error();
 * ```
 */
export async function versionText(): Promise<string> {
  const commit = await gitCommit();
  const config = await readText(decodeURIComponent(new URL("deno.json", ROOT).pathname));
  let version = "unknown";
  try {
    version = String(JSON.parse(config ?? "{}").version ?? "unknown");
  } catch {
    // A damaged deno.json leaves the version unknown; --version still prints the rest.
  }
  return [
    `quantlab ${version}${commit ? ` (commit ${commit})` : ""}`,
    `deno ${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript})`,
  ].join("\n");
}
