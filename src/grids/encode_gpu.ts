// This module is browser compatible.
/**
 * Nearest-grid-point encoding on WebGPU (`shaders/grid_encode.wgsl`): one thread per vector, the
 * grid streamed through workgroup memory in tiles (a single tile when it fits in 12 KiB), f32
 * scores with a rigorous error bound. A vector whose best score is not certain (a near tie) comes
 * back with bit 31 set ({@linkcode NEAR_TIE}) and is settled exactly on the host
 * ({@linkcode resolveNearTies}), so the codes are bit-identical to `encodeNearestReference` (see
 * `encode.ts` for the tie rule). Random data never has near ties; constructed ties do.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Binding, type Dispatch, type Gpu, loadShader } from "../gpu/device.ts";
import { encodeOneExact } from "./encode.ts";
import { checkGridShape, type GridPoints } from "./grid.ts";

const WG = 64;

/** Bit 31 of a kernel code: a near tie, to be settled by {@linkcode resolveNearTies}. */
export const NEAR_TIE = 0x80000000;
/** Largest p the kernel handles (its private vector size). */
export const GPU_MAX_P = 16;

/** A grid uploaded for the encode and Lloyd kernels: n·(p+1) f32, per point 2·g then f32(‖g‖²). */
export interface GpuGrid {
  /** Vector dimension. */
  p: number;
  /** Number of grid points. */
  n: number;
  /** The packed grid on the device. */
  buffer: GPUBuffer;
  /** max |g|. */
  maxAbs: number;
  /** max ‖g‖². */
  maxNorm2: number;
}

/**
 * The packed kernel layout of a grid: per point 2·g (exact in f32) then f32(‖g‖²).
 *
 * @example
 * ```ts
 * import { packGridForGpu } from "./encode_gpu.ts";
 * const { data } = packGridForGpu({ p: 1, n: 2, points: new Float32Array([-1, 3]) });
 * if (data.join() !== "-2,1,6,9") throw new Error();
 * ```
 */
export function packGridForGpu(
  grid: GridPoints,
): { data: Float32Array; maxAbs: number; maxNorm2: number } {
  checkGridShape(grid.p, grid.n);
  const { p, n, points } = grid;
  if (points.length !== n * p) {
    throw new QuantlabError("bad-shape", `Grid (${p}, ${n}) has ${points.length} coordinates`);
  }
  const data = new Float32Array(n * (p + 1));
  let maxAbs = 0, maxNorm2 = 0;
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < p; i++) {
      const g = points[j * p + i]!;
      if (!(Math.abs(g) < 1e30)) {
        throw new QuantlabError(
          "bad-value",
          `Grid (${p}, ${n}) holds ${g} at coordinate ${
            j * p + i
          }; the GPU encoder needs |g| < 1e30`,
        );
      }
      data[j * (p + 1) + i] = 2 * g;
      s += g * g;
      maxAbs = Math.max(maxAbs, Math.abs(g));
    }
    data[j * (p + 1) + p] = s;
    maxNorm2 = Math.max(maxNorm2, s);
  }
  return { data, maxAbs, maxNorm2 };
}

/**
 * Uploads a grid for {@linkcode encodeNearestDispatch} (destroy `buffer` when done).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { uploadGrid } from "./encode_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const g = uploadGrid(gpu, { p: 1, n: 2, points: new Float32Array([-1, 1]) });
 *   if (!(g.buffer.size >= 8)) throw new Error(`buffer of ${g.buffer.size} bytes`);
 *   g.buffer.destroy();
 * }
 * ```
 */
export function uploadGrid(gpu: Gpu, grid: GridPoints): GpuGrid {
  if (grid.p > GPU_MAX_P) {
    throw new QuantlabError(
      "unsupported",
      `Grid dimension p = ${grid.p} is too large for the GPU encoder; use p ≤ ${GPU_MAX_P} or the CPU`,
    );
  }
  const { data, maxAbs, maxNorm2 } = packGridForGpu(grid);
  return { p: grid.p, n: grid.n, buffer: gpu.storage(data, "grid"), maxAbs, maxNorm2 };
}

/** Workgroup counts for m vectors: 2-D when more than 65535 workgroups are needed. */
export function dispatchSize(gpu: Gpu, m: number): [number, number] {
  const groups = Math.max(1, Math.ceil(m / WG));
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(groups, maxDim);
  return [gx, Math.ceil(groups / gx)];
}

/**
 * Settles flagged codes in place: every code with bit 31 ({@linkcode NEAR_TIE}) set is replaced by
 * the exact code of its vector. Returns how many were flagged.
 *
 * @example
 * ```ts
 * import { NEAR_TIE, resolveNearTies } from "./encode_gpu.ts";
 * const grid = { p: 1, n: 2, points: new Float32Array([-1, 1]) };
 * const codes = new Uint32Array([1 | NEAR_TIE]);
 * resolveNearTies(grid, new Float32Array([0]), codes);
 * if (codes[0] !== 0) throw new Error();
 * ```
 */
export function resolveNearTies(grid: GridPoints, x: Float32Array, codes: Uint32Array): number {
  let flagged = 0;
  for (let v = 0; v < codes.length; v++) {
    if (codes[v]! >= NEAR_TIE) {
      codes[v] = encodeOneExact(grid, x, v);
      flagged++;
    }
  }
  return flagged;
}

/**
 * One encode dispatch for a pipeline: reads m vectors (m·p f32) from binding `x`, writes m u32
 * codes to binding `codes`; a code with bit 31 set is a near tie whose low bits hold the f32
 * winner (settle it with {@linkcode resolveNearTies} where exact parity matters). Run it with
 * `gpu.runMany(...)` alone or with other passes.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { encodeNearestDispatch, uploadGrid } from "./encode_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const g = uploadGrid(gpu, { p: 1, n: 2, points: new Float32Array([-1, 1]) });
 *   const x = gpu.storage(new Float32Array([0.5, -2]));
 *   const codes = gpu.storage(8);
 *   await gpu.runMany("encode", [await encodeNearestDispatch(gpu, g, x, codes, 2)]);
 *   const c = new Uint32Array(await gpu.read(codes));
 *   if (c.join() !== "1,0") throw new Error(c.join());
 *   [g.buffer, x, codes].forEach((b) => b.destroy());
 * }
 * ```
 */
export async function encodeNearestDispatch(
  gpu: Gpu,
  grid: GpuGrid,
  x: Binding,
  codes: Binding,
  m: number,
  opts: { flagAll?: boolean } = {},
): Promise<Dispatch> {
  const code = await loadShader("grid_encode");
  const pipeline = gpu.pipeline("grid_encode", code);
  const [gx, gy] = dispatchSize(gpu, m);
  const params = new ArrayBuffer(32);
  const u = new Uint32Array(params);
  const f = new Float32Array(params);
  u[0] = m;
  u[1] = grid.n;
  u[2] = grid.p;
  u[3] = opts.flagAll ? 1 : 0;
  f[4] = grid.maxAbs;
  f[5] = grid.maxNorm2;
  u[6] = gx;
  return {
    pipeline,
    buffers: [gpu.uniform(new Uint8Array(params), "grid_encode params"), x, grid.buffer, codes],
    workgroups: [gx, gy],
  };
}

/**
 * Encodes m vectors (`x`: m·p f32) on the GPU; returns the same codes as `encodeNearest`. Inputs
 * larger than one storage binding are processed in slices. `flagAll` flags every vector as a near tie
 * (for testing the host resolver).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { encodeNearestGpu } from "./encode_gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const grid = { p: 2, n: 4, points: new Float32Array([-1, -1, -1, 1, 1, -1, 1, 1]) };
 *   const codes = await encodeNearestGpu(gpu, grid, new Float32Array([0.3, 0.9, 0, 0]));
 *   if (codes.join() !== "3,0") throw new Error(codes.join());
 * }
 * ```
 */
export async function encodeNearestGpu(
  gpu: Gpu,
  grid: GridPoints,
  x: Float32Array,
  opts: { flagAll?: boolean } = {},
): Promise<Uint16Array> {
  const p = grid.p;
  if (x.length % p !== 0) {
    throw new QuantlabError("bad-shape", `Input length ${x.length} is not a multiple of p = ${p}`);
  }
  const m = x.length / p;
  const out = new Uint16Array(m);
  if (m === 0) return out;
  const g = uploadGrid(gpu, grid);
  // Slices of whole vectors that fit one binding; multiples of 64 vectors keep offsets aligned.
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const slice = Math.max(64, Math.floor(limit / (4 * p) / 64) * 64);
  try {
    for (let s = 0; s < m; s += slice) {
      const k = Math.min(slice, m - s);
      const xb = gpu.storage(x.subarray(s * p, (s + k) * p), "grid_encode x");
      const cb = gpu.storage(4 * k, "grid_encode codes");
      try {
        await gpu.runMany("grid_encode", [
          await encodeNearestDispatch(gpu, g, xb, cb, k, opts),
        ], { wait: false });
        const c = new Uint32Array(await gpu.read(cb, 4 * k));
        resolveNearTies(grid, x.subarray(s * p, (s + k) * p), c);
        out.set(c, s);
      } finally {
        xb.destroy();
        cb.destroy();
      }
    }
  } finally {
    g.buffer.destroy();
  }
  return out;
}
