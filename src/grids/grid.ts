// This module is browser compatible.
/**
 * The `Grid` type (a codebook of n points in R^p, MSE-optimal for N(0, I_p)), its validation, the
 * canonical point order, and the JSON asset format.
 *
 * Canonical order: points are sorted lexicographically (by the first coordinate, then the second,
 * …), so a code (an index into `points`) is stable across rebuilds and machines. For p = 1 that is
 * ascending order.
 *
 * Asset format (`assets/grids/p{p}_n{n}.json`, version 1):
 * `{version, p, n, points: number[] /* n·p f32 values, row-major *\/, mse, mseStdErr, mseSamples,
 * mseSeed, seed, samples, iterations, method, backend, seconds}`; `mse` is exact (integration,
 * `mseStdErr` 0) for p = 1 and a Monte-Carlo estimate on fresh samples (seed `mseSeed`) otherwise.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** Asset format version. */
export const GRID_FORMAT_VERSION = 1;

/** How a grid was computed. */
export type GridMethod = "lloyd-max-exact" | "lloyd-mc" | "custom";

/** The points of a grid: all the encoders need. */
export interface GridPoints {
  /** Dimension of each point (the vector length HIGGS quantizes jointly). */
  readonly p: number;
  /** Number of points (2 ≤ n ≤ 65536; codes are indices 0 … n−1). */
  readonly n: number;
  /** n·p coordinates, point-major: point j is points[j·p … j·p+p−1]. */
  readonly points: Float32Array;
}

/** A grid with its provenance and measured quality. */
export interface Grid extends GridPoints {
  /** Per-coordinate MSE E‖x − q(x)‖²/p for x ~ N(0, I_p). */
  readonly mse: number;
  /** Standard error of `mse` (0 when exact). */
  readonly mseStdErr: number;
  /** Samples used for the MSE estimate (0 when exact). */
  readonly mseSamples: number;
  /** PRNG seed of the MSE samples (null when exact). */
  readonly mseSeed: number | null;
  /** PRNG seed of the training samples (null when exact). */
  readonly seed: number | null;
  /** Training samples of the final Lloyd pass (0 when exact). */
  readonly samples: number;
  /** Lloyd / Newton iterations. */
  readonly iterations: number;
  /** How it was computed. */
  readonly method: GridMethod;
  /** Asset format version. */
  readonly version: number;
  /** Backend that built it ("cpu", "webgpu", "exact"). */
  readonly backend?: string;
  /** Wall-clock seconds the build took. */
  readonly seconds?: number;
}

/**
 * Throws `bad-argument` unless (p, n) is a valid grid shape: integers with p ≥ 1 and 2 ≤ n ≤ 65536.
 *
 * @example
 * ```ts
 * import { checkGridShape } from "./grid.ts";
 * checkGridShape(2, 256); // valid: returns
 * let threw = false;
 * try {
 *   checkGridShape(0, 256);
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("p = 0 accepted");
 * ```
 */
export function checkGridShape(p: number, n: number): void {
  if (!Number.isInteger(p) || p < 1 || p > 64) {
    throw new QuantlabError(
      "bad-argument",
      `Grid dimension p = ${p} is not valid; use an integer from 1 to 64`,
    );
  }
  if (!Number.isInteger(n) || n < 2 || n > 65536) {
    throw new QuantlabError(
      "bad-argument",
      `Grid size n = ${n} is not valid; use an integer from 2 to 65536 (codes are 16-bit)`,
    );
  }
}

/**
 * Validates a grid's points: shape (p, n valid, `points.length === n·p`) and finite values.
 * Throws `bad-argument` for a bad (p, n) and `code` (default `bad-value`) for the points.
 *
 * @example
 * ```ts
 * import { validateGridPoints } from "./grid.ts";
 * validateGridPoints({ p: 1, n: 2, points: new Float32Array([-1, 1]) }); // valid: returns
 * let threw = false;
 * try {
 *   validateGridPoints({ p: 1, n: 2, points: new Float32Array([-1, NaN]) });
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("NaN accepted");
 * ```
 */
export function validateGridPoints(
  g: GridPoints,
  code: "bad-value" | "bad-file" = "bad-value",
  name = `(${g.p}, ${g.n})`,
): void {
  checkGridShape(g.p, g.n);
  if (!(g.points instanceof Float32Array) || g.points.length !== g.n * g.p) {
    throw new QuantlabError(
      code,
      `Grid ${name} has ${g.points?.length} coordinates; expected n·p = ${g.n * g.p}`,
    );
  }
  for (let i = 0; i < g.points.length; i++) {
    const v = g.points[i]!;
    if (v - v !== 0) {
      throw new QuantlabError(
        code,
        `Grid ${name} holds ${v} at coordinate ${i} (point ${Math.floor(i / g.p)}); ` +
          `grid points must be finite`,
      );
    }
  }
}

/**
 * Sorts n points of dimension p lexicographically (first coordinate, then second, …); returns a
 * new array. Equal points keep their relative order.
 *
 * @example
 * ```ts
 * import { sortPoints } from "./grid.ts";
 * const s = sortPoints(new Float32Array([1, 0, -1, 5, 1, -2]), 2);
 * if (s.join() !== "-1,5,1,-2,1,0") throw new Error(s.join());
 * ```
 */
export function sortPoints(points: ArrayLike<number>, p: number): Float32Array {
  const n = Math.floor(points.length / p);
  const idx = Array.from({ length: n }, (_, j) => j);
  idx.sort((a, b) => {
    for (let d = 0; d < p; d++) {
      const u = points[a * p + d]!, v = points[b * p + d]!;
      if (u !== v) return u < v ? -1 : 1;
    }
    return a - b;
  });
  const out = new Float32Array(n * p);
  idx.forEach((j, k) => {
    for (let d = 0; d < p; d++) out[k * p + d] = points[j * p + d]!;
  });
  return out;
}

/** Shortest decimal that reads back as the same f32. */
function f32String(v: number): string {
  if (v === 0) return "0";
  for (let digits = 6; digits < 10; digits++) {
    const s = Number(v.toPrecision(digits)).toString();
    if (Math.fround(Number(s)) === v) return s;
  }
  return v.toString();
}

/**
 * The JSON text of a grid asset (compact: one line per field, points in shortest f32 form).
 *
 * @example
 * ```ts
 * import { gridFromJson, gridToJson } from "./grid.ts";
 * const g = gridFromJson(JSON.parse(gridToJson({
 *   p: 1, n: 2, points: new Float32Array([-0.8, 0.8]), mse: 0.36, mseStdErr: 0, mseSamples: 0,
 *   mseSeed: null, seed: null, samples: 0, iterations: 1, method: "custom", version: 1,
 * })), 1, 2);
 * if (g.points[1] !== Math.fround(0.8)) throw new Error();
 * ```
 */
export function gridToJson(g: Grid): string {
  const meta: Record<string, unknown> = {
    version: g.version,
    p: g.p,
    n: g.n,
    method: g.method,
    mse: g.mse,
    mseStdErr: g.mseStdErr,
    mseSamples: g.mseSamples,
    mseSeed: g.mseSeed,
    seed: g.seed,
    samples: g.samples,
    iterations: g.iterations,
    backend: g.backend ?? null,
    seconds: g.seconds ?? null,
  };
  const lines = Object.entries(meta).map(([k, v]) =>
    `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`
  );
  const pts: string[] = [];
  for (let j = 0; j < g.n; j++) {
    const row: string[] = [];
    for (let d = 0; d < g.p; d++) row.push(f32String(g.points[j * g.p + d]!));
    pts.push(row.join(","));
  }
  lines.push(`  "points": [\n    ${pts.join(",\n    ")}\n  ]`);
  return `{\n${lines.join(",\n")}\n}\n`;
}

/**
 * Parses and validates a grid asset: wrong (p, n), a wrong number of coordinates, or NaN/∞ throw
 * a `bad-file` QuantlabError naming the grid.
 *
 * @example
 * ```ts
 * import { gridFromJson } from "./grid.ts";
 * try {
 *   gridFromJson({ version: 1, p: 1, n: 2, points: [0, null], mse: 1 }, 1, 2);
 *   throw new Error("expected a bad-file error");
 * } catch (e) {
 *   if ((e as { code?: string }).code !== "bad-file") throw e;
 * }
 * ```
 */
export function gridFromJson(json: unknown, p: number, n: number, source = `(${p}, ${n})`): Grid {
  const o = json as Record<string, unknown>;
  const bad = (why: string): never => {
    throw new QuantlabError("bad-file", `Grid file ${source} is malformed: ${why}`);
  };
  if (typeof o !== "object" || o === null) bad("not a JSON object");
  if (o.p !== p || o.n !== n) bad(`it holds (p, n) = (${o.p}, ${o.n}), expected (${p}, ${n})`);
  if (!Array.isArray(o.points)) bad("no points array");
  const raw = o.points as unknown[];
  if (raw.length !== n * p) bad(`${raw.length} coordinates, expected n·p = ${n * p}`);
  const points = new Float32Array(n * p);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (typeof v !== "number" || !Number.isFinite(v)) bad(`coordinate ${i} is ${v}, not finite`);
    points[i] = v as number;
  }
  const num = (k: string, fallback: number): number => {
    const v = o[k];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) bad(`field "${k}" is ${v}`);
    return v as number;
  };
  const mse = num("mse", NaN);
  if (!(mse >= 0)) bad(`field "mse" is ${o.mse}`);
  const method = (["lloyd-max-exact", "lloyd-mc", "custom"] as const).find((m) => m === o.method) ??
    "custom";
  const nullable = (
    k: string,
  ): number | null => (o[k] === null || o[k] === undefined ? null : num(k, 0));
  return {
    p,
    n,
    points,
    mse,
    mseStdErr: num("mseStdErr", 0),
    mseSamples: num("mseSamples", 0),
    mseSeed: nullable("mseSeed"),
    seed: nullable("seed"),
    samples: num("samples", 0),
    iterations: num("iterations", 0),
    method,
    version: num("version", GRID_FORMAT_VERSION),
    ...(typeof o.backend === "string" ? { backend: o.backend } : {}),
    ...(typeof o.seconds === "number" ? { seconds: o.seconds } : {}),
  };
}

/**
 * Target MSEs from the HIGGS reference (higgs.md §2): keys "p,n". Exact for p = 1.
 *
 * @example
 * ```ts
 * import { HIGGS_TARGETS } from "./grid.ts";
 * if (HIGGS_TARGETS["2,256"] !== 0.007752) throw new Error();
 * ```
 */
export const HIGGS_TARGETS: Readonly<Record<string, number>> = {
  "1,4": 0.11748,
  "1,8": 0.034548,
  "1,16": 0.0095010,
  "1,32": 0.0025047,
  "1,256": 4.1185e-5,
  "2,16": 0.10760,
  "2,32": 0.05715,
  "2,64": 0.029606,
  "2,128": 0.01524,
  "2,256": 0.007752,
  "2,4096": 0.000588,
  "3,256": 0.04208,
  "4,256": 0.09593,
};

/**
 * The grid asset file name for (p, n), e.g. `p2_n256.json`.
 *
 * @example
 * ```ts
 * import { gridFileName } from "./grid.ts";
 * if (gridFileName(2, 256) !== "p2_n256.json") throw new Error();
 * ```
 */
export function gridFileName(p: number, n: number): string {
  return `p${p}_n${n}.json`;
}
