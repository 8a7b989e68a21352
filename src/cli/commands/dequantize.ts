/**
 * `quantlab dequantize QUANT --out F.safetensors`: writes the f32 reconstruction Ŵ of every
 * quantized tensor under its original name (plain tensors as stored).
 *
 * @module
 */
import { type Command, UsageError } from "../command.ts";
import { dequantizeCheckpoint } from "../../jobs/checkpoint_error.ts";
import { progressBars } from "../progress.ts";

/** The `dequantize` command. */
export const dequantizeCommand: Command = {
  name: "dequantize",
  summary: "write the f32 reconstruction of a quantized checkpoint to a .safetensors file",
  usage: "quantlab dequantize QUANT_DIR|FILE --out F.safetensors [--tensor NAME …]",
  flags: {
    out: { type: "string", short: "o", help: "output .safetensors file" },
    tensor: { type: "string", multiple: true, help: "only this tensor (repeatable)" },
    quiet: { type: "boolean", short: "q", help: "no progress bar" },
  },
  cpuOnly: "decodes on the CPU only",
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
    const r = await dequantizeCheckpoint(input, out, {
      tensors: (args.values.tensor as string[] | undefined) ?? [],
      progress: progressBars(Boolean(args.values.quiet)),
    });
    console.log(`wrote ${r.tensors} tensors to ${out} in ${r.seconds.toFixed(1)} s`);
  },
};
