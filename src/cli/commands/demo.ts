/**
 * `quantlab demo`: the main job on the embedded default — every method on a synthetic Gaussian
 * weight matrix (relative error × bits per weight), then on the embedded tiny Llama (perplexity
 * on Brown's test split against the dense model, with standard errors).
 *
 * @module
 */
import type { Command } from "../command.ts";
import { commandBackend, intFlag, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { DEMO_METHODS, runDemo } from "../../jobs/demo.ts";
import { progress } from "../progress.ts";
import { QUIET_FLAG } from "../vocabulary.ts";
import { runTinyPplTable, TINY_METHODS, TINY_MODEL_URL } from "../../jobs/tiny_ppl.ts";
import { readJsonFile } from "../../io/model_folder.ts";
import { joinPath } from "../../io/paths.ts";

/** The `demo` command. */
export const demoCommand: Command = {
  name: "demo",
  summary: "every method on a Gaussian matrix (error × bits) and on the tiny Llama (perplexity)",
  usage:
    "quantlab demo [--rows N] [--cols N] [--seed K] [--windows 16 | --full] [--model DIR] [--matrix-only]",
  examples: ["quantlab demo --rows 16 --cols 256 --matrix-only"],
  flags: {
    rows: { type: "string", default: "1024", help: "rows (output features)" },
    cols: { type: "string", default: "4096", help: "columns (input features)" },
    seed: { type: "string", default: "1", help: "PRNG seed of the matrix" },
    windows: { type: "string", default: "16", help: "Brown test windows (256 tokens) for PPL" },
    full: { type: "boolean", help: "the whole Brown test split (553 windows; minutes)" },
    model: {
      type: "string",
      help: "model folder for the perplexity table (default the embedded assets/tiny-llama)",
    },
    "matrix-only": { type: "boolean", help: "skip the tiny-model perplexity table" },
    ...QUIET_FLAG,
  },
  async run(args) {
    const rows = intFlag(args, "rows", 1024, 1, 65536);
    const cols = intFlag(args, "cols", 4096, 64, 65536);
    const seed = intFlag(args, "seed", 1, 0, 2 ** 32 - 1);
    if (cols % 64 !== 0) throw new UsageError(`--cols ${cols} is not valid; use a multiple of 64`);
    const backend = await commandBackend(demoCommand, args);
    const where = backend.kind === "webgpu" ? `WebGPU (${backend.gpu.description})` : "CPU";
    console.log(`Synthetic N(0,1) weight matrix ${rows}×${cols}, seed ${seed}, on ${where}`);
    const bar = progress("demo", DEMO_METHODS.length, { quiet: Boolean(args.values.quiet) });
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
    if (args.values["matrix-only"]) return;

    const windows = args.values.full ? "all" : intFlag(args, "windows", 16, 1, 100000);
    const model = typeof args.values.model === "string" ? args.values.model : undefined;
    const dir = model ?? TINY_MODEL_URL.pathname;
    const cfg = await readJsonFile(joinPath(dir, "config.json"), "Model config") as Record<
      string,
      unknown
    >;
    console.log(
      `\n${model ?? "assets/tiny-llama"} (d ${cfg.hidden_size}, ` +
        `${cfg.num_hidden_layers} layers, vocab ${cfg.vocab_size}): perplexity on ` +
        (windows === "all" ? "the whole" : `the first ${windows} windows of 256 tokens of`) +
        " Brown test; every projection quantized",
    );
    const bar2 = progress("demo ppl", TINY_METHODS.length + 1, {
      quiet: Boolean(args.values.quiet),
    });
    const table = await runTinyPplTable({
      methods: TINY_METHODS,
      windows,
      modelDir: dir,
      backend,
      onRow: (r) => bar2.tick(1, r.label),
    });
    bar2.done();
    const pm = (v: number | null, se: number | null, d: number) =>
      v === null ? "" : `${v.toFixed(d)}${se === null ? "" : ` ± ${se.toFixed(d)}`}`;
    console.log(formatTable(
      ["method", "bits/weight", "perplexity", "Δ vs dense (paired)", "Δ vs HIGGS same bits", "z"],
      table.map((r) => [
        r.label,
        r.bitsPerWeight.toFixed(3),
        pm(r.ppl, r.pplSe, 2),
        pm(r.deltaPpl, r.deltaPplSe, 2),
        r.vsReference ? pm(r.vsReference.deltaPpl, r.vsReference.deltaPplSe, 2) : "",
        r.vsReference?.z == null ? "" : r.vsReference.z.toFixed(1),
      ]),
    ));
    console.log(
      "± is one standard error over windows; Δ pairs each window with the dense model's (or with " +
        "the first HIGGS row of the same bit class), so it is much tighter than the perplexities' " +
        "own errors. z = paired mean difference / its SE: |z| > 2 is a difference beyond noise.",
    );
  },
};
