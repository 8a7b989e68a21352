/**
 * `quantlab demo`: the main job on the embedded default — today a quantization demo on a synthetic
 * Gaussian weight matrix (methods × relative error × bits per weight).
 *
 * @module
 */
import type { Command } from "../command.ts";
import { intFlag, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { DEMO_METHODS, runDemo } from "../../experiments/demo.ts";
import { choiceFlag } from "../command.ts";
import { BACKEND_CHOICES, selectBackend } from "../../gpu/backend.ts";
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
    if (cols % 64 !== 0) throw new UsageError(`--cols ${cols} is not valid; use a multiple of 64`);
    const backend = await selectBackend(choiceFlag(args, "backend", BACKEND_CHOICES));
    const where = backend.kind === "webgpu" ? `WebGPU (${backend.gpu.description})` : "CPU";
    console.log(`Synthetic N(0,1) weight matrix ${rows}×${cols}, seed ${seed}, on ${where}`);
    const bar = progress("demo", DEMO_METHODS.length);
    const results = await runDemo({
      rows,
      cols,
      seed,
      backend,
      onRow: (r) => bar.tick(1, r.label),
    });
    bar.done();
    console.log(formatTable(
      ["method", "bits/weight", "rel. error t²", "grid MSE (HIGGS)", "seconds"],
      results.map((r) => [
        r.label,
        r.bitsPerWeight.toFixed(3),
        r.relError.toFixed(5),
        r.gridMse === null ? "" : r.gridMse.toFixed(5),
        r.seconds.toFixed(2),
      ]),
    ));
    console.log(
      "bits/weight counts codes, scales and zeros at their stored precision and the table; " +
        "HIGGS t² ≈ grid MSE is the Hadamard rotation at work.",
    );
  },
};
