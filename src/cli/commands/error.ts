/**
 * `quantlab error ORIG QUANT`: relative error ‖W − Ŵ‖²/‖W‖² and bits per weight of every
 * quantized tensor, as a table, with the totals.
 *
 * @module
 */
import { type Command, UsageError } from "../command.ts";
import { formatTable } from "../table.ts";
import { totalError } from "../../quant/error_metrics.ts";
import { checkpointError } from "../../jobs/checkpoint_error.ts";
import { JSON_FLAG, QUIET_FLAG } from "../vocabulary.ts";
import { printJson } from "../json_output.ts";
import { warn } from "../warn.ts";
import { progressBars } from "../progress.ts";

/** The `error` command. */
export const errorCommand: Command = {
  name: "error",
  summary: "relative MSE ‖W−Ŵ‖²/‖W‖² and bits/weight of a quantized checkpoint",
  usage: "quantlab error ORIG_DIR|FILE QUANT_DIR|FILE [--tensor NAME …] [--json]",
  examples: [
    "quantlab error assets/tiny-llama /tmp/ql-nf4",
    "quantlab error assets/tiny-llama /tmp/ql-higgs --tensor model.layers.0.mlp.up_proj.weight --json",
  ],
  flags: {
    tensor: { type: "string", multiple: true, help: "only this tensor (repeatable)" },
    ...QUIET_FLAG,
    ...JSON_FLAG,
  },
  cpuOnly: "compares checkpoints on the CPU only",
  inputs: (args) => [
    { path: args.positionals[0], what: "ORIG" },
    { path: args.positionals[1], what: "QUANT" },
  ],
  async run(args) {
    if (args.positionals.length !== 2) {
      throw new UsageError(
        `Expected two inputs, the original and the quantized checkpoint; got ${args.positionals.length}`,
      );
    }
    const [orig, quant] = args.positionals as [string, string];
    const errors = await checkpointError(orig, quant, {
      tensors: (args.values.tensor as string[] | undefined) ?? [],
      progress: progressBars(Boolean(args.values.quiet) || Boolean(args.values.json)),
    });
    if (errors.length === 0) warn("error", `${quant} has no quantized tensor to compare`);
    const total = totalError(errors);
    if (args.values.json) {
      printJson("error", { original: orig, quantized: quant, tensors: errors, total });
      return;
    }
    const rows = errors.map((e) => [
      e.name,
      `${e.shape[0]}x${e.shape[1]}`,
      e.method,
      e.relMse.toExponential(4),
      e.bitsPerWeight.toFixed(4),
    ]);
    rows.push([
      `total (${total.tensors} tensors)`,
      `${(total.weights / 1e6).toFixed(2)}M`,
      "",
      total.relMse.toExponential(4),
      total.bitsPerWeight.toFixed(4),
    ]);
    console.log(formatTable(["tensor", "shape", "method", "rel MSE", "bits/weight"], rows));
  },
};
