/**
 * `quantlab demo`: the main job on the embedded default — today a quantization demo on a synthetic
 * Gaussian weight matrix (methods × relative error × bits per weight).
 *
 * @module
 */
import type { Command } from "../command.ts";
import { intFlag } from "../command.ts";
import { formatTable } from "../table.ts";
import { runDemo } from "../../experiments/demo.ts";
import { progress } from "../progress.ts";

/** The `demo` command. */
export const demoCommand: Command = {
  name: "demo",
  summary: "quantize a synthetic Gaussian matrix with every method and print error × bits",
  usage: "quantlab demo [--rows N] [--cols N] [--seed K]",
  flags: {
    rows: { type: "string", default: "1024", help: "rows (output features)" },
    cols: { type: "string", default: "4096", help: "columns (input features)" },
    seed: { type: "string", default: "1", help: "PRNG seed of the matrix" },
  },
  async run(args) {
    const rows = intFlag(args, "rows", 1024, 1, 65536);
    const cols = intFlag(args, "cols", 4096, 64, 65536);
    const seed = intFlag(args, "seed", 1, 0, 2 ** 32 - 1);
    if (cols % 64 !== 0) throw new Error(`--cols ${cols} is not valid; use a multiple of 64`);
    console.log(`Synthetic N(0,1) weight matrix ${rows}×${cols}, seed ${seed}`);
    const bar = progress("demo", 4);
    const results = await runDemo({ rows, cols, seed, onRow: (r) => bar.tick(1, r.method) });
    bar.done();
    console.log(formatTable(
      ["method", "rel. error t²", "bits/weight", "seconds"],
      results.map((r) => [
        r.method,
        r.relError.toExponential(4),
        r.bitsPerWeight.toFixed(4),
        r.seconds.toFixed(2),
      ]),
    ));
  },
};
