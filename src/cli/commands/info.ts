/**
 * `quantlab info`: what this machine offers quantlab — WebGPU adapter (and whether it is a
 * software fallback), the backend `auto` would pick, worker threads. `quantlab info MODEL`
 * describes a checkpoint instead (see `../model_info.ts`).
 *
 * @module
 */
import type { Command } from "../command.ts";
import { choiceFlag, commandBackend, UsageError } from "../command.ts";
import { JSON_FLAG } from "../vocabulary.ts";
import { printJson } from "../json_output.ts";
import { modelInfoJson, modelInfoText, readModelInfo } from "../model_info.ts";
import { getGpu } from "../../gpu/device.ts";
import { BACKEND_CHOICES } from "../../gpu/backend.ts";
import { poolSize } from "../../cpu/pool.ts";
import { describeMatmulBackend } from "../../cpu/matmul.ts";

/** The `info` command. */
export const infoCommand: Command = {
  name: "info",
  summary: "describe a checkpoint (MODEL), or the WebGPU adapter, BLAS and threads (no MODEL)",
  usage:
    "quantlab info [MODEL_DIR|FILE.safetensors [--tensors]] [--json] [--backend auto|cpu|webgpu]",
  examples: [
    "quantlab info",
    "quantlab info assets/tiny-llama",
    "quantlab info /tmp/ql-nf4 --tensors",
  ],
  flags: {
    tensors: { type: "boolean", help: "MODEL: one row per tensor (shape, method, bits, Hadamard)" },
    ...JSON_FLAG,
  },
  inputs: (args) => [{ path: args.positionals[0], what: "MODEL" }],
  async run(args) {
    if (args.positionals.length > 1) {
      throw new UsageError(`Expected at most one MODEL; got ${args.positionals.length}`);
    }
    const model = args.positionals[0];
    if (model !== undefined) {
      const info = await readModelInfo(model);
      if (args.values.json) printJson("info", modelInfoJson(info));
      else console.log(modelInfoText(info, Boolean(args.values.tensors)));
      return;
    }
    if (args.values.tensors) throw new UsageError("--tensors needs a MODEL to describe");
    const choice = choiceFlag(args, "backend", BACKEND_CHOICES);
    const gpu = await getGpu();
    const lines: [string, string][] = [
      ["deno", `${Deno.version.deno} (v8 ${Deno.version.v8})`],
      ["cpu threads", String(poolSize())],
      ["dense matmul", describeMatmulBackend()],
      [
        "webgpu adapter",
        gpu
          ? `${gpu.description}${
            gpu.isFallback ? " (software fallback: correct, never timed)" : ""
          }`
          : "none",
      ],
    ];
    if (gpu) {
      lines.push(["webgpu f16", gpu.hasF16 ? "yes" : "no"]);
      lines.push(["webgpu timestamps", gpu.info.hasTimestamps ? "yes" : "no"]);
      lines.push([
        "max storage binding",
        `${(gpu.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`,
      ]);
    }
    const backend = await commandBackend(infoCommand, args);
    lines.push([`backend (${choice})`, backend.kind]);
    if (args.values.json) {
      const key = (k: string): string =>
        k.replace(/ \(.*\)$/, "").replace(/ (\w)/g, (_, c: string) => c.toUpperCase());
      printJson("device", { ...Object.fromEntries(lines.map(([k, v]) => [key(k), v])), choice });
      return;
    }
    for (const [k, v] of lines) console.log(`${k.padEnd(22)} ${v}`);
  },
};
