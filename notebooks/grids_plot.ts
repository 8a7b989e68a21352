/**
 * Draws the shipped 2-D grids with their Voronoi cells (the nearest-point regions the encoder
 * decides) as SVG: `drawGrid2(n)` for the grids notebook, or SVG files next to this script with
 * `deno run -A notebooks/grids_plot.ts [n …]` (default n = 16 64 256 4096). Cells are computed by
 * clipping a box with the perpendicular bisectors to the nearest 64 points (no plotting
 * dependency); the fill is darker near the origin, where the Gaussian mass is.
 */
import { loadGrid } from "../src/grids/load.ts";

type Pt = [number, number];

function clip(poly: Pt[], a: Pt, b: Pt): Pt[] {
  // Keep the side of the bisector of a, b that is nearer to a: (x − m)·(b − a) ≤ 0.
  const m: Pt = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  const d: Pt = [b[0] - a[0], b[1] - a[1]];
  const side = (q: Pt) => (q[0] - m[0]) * d[0] + (q[1] - m[1]) * d[1];
  const out: Pt[] = [];
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i]!, q = poly[(i + 1) % poly.length]!;
    const sp = side(p), sq = side(q);
    if (sp <= 0) out.push(p);
    if ((sp < 0 && sq > 0) || (sp > 0 && sq < 0)) {
      const t = sp / (sp - sq);
      out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return out;
}

/** The SVG picture of the shipped (2, n) grid and its Voronoi cells. */
export async function drawGrid2(n: number): Promise<string> {
  const g = await loadGrid(2, n);
  const pts: Pt[] = Array.from({ length: n }, (_, j) => [g.points[2 * j]!, g.points[2 * j + 1]!]);
  const R = 4.5, size = 720, s = size / (2 * R);
  const X = (v: number) => ((v + R) * s).toFixed(1), Y = (v: number) => ((R - v) * s).toFixed(1);
  const cells: string[] = [];
  pts.forEach((a, j) => {
    const near = pts.map((b, k) => [k, (b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2] as const)
      .filter(([k]) => k !== j).sort((u, v) => u[1] - v[1]).slice(0, 64);
    let poly: Pt[] = [[-R, -R], [R, -R], [R, R], [-R, R]];
    for (const [k] of near) poly = clip(poly, a, pts[k]!);
    const r = Math.hypot(a[0], a[1]);
    const shade = Math.round(235 - 80 * Math.exp(-r * r / 4));
    cells.push(
      `<polygon points="${poly.map((q) => `${X(q[0])},${Y(q[1])}`).join(" ")}" ` +
        `fill="rgb(${shade},${shade},255)" stroke="#446" stroke-width="${n > 1000 ? 0.3 : 0.8}"/>`,
    );
  });
  const dots = pts.map((a) => `<circle cx="${X(a[0])}" cy="${Y(a[1])}" r="${n > 1000 ? 0.8 : 2}"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size + 24}" ` +
    `font-family="sans-serif" font-size="13">\n<g>${cells.join("\n")}</g>\n<g fill="#c22">${dots.join("")}</g>\n` +
    `<text x="8" y="${size + 17}">HIGGS grid (p = 2, n = ${n}), ${Math.log2(n) / 2} bits/coord, ` +
    `MSE ${g.mse.toPrecision(5)} ± ${g.mseStdErr.toExponential(1)}; Voronoi cells on [−4.5, 4.5]²</text>\n</svg>\n`;
}

if (import.meta.main) {
  const sizes = Deno.args.length ? Deno.args.map(Number) : [16, 64, 256, 4096];
  for (const n of sizes) {
    const path = new URL(`./grids_p2_n${n}.svg`, import.meta.url);
    await Deno.writeTextFile(path, await drawGrid2(n));
    console.log(`wrote ${path.pathname}`);
  }
}
