/**
 * `quantlab allocate SENS.json --budget 3.25 --out plan.json`: optimal per-projection HIGGS grids
 * under a bits-per-weight budget, from the sensitivities of `quantlab sensitivity`. Under the
 * linearity model the metric grows by Σ α_l·t_l², and after the Hadamard rotation a projection
 * coded with grid (p, n) has t² = the grid's Gaussian MSE, so the choice is a multiple-choice
 * knapsack (`src/jobs/allocation.ts`, exact dynamic programming). Costs count the codes
 * and scales of the padded rows and each tensor's lookup table, exactly as `quantize` will store
 * them (`higgsStoredBits`), so the plan measured by `quantlab error` keeps its budget. The
 * Hadamard block follows the same `--hadamard` rule as `quantize` (`auto` by default). The plan
 * lists each
 * projection's grid; `quantlab quantize MODEL --plan plan.json` applies it.
 *
 * @module
 */
import { choiceFlag, type Command, numberFlag, outputMode, UsageError } from "../command.ts";
import { outputModeFlags } from "../vocabulary.ts";
import { refuseExistingOutputs } from "../../io/output_guard.ts";
import { HADAMARD_HELP, parseHadamardFlag } from "../hadamard_flag.ts";
import { QuantlabError } from "../../core/errors.ts";
import { higgsStoredBits } from "../../quant/higgs_params.ts";
import { formatTable } from "../table.ts";
import { HIGGS_GRID_FLAGS } from "../linearity_flags.ts";
import { writeJsonAtomic } from "../../io/atomic.ts";
import type { QuantOptions } from "../../quant/quantizer.ts";
import { allocateBits } from "../../jobs/allocation.ts";
import { higgsGridOptions } from "../../jobs/linearity_configs.ts";
import { readSensitivityFile } from "../../jobs/sensitivity.ts";

/** Schema name of allocation plans. */
export const ALLOCATION_SCHEMA = "quantlab.allocation";

/** Parses "2:16,2:256" into (p, n) pairs. */
export function parseGrids(spec: string): [number, number][] {
  return spec.split(",").map((part) => {
    const m = /^(\d+):(\d+)$/.exec(part.trim());
    if (!m) {
      throw new UsageError(`--grids ${spec} is not valid; use p:n pairs, e.g. 2:16,2:64,2:256`);
    }
    return [Number(m[1]), Number(m[2])];
  });
}

/** The `allocate` command. */
export const allocateCommand: Command = {
  name: "allocate",
  summary: "optimal per-projection HIGGS grids under a bit budget (linearity model, exact DP)",
  usage: "quantlab allocate SENS.json --budget BITS [--grids 2:16,2:64,2:256,2:4096] " +
    "[--hadamard auto] [--out plan.json [--force]]",
  examples: [
    "quantlab allocate /tmp/ql-sens.json --budget 3.25 -o /tmp/ql-plan.json",
  ],
  flags: {
    budget: { type: "string", help: "average bits per weight over the measured projections" },
    ...HIGGS_GRID_FLAGS,
    hadamard: { type: "string", default: "auto", help: HADAMARD_HELP },
    // Unbiased by default here (one grid everywhere keeps rms): with unbiased scales the optimal
    // allocation beats one grid on both embedded models; with rms it does not pay (experiments.md).
    "scale-rule": {
      type: "string",
      default: "unbiased",
      help: "HIGGS scales: unbiased (error orthogonal to W; t²/(1 − t²)) | rms (the paper's)",
    },
    out: { type: "string", short: "o", help: "plan JSON for quantize --plan (written atomically)" },
    ...outputModeFlags({ resumable: false }),
  },
  cpuOnly: "allocates bits on the CPU only",
  inputs: (args) => [{ path: args.positionals[0], what: "SENS.json" }],
  async run(args) {
    const path = args.positionals[0];
    if (!path || args.positionals.length > 1) {
      throw new UsageError("allocate needs exactly one sensitivity results file; see --help");
    }
    if (args.values.budget === undefined) throw new UsageError("--budget BITS is required");
    const budget = numberFlag(args, "budget", 4, 0.5, 32);
    const hadamard = parseHadamardFlag(String(args.values.hadamard));
    const out = typeof args.values.out === "string" ? args.values.out : undefined;
    if (out) {
      await refuseExistingOutputs([{ path: out, what: "--out" }], outputMode(args), {
        resumable: false,
      });
    }
    const { document: doc, sha256: fileSha } = await readSensitivityFile(path);
    const projections = doc.result.projections;
    const grids = parseGrids(String(args.values.grids));
    const scaleRule = choiceFlag(args, "scale-rule", ["rms", "unbiased"] as const);
    const options = await higgsGridOptions(
      grids,
      hadamard.hadamard || hadamard.hadamardMax || 1024,
      scaleRule,
    );
    // Negative α (noise that happened to help, seen on untrained models with "ppl") would pull
    // bits away for free; they count as 0.
    const negative = projections.filter((s) => s.alpha < 0).length;
    const layers = projections.map((s) => {
      if (s.rows === undefined || s.cols === undefined) {
        throw new QuantlabError(
          "bad-file",
          `${path} gives no shape (rows, cols) for ${s.name}; it was written by an older ` +
            "quantlab: rerun quantlab sensitivity (it reuses the measurements in its log)",
        );
      }
      const [rows, cols] = [s.rows, s.cols];
      return {
        name: s.name,
        alpha: Math.max(0, s.alpha),
        size: s.size,
        // Exactly what quantize stores: codes and scales of the padded row, the table.
        bits: options.map((o) =>
          higgsStoredBits(rows, cols, { p: o.p, gridSize: o.n, ...hadamard })
        ),
      };
    });
    const total = layers.reduce((s, l) => s + l.size, 0);
    // Each option's cost over the whole model (what it costs used everywhere).
    options.forEach((o, j) => {
      o.bits = layers.reduce((s, l) => s + l.size * l.bits[j]!, 0) / total;
    });
    const a = allocateBits(layers, options, budget);
    const uniform = options
      .map((o, j) => ({ o, j, delta: layers.reduce((s, l) => s + l.alpha * o.error, 0) }))
      .filter((u) => u.o.bits <= budget + 1e-12)
      .sort((x, y) => x.delta - y.delta)[0];
    const unit = doc.result.metric === "kl" ? "ΔKL (nats/token)" : "ΔPPL";

    console.log(`sensitivities ${path}: ${projections.length} projections (${doc.result.metric})`);
    console.log(
      `budget        ${budget} bits/weight → ${a.bitsPerWeight.toFixed(4)} used` +
        (a.exact ? "" : " (discretized costs)"),
    );
    console.log(`predicted     ${unit} ${a.predictedIncrease.toPrecision(4)}`);
    if (uniform) {
      console.log(
        `uniform       ${uniform.o.name} everywhere (${uniform.o.bits.toFixed(4)} bits/weight): ` +
          `${unit} ${uniform.delta.toPrecision(4)}`,
      );
    } else console.log("uniform       no single grid fits the budget");
    if (negative) console.log(`note          ${negative} negative α counted as 0`);
    console.log(formatTable(
      ["grid", "bits/weight", "grid MSE", "projections", "share of weights"],
      options.map((o, j) => {
        const chosen = layers.filter((_, i) => a.choice[i] === j);
        const w = chosen.reduce((s, l) => s + l.size, 0);
        return [
          o.name,
          o.bits.toFixed(4),
          o.error.toFixed(6),
          String(chosen.length),
          `${(100 * w / total).toFixed(1)} %`,
        ];
      }),
    ));
    if (out) {
      const tensors: Record<string, QuantOptions> = {};
      projections.forEach((s, i) => {
        const o = options[a.choice[i]!]!;
        tensors[`${s.name}.weight`] = {
          p: o.p,
          gridSize: o.n,
          ...(scaleRule === "unbiased" ? { extra: { scaleRule } } : {}),
        };
      });
      await writeJsonAtomic(out, {
        schema: ALLOCATION_SCHEMA,
        schemaVersion: 1,
        createdAt: new Date().toISOString(),
        sensitivity: { path, sha256: fileSha, metric: doc.result.metric },
        model: doc.model,
        method: "higgs",
        hadamard: hadamard.hadamard ?? "auto",
        ...(hadamard.hadamardMax !== undefined ? { hadamardMax: hadamard.hadamardMax } : {}),
        scaleRule,
        budget,
        options: options.map(({ name, p, n, bits, error }) => ({ name, p, n, bits, error })),
        result: {
          bitsPerWeight: a.bitsPerWeight,
          predictedIncrease: a.predictedIncrease,
          exact: a.exact,
          uniform: uniform ? { name: uniform.o.name, predictedIncrease: uniform.delta } : null,
        },
        projections: projections.map((s, i) => ({
          name: s.name,
          size: s.size,
          alpha: s.alpha,
          grid: options[a.choice[i]!]!.name,
        })),
        tensors,
      });
      console.log(`plan          ${out} (quantlab quantize MODEL --plan ${out} --out …)`);
    }
  },
};
