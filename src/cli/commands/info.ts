/**
 * `quantlab info`: what this machine offers quantlab — WebGPU adapter (and whether it is a
 * software fallback), the backend `auto` would pick, worker threads.
 *
 * @module
 */
import type { Command } from "../command.ts";
import { choiceFlag, commandBackend } from "../command.ts";
import { getGpu } from "../../gpu/device.ts";
import { BACKEND_CHOICES } from "../../gpu/backend.ts";
import { poolSize } from "../../cpu/pool.ts";
import { describeMatmulBackend } from "../../cpu/matmul.ts";

/** The `info` command. */
export const infoCommand: Command = {
  name: "info",
  summary: "show the WebGPU adapter, BLAS and threads quantlab will use",
  usage: "quantlab info [--backend auto|cpu|webgpu]",
  flags: {},
  async run(args) {
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
    for (const [k, v] of lines) console.log(`${k.padEnd(22)} ${v}`);
  },
};
