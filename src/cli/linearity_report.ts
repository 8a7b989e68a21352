/**
 * What `quantlab linearity` prints for a whole (unsharded) run: the settings line, one row per
 * assignment (predicted vs measured change), the per-projection table of `--single`, and the fit of
 * measured against predicted, overall and per half bit of bits/weight.
 *
 * @module
 */
import type { LinearityMetric } from "../jobs/linearity.ts";
import type { LinearityRow } from "../jobs/linearity_check.ts";
import { summarizeLinearity } from "../jobs/linearity_summary.ts";
import { formatTable } from "./table.ts";

/** What the report says about the run besides its rows. */
export interface LinearityReportContext {
  /** The model, e.g. `assets/tiny-llama (llama)`. */
  model: string;
  /** The sensitivities file. */
  sensPath: string;
  metric: LinearityMetric;
  /** The dense model's perplexity (metric ppl). */
  base: number;
  /** Windows × ctx tokens measured. */
  windows: number;
  ctx: number;
  /** How many grid assignments, grids and other methods (`--baseline`) were measured. */
  assignments: number;
  grids: number;
  baselines: number;
  hadamard: number;
  /** The grid of the single-projection rows (`--single`). */
  singleGrid?: string;
}

const fmt = (v: number) => v.toPrecision(4);
const pct = (v: number | null) => v === null ? "–" : `${(100 * v).toFixed(1)} %`;
/** The measured change, with its standard error where there is one. */
const measuredText = (x: LinearityRow) =>
  x.measuredSe === null ? fmt(x.measured) : `${fmt(x.measured)} ± ${x.measuredSe.toPrecision(2)}`;

/** Prints the report of a finished run (see the module doc). */
export function printLinearityReport(rows: LinearityRow[], ctx: LinearityReportContext): void {
  const unit = ctx.metric === "kl" ? "KL (nats/token)" : "ΔPPL";
  console.log(`model        ${ctx.model}; sensitivities ${ctx.sensPath}`);
  console.log(
    `metric       ${
      ctx.metric === "kl" ? "KL from the dense model, random tokens" : `perplexity ${fmt(ctx.base)}`
    }, ${ctx.windows} × ${ctx.ctx} tokens; ${ctx.assignments} assignments of ${ctx.grids} grids` +
      (ctx.baselines ? ` + ${ctx.baselines} other methods` : "") + `, ` +
      `Hadamard ${ctx.hadamard}`,
  );
  // The fit is over whole-model rows; single-projection rows get their own table.
  const whole = rows.filter((x) => x.family !== "single");
  console.log(formatTable(
    [
      "assignment",
      "bits/weight",
      `predicted ${unit}`,
      "from grid MSE",
      `measured ${unit}`,
      "measured/predicted",
    ],
    whole.map((x) => [
      x.label,
      x.bitsPerWeight.toFixed(3),
      fmt(x.predicted),
      fmt(x.predictedFromGrid),
      measuredText(x),
      (x.measured / x.predicted).toFixed(3),
    ]),
  ));
  const singles = rows.filter((x) => x.family === "single");
  if (singles.length) printSingleProjections(singles, unit, ctx.singleGrid!);
  printLinearityFit(whole);
}

/** The `--single` rows: each projection quantized alone, the rest of the model dense. */
function printSingleProjections(singles: LinearityRow[], unit: string, grid: string): void {
  console.log(`\none projection quantized at a time (${grid}):`);
  console.log(formatTable(
    ["projection", "t²", `predicted ${unit}`, `measured ${unit}`, "measured/predicted"],
    singles.map((x) => {
      const i = x.grids.findIndex((g) => g !== "dense");
      return [
        x.label.split(" ")[1]!,
        x.t2[i]!.toFixed(4),
        fmt(x.predicted),
        measuredText(x),
        (x.measured / x.predicted).toFixed(2),
      ];
    }),
  ));
  console.log("");
}

/** The fit of measured against predicted over the whole-model rows, then per half bit. */
function printLinearityFit(whole: LinearityRow[]): void {
  const s = summarizeLinearity(whole);
  console.log(
    `fit          measured ≈ ${s.slope.toFixed(3)} × predicted (R² ${s.r2.toFixed(4)}); ` +
      `median |measured/predicted − 1| ${pct(s.medianRelativeError)} over the ` +
      `${s.significantRows} rows measured beyond 2 SE; |measured − predicted| ≤ 2 SE in ` +
      `${pct(s.withinTwoSe)} of rows`,
  );
  const byBits = [...new Set(whole.map((x) => Math.floor(x.bitsPerWeight * 2) / 2))]
    .sort((a, b) => a - b);
  console.log(formatTable(
    ["bits/weight ≥", "rows", "slope", "rows > 2 SE", "median |rel. error|", "within 2 SE"],
    byBits.map((b) => {
      const ss = summarizeLinearity(whole, b);
      return [
        b.toFixed(1),
        String(ss.rows),
        ss.slope.toFixed(3),
        String(ss.significantRows),
        pct(ss.medianRelativeError),
        pct(ss.withinTwoSe),
      ];
    }),
  ));
}
