/**
 * Small helpers the file formats share: `/`-separated paths and quoting names in error messages.
 * Internal to `src/io/` and `src/jobs/` (not part of the public API).
 *
 * @module
 */

/**
 * Quotes a name or value for an error message, shortening very long ones.
 *
 * @example
 * ```ts
 * import { q } from "./paths.ts";
 * if (q("w") !== '"w"') throw new Error();
 * ```
 */
export function q(s: string): string {
  return JSON.stringify(s.length > 120 ? s.slice(0, 120) + "…" : s);
}

/**
 * `dir/name` (no doubled separator).
 *
 * @example
 * ```ts
 * import { joinPath } from "./paths.ts";
 * if (joinPath("a/", "b") !== "a/b" || joinPath("a", "b") !== "a/b") throw new Error();
 * ```
 */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

/**
 * The last component of a `/` path.
 *
 * @example
 * ```ts
 * import { baseName } from "./paths.ts";
 * if (baseName("a/b.safetensors") !== "b.safetensors") throw new Error();
 * ```
 */
export function baseName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * Whether `x` is a plain (non-array, non-null) object.
 *
 * @example
 * ```ts
 * import { isObj } from "./paths.ts";
 * if (!isObj({}) || isObj([]) || isObj(null)) throw new Error();
 * ```
 */
export function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
