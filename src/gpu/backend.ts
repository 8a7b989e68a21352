// This module is browser compatible.
/**
 * Backend selection: `auto` picks WebGPU only for a real (non-fallback) adapter; `webgpu` insists
 * on an adapter (a fallback one is allowed, for testing); `cpu` never touches the GPU.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { getGpu, type Gpu } from "./device.ts";

/** What the user may ask for. */
export type BackendChoice = "auto" | "cpu" | "webgpu";

/** The resolved backend. */
export type Backend = { kind: "cpu" } | { kind: "webgpu"; gpu: Gpu };

/** Valid `--backend` values. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "cpu", "webgpu"];

/**
 * Resolves a backend choice.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./backend.ts";
 * const b = await selectBackend("cpu");
 * if (b.kind !== "cpu") throw new Error();
 * ```
 */
export async function selectBackend(choice: BackendChoice): Promise<Backend> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new QuantlabError(
      "bad-argument",
      `Backend "${choice}" is not valid; use one of ${BACKEND_CHOICES.join(", ")}`,
    );
  }
  if (choice === "cpu") return { kind: "cpu" };
  const gpu = await getGpu();
  if (choice === "webgpu") {
    if (!gpu) {
      // The user asked for it: fixed by changing --backend (exit 2).
      throw new QuantlabError(
        "bad-argument",
        "Backend webgpu was asked for but no adapter exists; use --backend cpu or auto",
      );
    }
    return { kind: "webgpu", gpu };
  }
  return gpu && !gpu.isFallback ? { kind: "webgpu", gpu } : { kind: "cpu" };
}
