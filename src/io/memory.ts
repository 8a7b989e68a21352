/**
 * How much memory this machine can give a new allocation now, and what a checkpoint's dense
 * 16-bit tensors would cost widened: what `quantlab ppl` / `generate` weigh to decide whether a
 * bf16 / f16 checkpoint's weights stay 16-bit (`--weights auto`).
 *
 * @module
 */
import type { Checkpoint } from "./sharded.ts";

/**
 * Parses `MemAvailable` from the text of `/proc/meminfo`, in bytes; null when absent.
 *
 * @example
 * ```ts
 * import { parseMemAvailable } from "./memory.ts";
 * if (parseMemAvailable("MemTotal: 4 kB\nMemAvailable:    2 kB\n") !== 2048) throw new Error();
 * ```
 */
export function parseMemAvailable(meminfo: string): number | null {
  const m = meminfo.match(/^MemAvailable:\s+(\d+)\s*kB/m);
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * Bytes of memory available to a new allocation: `MemAvailable` of `/proc/meminfo` (Linux: free
 * memory plus the page cache and other memory the kernel can reclaim), else `Deno.systemMemoryInfo`'s
 * `available`; null when neither can be read.
 *
 * @example
 * ```ts
 * import { availableMemoryBytes } from "./memory.ts";
 * const b = availableMemoryBytes();
 * if (b !== null && !(b > 0)) throw new Error(String(b));
 * ```
 */
export function availableMemoryBytes(): number | null {
  try {
    const fromProc = parseMemAvailable(Deno.readTextFileSync("/proc/meminfo"));
    if (fromProc !== null) return fromProc;
  } catch { /* not Linux, or no read permission */ }
  try {
    return Deno.systemMemoryInfo().available;
  } catch {
    return null;
  }
}

/**
 * Bytes of a checkpoint's 16-bit float tensors (BF16, F16) and of all its tensors.
 *
 * @example
 * ```ts
 * import { halfTensorBytes } from "./memory.ts";
 * import { openCheckpoint } from "./sharded.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * await writeSafetensors(`${dir}/model.safetensors`, {
 *   a: new Tensor([4], "BF16", new Uint16Array(4)),
 *   b: Tensor.zeros([2]),
 * });
 * const ckpt = await openCheckpoint(dir);
 * const r = await halfTensorBytes(ckpt);
 * ckpt.close();
 * await Deno.remove(dir, { recursive: true });
 * if (r.half !== 8 || r.total !== 16) throw new Error(JSON.stringify(r));
 * ```
 */
export async function halfTensorBytes(ckpt: Checkpoint): Promise<{ half: number; total: number }> {
  let half = 0, total = 0;
  for (const name of ckpt.names()) {
    const info = await ckpt.info(name);
    total += info.byteLength;
    if (info.dtype === "BF16" || info.dtype === "F16") half += info.byteLength;
  }
  return { half, total };
}
