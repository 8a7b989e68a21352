// This module is browser compatible.
/**
 * Loading the precomputed grids shipped in `assets/grids/` (regenerate them with
 * `quantlab grids build --all`). Loading never recomputes a grid: it fetches
 * `assets/grids/p{p}_n{n}.json` relative to this module (so it works from a file URL, an HTTP
 * server or a bundle), validates it and caches it.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { checkGridShape, type Grid, gridFileName, gridFromJson } from "./grid.ts";

/** One entry of `assets/grids/index.json`. */
export interface GridIndexEntry {
  /** Vector dimension. */
  p: number;
  /** Number of grid points. */
  n: number;
  /** Asset file name. */
  file: string;
  /** Per-coordinate MSE on N(0, I_p). */
  mse: number;
  /** Standard error of the MSE (0 when exact). */
  mseStdErr: number;
  /** How the grid was built. */
  method: string;
}

/** Where the grid assets live (a URL ending in a slash). */
export const GRID_ASSETS_URL: URL = new URL("../../assets/grids/", import.meta.url);

const cache = new Map<string, Promise<Grid>>();
let indexCache: Promise<GridIndexEntry[]> | undefined;

async function fetchText(url: URL): Promise<string | null> {
  try {
    const r = await fetch(url);
    if (!r.ok) {
      await r.body?.cancel();
      return null;
    }
    return await r.text();
  } catch {
    return null;
  }
}

/**
 * The list of shipped grids (from `assets/grids/index.json`), sorted by (p, n).
 *
 * @example
 * ```ts
 * import { listGrids } from "./load.ts";
 * const all = await listGrids();
 * if (!all.some((g) => g.p === 2 && g.n === 256)) throw new Error();
 * ```
 */
export function listGrids(): Promise<GridIndexEntry[]> {
  indexCache ??= (async () => {
    const text = await fetchText(new URL("index.json", GRID_ASSETS_URL));
    if (text === null) return [];
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new QuantlabError("bad-file", `Grid index ${GRID_ASSETS_URL}index.json: ${e}`);
    }
    const list = (json as { grids?: GridIndexEntry[] }).grids;
    if (!Array.isArray(list)) {
      throw new QuantlabError("bad-file", `Grid index ${GRID_ASSETS_URL}index.json has no "grids"`);
    }
    return [...list].sort((a, b) => a.p - b.p || a.n - b.n);
  })().catch((e) => {
    indexCache = undefined;
    throw e;
  });
  return indexCache;
}

/** Forgets cached grids and the index (after rebuilding assets). */
export function clearGridCache(): void {
  cache.clear();
  indexCache = undefined;
}

function summarize(list: GridIndexEntry[]): string {
  const byP = new Map<number, number[]>();
  for (const g of list) byP.set(g.p, [...(byP.get(g.p) ?? []), g.n]);
  return [...byP].map(([p, ns]) => {
    const s = ns.length > 8 ? `${ns[0]}…${ns[ns.length - 1]} (${ns.length} sizes)` : ns.join(", ");
    return `p = ${p}: n = ${s}`;
  }).join("; ");
}

/**
 * Loads the shipped MSE-optimal grid for (p, n): cached, validated (a NaN or a wrong shape throws a
 * `bad-file` QuantlabError), never recomputed. A missing grid throws `not-found` naming (p, n) and
 * the available ones.
 *
 * @example
 * ```ts
 * import { loadGrid } from "./load.ts";
 * const g = await loadGrid(2, 256);
 * if (g.points.length !== 512 || Math.abs(g.mse / 0.007752 - 1) > 0.005) throw new Error();
 * ```
 */
export function loadGrid(p: number, n: number): Promise<Grid> {
  try {
    checkGridShape(p, n);
  } catch (e) {
    return Promise.reject(e); // callers await: a bad (p, n) is a rejection, not a throw
  }
  const key = `${p},${n}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = (async () => {
      const url = new URL(gridFileName(p, n), GRID_ASSETS_URL);
      const text = await fetchText(url);
      if (text === null) {
        const list = await listGrids().catch(() => []);
        throw new QuantlabError(
          "not-found",
          `No precomputed grid for (p, n) = (${p}, ${n}); available: ${
            summarize(list) || "none"
          }. Build it with \`quantlab grids build --p ${p} --n ${n}\``,
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new QuantlabError("bad-file", `Grid file ${url} is not valid JSON: ${e}`);
      }
      return gridFromJson(json, p, n, String(url));
    })();
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
  }
  return hit;
}
