/**
 * `quantlab dequantize QUANT --out F.safetensors`: writes the f32 reconstruction Ŵ of every
 * quantized tensor under its original name (plain tensors as stored).
 *
 * @module
 */
import { type Command, outputMode, UsageError } from "../command.ts";
import { dequantizeCheckpoint } from "../../jobs/checkpoint_error.ts";
import { progressBars } from "../progress.ts";
import { outFlag, outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";

/** The `dequantize` command. */
export const dequantizeCommand: Command = {
  name: "dequantize",
  summary: "write the f32 reconstruction of a quantized checkpoint to a .safetensors file",
  usage: "quantlab dequantize QUANT_DIR|FILE --out F.safetensors [--force] [--tensor NAME …]",
  examples: ["quantlab dequantize /tmp/ql-nf4 -o /tmp/ql-nf4-f32.safetensors"],
  flags: {
    ...outFlag("output .safetensors file (must not exist; never a file of the input)"),
    ...outputModeFlags({ resumable: false }),
    tensor: { type: "string", multiple: true, help: "only this tensor (repeatable)" },
    ...QUIET_FLAG,
  },
  cpuOnly: "decodes on the CPU only",
  inputs: (args) => [{ path: args.positionals[0], what: "QUANT" }],
  async run(args) {
    const input = args.positionals[0];
    if (input === undefined || args.positionals.length > 1) {
      throw new UsageError(
        `Expected one quantized checkpoint; got ${args.positionals.length} inputs`,
      );
    }
    const out = args.values.out;
    if (typeof out !== "string" || !out.endsWith(".safetensors")) {
      throw new UsageError(
        `--out ${out ?? "(missing)"} is not valid; give a FILE.safetensors path`,
      );
    }
    const mode = outputMode(args) as "new" | "force"; // no --resume flag: never "resume"
    const r = await dequantizeCheckpoint(input, out, {
      mode,
      tensors: (args.values.tensor as string[] | undefined) ?? [],
      progress: progressBars(Boolean(args.values.quiet)),
    });
    console.log(`wrote ${r.tensors} tensors to ${out} in ${r.seconds.toFixed(1)} s`);
  },
};
