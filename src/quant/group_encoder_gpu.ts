// This module is browser compatible.
/**
 * The group encoder on WebGPU (`shaders/absmax.wgsl`): statistics, then the parameters computed on
 * the CPU at their stored precision, then the codes, in row chunks that fit one storage binding.
 * Called through `encodeGroups` (`group_encoder.ts`) with a WebGPU backend.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import { rowStrideWords } from "./packing.ts";
import type { EncodedGroups, EncodeMode, GroupLayout, GroupParams } from "./group_encoding.ts";

let chunkBytesOverride: number | undefined;

/**
 * Caps the bytes of one GPU weight chunk below the device limit (`undefined` restores the limit):
 * lets tests run the multi-chunk paths of the kernels on small matrices.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { gpuRowChunks, setGpuChunkBytes } from "./group_encoder_gpu.ts";
 * import { groupLayout } from "./group_encoding.ts";
 * const gpu = await getGpu();
 * setGpuChunkBytes(1024); // 8 rows of 256 bytes: 2 chunks of 4 rows
 * try {
 *   if (gpu && gpuRowChunks(gpu, groupLayout(8, 64, 64, 1), 256).length !== 2) throw new Error();
 * } finally {
 *   setGpuChunkBytes(undefined);
 * }
 * ```
 */
export function setGpuChunkBytes(bytes: number | undefined): void {
  chunkBytesOverride = bytes;
}

/**
 * Row ranges whose weights fit one storage binding (multiples of g rows for axis 0).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { gpuRowChunks } from "./group_encoder_gpu.ts";
 * import { groupLayout } from "./group_encoding.ts";
 * const gpu = await getGpu();
 * if (gpu && gpuRowChunks(gpu, groupLayout(8, 64, 64, 1), 256).length !== 1) throw new Error();
 * ```
 */
export function gpuRowChunks(gpu: Gpu, L: GroupLayout, bytesPerRow: number): [number, number][] {
  const limit = Math.min(
    gpu.limits.maxStorageBufferBindingSize,
    gpu.limits.maxBufferSize,
    chunkBytesOverride ?? Infinity,
  );
  const unit = L.axis === 0 ? L.g : 1;
  const unitsPerChunk = Math.floor(limit / (bytesPerRow * unit));
  if (unitsPerChunk < 1) {
    throw new QuantlabError(
      "unsupported",
      `A block of ${unit} rows × ${L.cols} columns needs ${
        unit * bytesPerRow
      } bytes; this GPU binds ` +
        `at most ${limit} per buffer; use the CPU backend or a smaller group size`,
    );
  }
  const out: [number, number][] = [];
  for (let r = 0; r < L.rows; r += unitsPerChunk * unit) {
    out.push([r, Math.min(L.rows, r + unitsPerChunk * unit)]);
  }
  return out;
}

/**
 * Workgroup grid for `n` workgroups (x ≤ 65535).
 *
 * @example
 * ```ts
 * import { workgroupGrid } from "./group_encoder_gpu.ts";
 * if (workgroupGrid(70000).join() !== "65535,2") throw new Error();
 * ```
 */
export function workgroupGrid(n: number): [number, number] {
  const x = Math.min(Math.max(n, 1), 65535);
  return [x, Math.ceil(Math.max(n, 1) / x)];
}

/**
 * Encodes all groups of `w` on `gpu` (see {@linkcode encodeGroups} in `group_encoder.ts`, which
 * is the entry point).
 */
export async function encodeGroupsGpu(
  gpu: Gpu,
  w: Float32Array,
  L: GroupLayout,
  m: EncodeMode,
  params: (stats: Float32Array) => GroupParams,
): Promise<EncodedGroups> {
  const code = await loadShader("absmax");
  const consts = { AFFINE: m.kind === "affine" ? 1 : 0 };
  const statsPipe = gpu.pipeline("absmax_stats", code, { ...consts, STAGE: 0 });
  const encPipe = gpu.pipeline("absmax_encode", code, { ...consts, STAGE: 1 });
  const ratios = m.ratios ?? new Float32Array([1]);
  const nL = m.sorted.length;
  const ratioBase = nL > 0 ? 3 * nL - 1 : 0;
  const tab = new Float32Array(ratioBase + ratios.length);
  tab.set(m.sorted, 0);
  tab.set(m.bounds, nL);
  for (let i = 0; i < nL; i++) tab[2 * nL - 1 + i] = m.codeOf[i]!;
  tab.set(ratios, ratioBase);
  const tabBuf = gpu.storage(tab, "absmax_table");
  const stride = rowStrideWords(L.cols, m.bits);
  const chunks = gpuRowChunks(gpu, L, L.cols * 4);
  const gPerRow = L.count / L.rows; // axis 1: groups per row; axis 0: cols / g
  const stats = new Float32Array(3 * L.count);
  const codes = new Uint32Array(L.rows * stride);
  const made: GPUBuffer[] = [tabBuf];
  try {
    const perChunk = chunks.map(([r0, r1]) => {
      const nG = (r1 - r0) * gPerRow;
      const g0 = r0 * gPerRow;
      const [wx, wy] = workgroupGrid(Math.ceil(nG / 64));
      const u = new Uint32Array(16);
      const f = new Float32Array(u.buffer);
      u.set([r1 - r0, L.cols, L.g, L.axis, nG, wx, m.bits, stride, nL, ratios.length]);
      f[10] = m.maxq;
      u[11] = m.roundZero ? 1 : 0;
      f[12] = m.levelMax || 1;
      const wBuf = gpu.storage(w.subarray(r0 * L.cols, r1 * L.cols), "absmax_w");
      const sBuf = gpu.storage(3 * nG * 4, "absmax_stats");
      const pBuf = gpu.storage(2 * nG * 4, "absmax_params");
      const cBuf = gpu.storage((r1 - r0) * stride * 4, "absmax_codes");
      const uBuf = gpu.uniform(u, "absmax_params_u");
      made.push(wBuf, sBuf, pBuf, cBuf, uBuf);
      return { r0, r1, g0, nG, wx, wy, wBuf, sBuf, pBuf, cBuf, uBuf };
    });
    await gpu.runMany(
      "absmax_stats",
      perChunk.map((c) => ({
        pipeline: statsPipe,
        buffers: [c.uBuf, c.wBuf, tabBuf, c.sBuf, c.pBuf, c.cBuf],
        workgroups: [c.wx, c.wy],
      })),
      { wait: false },
    );
    // Every readback in flight at once (each awaited one costs Deno's ~11 ms device poll).
    const statParts = await Promise.all(perChunk.map((c) => gpu.read(c.sBuf, 3 * c.nG * 4)));
    perChunk.forEach((c, i) => stats.set(new Float32Array(statParts[i]!), 3 * c.g0));
    const p = params(stats);
    for (const c of perChunk) gpu.write(c.pBuf, p.enc.subarray(2 * c.g0, 2 * (c.g0 + c.nG)));
    await gpu.runMany(
      "absmax_encode",
      perChunk.map((c) => ({
        pipeline: encPipe,
        buffers: [c.uBuf, c.wBuf, tabBuf, c.sBuf, c.pBuf, c.cBuf],
        workgroups: [c.wx, c.wy],
      })),
      { wait: false },
    );
    const codeParts = await Promise.all(
      perChunk.map((c) => gpu.read(c.cBuf, (c.r1 - c.r0) * stride * 4)),
    );
    perChunk.forEach((c, i) => codes.set(new Uint32Array(codeParts[i]!), c.r0 * stride));
    return { codes, params: p, stats };
  } finally {
    for (const b of made) b.destroy();
  }
}
