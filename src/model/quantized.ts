/**
 * Loads quantlab-quantized checkpoints (`quantization_config.quant_method: "quantlab"`, written by
 * `quantlab quantize`) straight into the runtime: every quantized projection becomes a
 * {@linkcode LutLinear} that runs on the packed codes (CPU LUT kernels, or WebGPU), and every other
 * tensor loads as usual. Importing this module registers the factory.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { tensorToF32 } from "../core/dtype.ts";
import { QuantizedCheckpoint } from "../io/quantized_checkpoint.ts";
import { LutLinear } from "../lut/linear.ts";
import { type LinearFactory, type LinearSpec, registerLinearFactory } from "./build.ts";
import type { Linear } from "./linear.ts";

const open = new Map<string, Promise<QuantizedCheckpoint>>();

function checkpointFor(spec: LinearSpec): Promise<QuantizedCheckpoint> {
  const path = (spec.source as { path?: unknown }).path;
  if (typeof path !== "string") {
    throw new QuantlabError(
      "unsupported",
      `Cannot load quantized "${spec.name}": its tensor source has no file path`,
    );
  }
  let ck = open.get(path);
  if (!ck) {
    ck = QuantizedCheckpoint.open(path);
    open.set(path, ck);
  }
  return ck;
}

/**
 * The linear factory of quantlab checkpoints: a {@linkcode LutLinear} for every projection whose
 * `.weight` is quantized in the folder, undefined (dense load) for the rest.
 *
 * @example
 * ```ts
 * import { quantlabLinearFactory } from "./quantized.ts";
 * if (typeof quantlabLinearFactory !== "function") throw new Error();
 * ```
 */
export const quantlabLinearFactory: LinearFactory = async (spec): Promise<Linear | undefined> => {
  const ck = await checkpointFor(spec);
  const weight = `${spec.name}.weight`;
  if (!ck.quantizedNames.includes(weight)) return undefined;
  const q = await ck.read(weight);
  if (q.shape[0] !== spec.outFeatures || q.shape[1] !== spec.inFeatures) {
    throw new QuantlabError(
      "bad-file",
      `Quantized "${weight}" has shape [${q.shape.join(", ")}] but the config needs ` +
        `[${spec.outFeatures}, ${spec.inFeatures}]`,
    );
  }
  const bias = spec.hasBias
    ? tensorToF32(await spec.source.read(`${spec.name}.bias`)).data as Float32Array
    : undefined;
  return new LutLinear(q, bias, weight);
};

/**
 * Closes the quantized checkpoints opened while loading from `path` (all when omitted).
 *
 * @example
 * ```ts
 * import { closeQuantizedCheckpoints } from "./quantized.ts";
 * await closeQuantizedCheckpoints();
 * await closeQuantizedCheckpoints("/no/such/checkpoint.safetensors"); // nothing open: no error
 * ```
 */
export async function closeQuantizedCheckpoints(path?: string): Promise<void> {
  for (const [p, ck] of [...open]) {
    if (path !== undefined && p !== path) continue;
    open.delete(p);
    try {
      (await ck).close();
    } catch {
      // a checkpoint that failed to open has nothing to close
    }
  }
}

registerLinearFactory("quantlab", quantlabLinearFactory);
