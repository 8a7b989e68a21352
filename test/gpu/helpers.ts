/**
 * GPU test cases that are skipped visibly, never passed silently.
 *
 * A case that needs a WebGPU adapter is declared with {@linkcode gpuTest} (or spreads
 * {@linkcode gpuCase} into `Deno.test`): without an adapter it is `ignore`d with the reason in its
 * name, so the JUnit report counts it as skipped. `QUANTLAB_REQUIRE_GPU=1` (for runs on a machine
 * with a GPU) turns every such skip into a failure.
 *
 * A software adapter (llvmpipe, lavapipe) counts as an adapter here: it compiles and runs the same
 * WGSL kernels, only slowly, so every case below does its real work on it. Nothing in the suite times
 * a kernel against a bound, so no case needs hardware beyond that.
 */
import { getGpu, type Gpu } from "../../src/gpu/device.ts";
import { skipName } from "../skip.ts";

/** The adapter of this process, or null. */
export const gpu: Gpu | null = await getGpu();

/** True when `QUANTLAB_REQUIRE_GPU=1`: a missing adapter fails the GPU cases instead of skipping them. */
export const requireGpu: boolean = Deno.env.get("QUANTLAB_REQUIRE_GPU") === "1";

/** The reason appended to the name of a skipped case. */
export const NO_GPU_REASON = "no WebGPU adapter";

/** `name` and `ignore` for a `Deno.test` definition that needs a WebGPU adapter. */
export function gpuCase(name: string): { name: string; ignore: boolean } {
  const ignore = gpu === null && !requireGpu;
  return { name: skipName(name, ignore, NO_GPU_REASON), ignore };
}

/** The adapter; throws (failing the case) when there is none, as under `QUANTLAB_REQUIRE_GPU=1`. */
export function needGpu(): Gpu {
  if (gpu === null) {
    throw new Error(
      "This case needs a WebGPU adapter and QUANTLAB_REQUIRE_GPU=1 forbids skipping it; none was found",
    );
  }
  return gpu;
}

/** Options of {@linkcode gpuTest}. */
export interface GpuTestOptions {
  /** Passed to `Deno.test` (WebGPU keeps resources open across cases). */
  sanitizeResources?: boolean;
  /** Passed to `Deno.test`. */
  sanitizeOps?: boolean;
}

/** A `Deno.test` case that needs a WebGPU adapter: skipped visibly without one. */
export function gpuTest(
  name: string,
  fn: (gpu: Gpu, t: Deno.TestContext) => void | Promise<void>,
  options: GpuTestOptions = {},
): void {
  Deno.test({ ...gpuCase(name), ...options, fn: (t) => fn(needGpu(), t) });
}
