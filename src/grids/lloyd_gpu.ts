// This module is browser compatible.
/**
 * The WebGPU {@linkcode LloydStepper} (`shaders/grid_lloyd.wgsl`): one dispatch assigns every
 * sample to its nearest point and accumulates per-point sums and counts with 64-bit fixed-point
 * integer atomics (exact, order-independent: bit-identical sums on every run), then the host reads
 * n·(2p+1)+2 words back and forms the centroids. Samples are uploaded once per training set, split
 * into buffers that each fit one storage binding (2²⁴ samples at p = 8 are 512 MiB).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import type { LloydStepper, LloydSums } from "./build.ts";
import { dispatchSize, GPU_MAX_P, packGridForGpu } from "./encode_gpu.ts";

/** Options of {@linkcode gpuLloydStepper}. */
export interface GpuLloydOptions {
  /**
   * Most bytes of samples per GPU buffer (default: the device's storage binding limit); larger
   * sample sets are split into several buffers, one dispatch each.
   */
  partBytes?: number;
}

/**
 * A Lloyd stepper on `gpu` for grids of n points in dimension p (p ≤ 16).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { gpuLloydStepper } from "./lloyd_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const s = gpuLloydStepper(gpu, 1, 2);
 *   await s.setSamples(new Float32Array([-2, -1, 1, 2.5]));
 *   const r = await s.step(new Float32Array([-1, 1]));
 *   if (r.sums.join() !== "-3,3.5" || r.counts.join() !== "2,2") throw new Error(String(r.sums));
 *   s.dispose();
 * }
 * ```
 */
export function gpuLloydStepper(
  gpu: Gpu,
  p: number,
  n: number,
  opts: GpuLloydOptions = {},
): LloydStepper {
  if (p > GPU_MAX_P) {
    throw new QuantlabError(
      "unsupported",
      `Grid dimension p = ${p} is too large for the GPU; use p ≤ ${GPU_MAX_P}`,
    );
  }
  // Samples in parts that each fit one storage binding: [first vector, vectors, buffer].
  let parts: { first: number; m: number; buf: GPUBuffer }[] = [];
  let m = 0;
  const words = n * (2 * p + 1) + 2;
  const acc = gpu.storage(4 * words, "grid_lloyd acc");
  const zeros = new Uint32Array(words);
  const free = (): void => {
    for (const part of parts) part.buf.destroy();
    parts = [];
  };
  return {
    setSamples(samples: Float32Array): Promise<void> {
      free();
      m = samples.length / p;
      const max = opts.partBytes ??
        Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
      const perPart = Math.max(1, Math.floor(max / (4 * p)));
      for (let first = 0; first < m; first += perPart) {
        const cnt = Math.min(perPart, m - first);
        const buf = gpu.storage(
          samples.subarray(first * p, (first + cnt) * p),
          "grid_lloyd samples",
        );
        parts.push({ first, m: cnt, buf });
      }
      return Promise.resolve();
    },
    async step(points: Float32Array, start = 0, end?: number): Promise<LloydSums> {
      if (parts.length === 0) {
        throw new QuantlabError(
          "bad-argument",
          "Lloyd stepper has no samples; call setSamples first",
        );
      }
      const e = Math.min(m, end ?? m);
      const { data } = packGridForGpu({ p, n, points });
      const gb = gpu.storage(data, "grid_lloyd grid");
      gpu.write(acc, zeros);
      const uniforms: GPUBuffer[] = [];
      try {
        const code = await loadShader("grid_lloyd");
        const pipeline = gpu.pipeline("grid_lloyd", code);
        // One dispatch per part overlapping [start, e); the atomics accumulate across them.
        const dispatches = [];
        for (const part of parts) {
          const lo = Math.max(start, part.first), hi = Math.min(e, part.first + part.m);
          if (hi <= lo) continue;
          const [gx, gy] = dispatchSize(gpu, hi - lo);
          const params = gpu.uniform(
            new Uint32Array([hi - lo, n, p, lo - part.first, gx, 0, 0, 0]),
          );
          uniforms.push(params);
          dispatches.push({ pipeline, buffers: [params, part.buf, gb, acc], workgroups: [gx, gy] });
        }
        await gpu.runMany("grid_lloyd", dispatches, { wait: false });
        const w = new Uint32Array(await gpu.read(acc, 4 * words));
        const fixed = (k: number): number => (w[k + 1]! | 0) + w[k]! / 4294967296;
        const sums = new Float64Array(n * p);
        const counts = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          const base = j * (2 * p + 1);
          for (let i = 0; i < p; i++) sums[j * p + i] = fixed(base + 2 * i);
          counts[j] = w[base + 2 * p]!;
        }
        return { sums, counts, sse: fixed(n * (2 * p + 1)) };
      } finally {
        gb.destroy();
        for (const u of uniforms) u.destroy();
      }
    },
    dispose() {
      free();
      acc.destroy();
    },
  };
}
