// This module is browser compatible.
/**
 * The WebGPU half of the HIGGS encoder (`higgs.ts` picks it for a WebGPU backend): rotation,
 * per-group scales, normalization and nearest-point search on the GPU, in row chunks.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import { encodeNearestDispatch, uploadGrid } from "../grids/encode_gpu.ts";
import { encodeHadamard } from "../hadamard/gpu.ts";
import type { QuantizedTensor } from "./format.ts";
import { higgsPaddedCols, type HiggsParams } from "./higgs_params.ts";
import { higgsTensor, packRows, roundScale, scaleOverflow } from "./higgs_tensor.ts";
import { rowStrideWords } from "./packing.ts";

/** Workgroup counts for `count` workgroups, 2-D past the per-dimension limit. */
function grid2d(gpu: Gpu, count: number): [number, number] {
  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(count, maxDim));
  return [x, Math.max(1, Math.ceil(count / x))];
}

let gpuChunkBytes = 1 << 28;

/**
 * Sets the largest chunk of rotated values (bytes) the WebGPU encoder keeps on the GPU at once
 * (default 256 MiB, never more than one storage binding); returns the previous value. For tests
 * of the chunked path and for small GPUs.
 *
 * @example
 * ```ts
 * import { setHiggsGpuChunkBytes } from "./higgs_gpu.ts";
 * const old = setHiggsGpuChunkBytes(1 << 20);
 * if (setHiggsGpuChunkBytes(old) !== 1 << 20) throw new Error("returns the previous size");
 * ```
 */
export function setHiggsGpuChunkBytes(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 4) {
    throw new QuantlabError("bad-argument", `GPU chunk size ${bytes} is not valid; use bytes ≥ 4`);
  }
  const old = gpuChunkBytes;
  gpuChunkBytes = bytes;
  return old;
}

/**
 * The WebGPU encoder: the rotation (randomized orthonormal FWHT, `src/hadamard/gpu.ts`), the
 * per-group sums of squares and the normalization (`shaders/higgs_scale.wgsl`) and the exact
 * nearest-point search (`shaders/grid_encode.wgsl`) run on the GPU, in row chunks that fit one
 * storage binding. Between the two submissions of a chunk the host turns the sums into stored
 * scales exactly as the CPU path does (√(Σ/g) rounded to the storage precision, multiplier
 * f32(1/s)), so both backends normalize with the same numbers. Codes equal the CPU path's except
 * where the GPU's f32 rotation or sum puts a value on the other side of a rounding or cell
 * boundary (measured in the tests: a tie fraction ≤ 1e-4).
 */
export async function higgsQuantizeGpu(
  w: Float32Array,
  rows: number,
  cols: number,
  params: HiggsParams,
  table: Float32Array,
  gpu: Gpu,
  name: string,
): Promise<QuantizedTensor> {
  const pc = higgsPaddedCols(cols, params);
  const { p, codeBits, groupSize: g, hadamard: h } = params;
  const stride = rowStrideWords(pc / p, codeBits);
  const gpr = pc / g;
  const scales = new Float32Array(rows * gpr);
  const codes = new Uint32Array(rows * stride);
  const code = await loadShader("higgs_scale");
  const sumsPipe = gpu.pipeline("higgs_scale", code, { MODE: 0 });
  const normPipe = gpu.pipeline("higgs_scale", code, { MODE: 1 });
  const grid = uploadGrid(gpu, {
    p,
    n: params.gridSize,
    points: table.slice(0, params.gridSize * p),
  });
  // Rows per chunk: one storage binding (and at most `gpuChunkBytes`) of f32 values.
  const maxBytes = Math.min(
    gpu.limits.maxStorageBufferBindingSize,
    gpu.limits.maxBufferSize,
    gpuChunkBytes,
  );
  const chunk = Math.max(1, Math.min(rows, Math.floor(maxBytes / (pc * 4))));
  const padded = new Float32Array(chunk * pc);
  const codes16 = new Uint16Array((chunk * pc) / p);
  const x = gpu.storage(chunk * pc * 4, `higgs ${name}`);
  const aux = gpu.storage(chunk * gpr * 4, "higgs scales");
  const out = gpu.storage(((chunk * pc) / p) * 4, "higgs codes");
  try {
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const rc = Math.min(chunk, rows - r0);
      const groups = rc * gpr;
      const m = (rc * pc) / p;
      padded.fill(0);
      for (let r = 0; r < rc; r++) {
        padded.set(w.subarray((r0 + r) * cols, (r0 + r + 1) * cols), r * pc);
      }
      gpu.write(x, padded.subarray(0, rc * pc));
      const rot = h
        ? await encodeHadamard(gpu, x, x, rc, pc, { blockSize: h, seed: params.seed })
        : [];
      const [gx, gy] = grid2d(gpu, groups);
      const sums = gpu.uniform(new Uint32Array([groups, g, gx, 0]));
      await gpu.runMany(`higgs rotate+sums "${name}"`, [
        ...rot,
        { pipeline: sumsPipe, buffers: [sums, x, aux], workgroups: [gx, gy] },
      ], { wait: false });
      const ss = new Float32Array(await gpu.read(aux, groups * 4));
      const inv = new Float32Array(groups);
      for (let i = 0; i < groups; i++) {
        const raw = Math.sqrt(ss[i]! / g);
        const s = roundScale(raw, params.scaleDtype);
        if (!Number.isFinite(s)) scaleOverflow(name, raw, r0 + Math.floor(i / gpr), i % gpr);
        scales[r0 * gpr + i] = s;
        inv[i] = s > 0 ? Math.fround(1 / s) : 0;
      }
      gpu.write(aux, inv);
      const [nx, ny] = grid2d(gpu, Math.ceil((rc * pc) / 64));
      const norm = gpu.uniform(new Uint32Array([rc * pc, g, nx, 0]));
      await gpu.runMany(`higgs normalize+encode "${name}"`, [
        { pipeline: normPipe, buffers: [norm, x, aux], workgroups: [nx, ny] },
        await encodeNearestDispatch(gpu, grid, x, out, m),
      ], { wait: false });
      const c32 = new Uint32Array(await gpu.read(out, m * 4));
      for (let i = 0; i < m; i++) codes16[i] = c32[i]!;
      packRows(codes16, rc, pc / p, codeBits, codes, r0 * stride, stride);
      sums.destroy();
      norm.destroy();
    }
    return higgsTensor(rows, cols, params, codes, scales, table);
  } finally {
    x.destroy();
    aux.destroy();
    out.destroy();
    grid.buffer.destroy();
  }
}
