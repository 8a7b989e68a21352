// This module is browser compatible.
/**
 * The blockwise (randomized) Hadamard transform on WebGPU, same definition as the CPU version
 * (`common.ts`), same random signs (`rand_sign(seed, column)` of `shaders/prng.wgsl`).
 *
 * Kernels (`shaders/hadamard*.wgsl`, specialised by `override` constants):
 * - `hadamard_v4.wgsl` (blocks ≥ 4): whole blocks in workgroup memory as padded vec4s; global
 *   memory read and written once, coalesced, like a copy; radix-8 rounds between vec4s.
 * - `hadamard.wgsl`: the scalar version (blocks of 2, and devices whose workgroup storage cannot
 *   hold the padded vec4 tile): radix-8 rounds in registers, the first and last rounds straight
 *   from/to global memory. Both have a copy variant that reads another buffer with another row
 *   length, which is how zero padding is done on the fly.
 * - `hadamard_strided.wgsl`: for blocks larger than that, H_n = (H_a ⊗ I_b)(I_a ⊗ H_b): the
 *   workgroup kernel does blocks of b, then strided radix-≤16 passes through global memory do the
 *   high bits.
 *
 * Many rows: workgroups go on a 2-D grid (`maxComputeWorkgroupsPerDimension`), and tensors larger
 * than one storage binding (`maxStorageBufferBindingSize`) are split into row ranges.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { fromF16, toF16 } from "../core/dtype.ts";
import { type Binding, type Dispatch, type Gpu, loadShader } from "../gpu/device.ts";
import {
  firstNonFinite,
  type HadamardOptions,
  type HadamardPlan,
  type HadamardResult,
  isPowerOfTwo,
  log2Exact,
  nonFiniteError,
  planHadamard,
} from "./common.ts";
import { planStridedStage, planTileStages, stageCode, stridedThreads } from "./r_plan.ts";

/** Element type of the GPU buffers. */
export type HadamardStorage = "f32" | "f16";

/** Options of the WebGPU transform. */
export interface HadamardGpuOptions extends HadamardOptions {
  /** Element type of the buffers: `"f32"` (default) or `"f16"` (needs `shader-f16`). */
  storage?: HadamardStorage;
  /**
   * Largest block transformed in workgroup memory (a power of two ≥ 2); larger blocks add strided
   * passes. Default: what the device's workgroup storage holds, at most 4096. Mainly for tests.
   */
  maxWorkgroupBlock?: number;
  /**
   * Largest byte range bound per dispatch (default: the device's `maxStorageBufferBindingSize`);
   * larger tensors are split into row ranges. Mainly for tests.
   */
  maxBindingBytes?: number;
  /**
   * Largest workgroup count per grid dimension (default: the device's
   * `maxComputeWorkgroupsPerDimension`); more workgroups go on a 2-D grid. Mainly for tests.
   */
  maxGridDimension?: number;
  /**
   * Kernels: `"auto"` (default: `"v4"` where the device's workgroup storage holds its padded
   * tile, else `"scalar"`), `"v4"` (whole tile in workgroup memory as vec4s), `"r8"` / `"r16"`
   * (32 / 64 elements per thread in registers, two round trips through workgroup memory at
   * n = 1024; vec4 radix-8 strided passes) or `"scalar"`. A kernel the device cannot hold, or
   * blocks of 2, fall back to the next (r → v4 → scalar). For tests and benchmarks.
   */
  kernel?: "auto" | "scalar" | "v4" | "r8" | "r16";
  /**
   * Threads per workgroup of the r8/r16 kernels (default 64: tiles of 2048 / 4096 floats; at least
   * a whole block). For benchmarks.
   */
  rThreads?: number;
  /**
   * r8/r16: add a workgroup-memory round trip where the last stage would store runs of vec4s per
   * thread instead of 128 bytes across eight threads (default true; see `planTileStages`).
   */
  rCoalesce?: boolean;
  /**
   * Threads per workgroup of the vec4 kernel (default 256; one per 8 vec4s of a 2048-float tile,
   * 64, measured 0.43× copy speed on an H100 at n = 1024 against 0.56× with 256). For benchmarks.
   */
  v4Threads?: number;
  /**
   * The vec4 kernel reads and writes f32 in-place buffers as vec4s (default true); false goes
   * element by element, as f16 storage and the zero-padding copy always do. For benchmarks.
   */
  vec4Io?: boolean;
}

const WG = 256;
/** Elements per workgroup for small blocks: 8 per thread. */
const MIN_TILE = WG * 8;
const MAX_WG_BLOCK = 4096;

/**
 * The largest block (f32 elements, a power of two ≤ 4096) that fits this device's workgroup
 * storage.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { workgroupBlockLimit } from "./gpu.ts";
 * const gpu = await getGpu();
 * if (gpu && workgroupBlockLimit(gpu) < 2048) throw new Error();
 * ```
 */
export function workgroupBlockLimit(gpu: Gpu): number {
  const floats = Math.floor(gpu.limits.maxComputeWorkgroupStorageSize / 4);
  let b = 2;
  while (b * 2 <= floats && b * 2 <= MAX_WG_BLOCK) b *= 2;
  return b;
}

const paramCache = new WeakMap<Gpu, Map<string, GPUBuffer>>();

function params(gpu: Gpu, v: number[], scale: number): GPUBuffer {
  let m = paramCache.get(gpu);
  if (!m) paramCache.set(gpu, m = new Map());
  const key = `${v.join(",")}|${scale}`;
  let buf = m.get(key);
  if (!buf) {
    const data = new Uint32Array(12);
    data.set(v);
    new Float32Array(data.buffer)[6] = scale;
    buf = gpu.uniform(data, "hadamard-params");
    if (m.size >= 512) m.clear(); // dropped buffers are freed by the GC once no dispatch uses them
    m.set(key, buf);
  }
  return buf;
}

function grid(max: number, workgroups: number, what: string): [number, number] {
  const x = Math.max(1, Math.min(workgroups, max));
  const y = Math.ceil(workgroups / x);
  if (y > max) {
    throw new QuantlabError(
      "unsupported",
      `Hadamard ${what} needs ${workgroups} workgroups; this device allows ${max}×${max}`,
    );
  }
  return [x, Math.max(1, y)];
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Splits `bits` into passes of at most `most` bits, as even as possible. */
function splitHigh(bits: number, most: number): number[] {
  const passes = Math.ceil(bits / most);
  const out: number[] = [];
  for (let i = 0, rem = bits; i < passes; i++) {
    const c = Math.ceil(rem / (passes - i));
    out.push(c);
    rem -= c;
  }
  return out;
}

function checkBuffer(buf: GPUBuffer, bytes: number, name: string): void {
  if (buf.size < bytes) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard ${name} buffer holds ${buf.size} bytes; the transform needs ${bytes}`,
    );
  }
}

/**
 * Encodes the transform of `src` (row-major [rows, cols]) into `dst` ([rows, cols rounded up to
 * the block size], zero-padded) as dispatches for `gpu.runMany`, so it can be chained with other
 * kernels without a readback. `dst` may be `src` (in place) when cols is a multiple of the block
 * size. The buffers hold f32, or f16 with `storage: "f16"`. Does not check for NaN.
 *
 * @example Rotate a buffer in place, then read it back
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { encodeHadamard } from "./gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const buf = gpu.storage(new Float32Array([1, 2, 3, 4]));
 *   await gpu.runMany("hadamard", await encodeHadamard(gpu, buf, buf, 1, 4, { blockSize: 4 }));
 *   const y = new Float32Array(await gpu.read(buf));
 *   if (y.join() !== "5,-1,-2,0") throw new Error(y.join());
 *   buf.destroy();
 * }
 * ```
 */
// long: picks the kernel variant, builds its pipelines and encodes the passes in one place, so
// the choice and the dispatch it implies stay side by side.
export async function encodeHadamard(
  gpu: Gpu,
  src: GPUBuffer,
  dst: GPUBuffer,
  rows: number,
  cols: number,
  opts: HadamardGpuOptions,
): Promise<Dispatch[]> {
  const p = planHadamard(rows, cols, opts);
  const storage = opts.storage ?? "f32";
  if (storage !== "f32" && storage !== "f16") {
    throw new QuantlabError("bad-argument", `Storage "${storage}" is not valid; use f32 or f16`);
  }
  if (storage === "f16" && !gpu.hasF16) {
    throw new QuantlabError(
      "unsupported",
      `Hadamard storage f16 needs the shader-f16 feature, which ${gpu.description} lacks`,
    );
  }
  const inPlace = src === dst;
  if (inPlace && p.padded) {
    throw new QuantlabError(
      "bad-shape",
      `Hadamard size ${p.n} does not divide ${cols} columns; an in-place transform needs whole ` +
        `blocks: pass a separate destination of ${p.cols} columns to zero-pad`,
    );
  }
  const eb = storage === "f16" ? 2 : 4;
  checkBuffer(src, rows * cols * eb, "source");
  checkBuffer(dst, rows * p.cols * eb, "destination");
  if (rows * p.cols === 0) return [];
  const maxB = opts.maxWorkgroupBlock ?? workgroupBlockLimit(gpu);
  if (!isPowerOfTwo(maxB) || maxB < 2) {
    throw new QuantlabError(
      "bad-argument",
      `maxWorkgroupBlock ${maxB} is not valid; use a power of two ≥ 2`,
    );
  }
  const B = Math.min(p.n, maxB);
  const logB = log2Exact(B);
  const high = splitHigh(p.log - logB, opts.kernel?.startsWith("r") && logB >= 2 ? 3 : 4);
  const tile = Math.max(B, MIN_TILE);
  if (tile * 4 > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new QuantlabError(
      "unsupported",
      `Hadamard tile of ${tile} f32 exceeds this device's workgroup storage ` +
        `(${gpu.limits.maxComputeWorkgroupStorageSize} bytes); lower maxWorkgroupBlock`,
    );
  }

  const kernel = opts.kernel ?? "auto";
  if (!["auto", "scalar", "v4", "r8", "r16"].includes(kernel)) {
    throw new QuantlabError(
      "bad-argument",
      `Hadamard kernel "${kernel}" is not valid; use auto, scalar, v4, r8 or r16`,
    );
  }
  const wgLimit = gpu.limits.maxComputeWorkgroupStorageSize;
  // r8/r16: a tile of R vec4s per thread (in workgroup memory unless one stage does it all).
  const R = kernel === "r16" ? 16 : 8;
  const rThreads = Math.max(opts.rThreads ?? 64, B / 4 / R);
  if (!isPowerOfTwo(rThreads) || rThreads > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new QuantlabError(
      "bad-argument",
      `rThreads ${opts.rThreads} is not valid; use a power of two ≤ ` +
        `${gpu.limits.maxComputeInvocationsPerWorkgroup}`,
    );
  }
  const rStages = planTileStages(
    Math.max(0, logB - 2),
    log2Exact(rThreads * R),
    log2Exact(R),
    opts.rCoalesce ?? true,
  );
  const rSlots = rStages.length > 1 ? rThreads * R : 1;
  // The vec4 kernel (blocks ≥ 4, padded workgroup memory).
  const v4Slots = tile / 4 + tile / 32;
  const kind = B < 4 || kernel === "scalar"
    ? "scalar"
    : kernel.startsWith("r") && rSlots * 16 <= wgLimit
    ? kernel
    : v4Slots * 16 <= wgLimit
    ? "v4"
    : "scalar";
  const v4 = kind !== "scalar";
  const dtype = `store_${storage}`;
  // The vec4 kernels move data in place as vec4s (f32 or f16); the zero-padding copy goes
  // element-wise.
  const io = !v4
    ? [`hadamard_io_${inPlace ? "inplace" : "copy"}`]
    : inPlace && opts.vec4Io !== false
    ? ["hadamard_io_inplace_vec4"]
    : [`hadamard_io_${inPlace ? "inplace" : "copy"}`, "hadamard_quad_scalar"];
  const common = [dtype, "prng", "hadamard_common"];
  const rk = kind === "r8" || kind === "r16";
  // The r kernels' strided passes go through load_quad/store_quad in place.
  const stridedIo = rk
    ? [
      ...(opts.vec4Io !== false
        ? ["hadamard_io_inplace_vec4"]
        : ["hadamard_io_inplace", "hadamard_quad_scalar"]),
      "hadamard_r_common",
    ]
    : ["hadamard_io_inplace"];
  // The register-blocked r8/r16 kernels are generated (tools/gen_hadamard_shaders.ts).
  const wgName = rk ? `gen/hadamard_${kind}` : `hadamard${kind === "scalar" ? "" : `_${kind}`}`;
  const [wgCode, stridedCode] = await Promise.all([
    loadShader(wgName, [...common, ...io, ...(rk ? ["hadamard_r_common"] : [])]),
    high.length
      ? loadShader(rk ? "gen/hadamard_r8_strided" : "hadamard_strided", [...common, ...stridedIo])
      : Promise.resolve(""),
  ]);
  const wgPipe = gpu.pipeline(
    `${wgName}|${storage}|${io.join("+")}`,
    wgCode,
    rk
      ? {
        WG: rThreads,
        NST: rStages.length,
        ...Object.fromEntries(rStages.map((s, i) => [`S${i}`, stageCode(s)])),
        SLOTS: rSlots,
      }
      : v4
      ? { N: B, LOG_N: logB, TILE: tile, WG: opts.v4Threads ?? WG, SLOTS: v4Slots }
      : { N: B, LOG_N: logB, TILE: tile, WG },
  );
  const wgTile = rk ? rThreads * R * 4 : tile;

  // Row ranges that fit one binding, with offsets on the device's alignment.
  const maxBind = opts.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
  const rowBytes = Math.max(p.cols, cols) * eb;
  let perPart = Math.floor(maxBind / rowBytes);
  if (perPart < rows) {
    const align = gpu.limits.minStorageBufferOffsetAlignment;
    const unit = Math.max(
      align / gcd(p.cols * eb, align),
      align / gcd(Math.max(cols, 1) * eb, align),
    );
    perPart = Math.floor(perPart / unit) * unit;
    if (perPart < 1) {
      throw new QuantlabError(
        "unsupported",
        `Hadamard rows of ${rowBytes} bytes do not fit one storage binding of ${maxBind} bytes`,
      );
    }
  }
  const bind = (buf: GPUBuffer, offset: number, bytes: number, whole: boolean): Binding =>
    whole
      ? buf
      : { buffer: buf, offset, size: Math.min(Math.ceil(bytes / 4) * 4, buf.size - offset) };

  const maxGrid = Math.min(
    opts.maxGridDimension ?? Infinity,
    gpu.limits.maxComputeWorkgroupsPerDimension,
  );
  const out: Dispatch[] = [];
  for (let r0 = 0; r0 < rows; r0 += perPart) {
    const pr = Math.min(perPart, rows - r0);
    const whole = pr === rows;
    const total = pr * p.cols;
    const dstB = bind(dst, r0 * p.cols * eb, total * eb, whole);
    const last = high.length === 0;
    const wgFlags = (p.mode === 1 ? 1 : 0) | (last && p.mode === 2 ? 2 : 0);
    const [gx, gy] = grid(maxGrid, Math.ceil(total / wgTile), "workgroup pass");
    const wgParams = params(
      gpu,
      [total, p.cols, cols, cols, p.seed, wgFlags, 0, gx, 0],
      last ? p.scale : 1,
    );
    out.push({
      pipeline: wgPipe,
      buffers: inPlace
        ? [wgParams, dstB]
        : [wgParams, dstB, bind(src, r0 * cols * eb, pr * cols * eb, whole)],
      workgroups: [gx, gy],
    });
    let b = logB;
    high.forEach((r, i) => {
      const isLast = i === high.length - 1;
      const flags = isLast && p.mode === 2 ? 2 : 0;
      if (rk) {
        const st = planStridedStage(Array.from({ length: r }, (_, k) => b - 2 + k));
        const pipe = gpu.pipeline(`hadamard_r8_strided|${storage}`, stridedCode, {
          S: stageCode(st),
          WG,
        });
        const threads = stridedThreads(st, total / 4);
        const [sx, sy] = grid(maxGrid, Math.ceil(threads / WG), "strided pass");
        const prm = params(
          gpu,
          [total, p.cols, p.cols, p.cols, p.seed, flags, 0, sx, 0],
          isLast ? p.scale : 1,
        );
        out.push({ pipeline: pipe, buffers: [prm, dstB], workgroups: [sx, sy] });
        b += r;
        return;
      }
      const pipe = gpu.pipeline(`hadamard_strided|${storage}`, stridedCode, { R_LOG: r, WG });
      const [sx, sy] = grid(maxGrid, Math.ceil(total / 2 ** r / WG), "strided pass");
      const prm = params(
        gpu,
        [total, p.cols, p.cols, p.cols, p.seed, flags, 0, sx, b],
        isLast ? p.scale : 1,
      );
      out.push({ pipeline: pipe, buffers: [prm, dstB], workgroups: [sx, sy] });
      b += r;
    });
  }
  return out;
}

function resultOf<T>(p: HadamardPlan, data: T): HadamardResult<T> {
  return { data, rows: p.rows, cols: p.cols, originalCols: p.originalCols, padded: p.padded };
}

/**
 * Transforms a row-major [rows, cols] matrix on the GPU. For a Float32Array: checks it for NaN
 * and ±Infinity (a `bad-value` error names the first), uploads it (as f16 with `storage: "f16"`),
 * transforms and reads back a new array. For a GPUBuffer: transforms it in place and returns it,
 * or, when the rows need zero padding, returns a new buffer (the caller destroys it).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { hadamardGpu } from "./gpu.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const r = await hadamardGpu(gpu, new Float32Array([1, 2, 3]), 1, 3, { blockSize: 4 });
 *   if (r.data.join() !== "3,1,0,-2" || !r.padded) throw new Error(r.data.join());
 * }
 * ```
 */
export async function hadamardGpu(
  gpu: Gpu,
  x: Float32Array,
  rows: number,
  cols: number,
  opts: HadamardGpuOptions,
): Promise<HadamardResult<Float32Array>>;
/** Transforms a GPU buffer (in place unless padding is needed); see the overload above. */
export async function hadamardGpu(
  gpu: Gpu,
  x: GPUBuffer,
  rows: number,
  cols: number,
  opts: HadamardGpuOptions,
): Promise<HadamardResult<GPUBuffer>>;
export async function hadamardGpu(
  gpu: Gpu,
  x: Float32Array | GPUBuffer,
  rows: number,
  cols: number,
  opts: HadamardGpuOptions,
): Promise<HadamardResult<Float32Array> | HadamardResult<GPUBuffer>> {
  const isArray = x instanceof Float32Array;
  const p = planHadamard(rows, cols, opts, isArray ? x.length : undefined);
  const eb = opts.storage === "f16" ? 2 : 4;
  if (!isArray) {
    const dst = p.padded ? gpu.storage(rows * p.cols * eb, "hadamard-out") : x;
    try {
      await gpu.runMany("hadamard", await encodeHadamard(gpu, x, dst, rows, cols, opts));
    } catch (e) {
      if (dst !== x) dst.destroy();
      throw e;
    }
    return resultOf(p, dst);
  }
  const bad = firstNonFinite(x);
  if (bad >= 0) throw nonFiniteError(x[bad]!, bad, cols);
  if (rows * p.cols === 0) return resultOf(p, new Float32Array(0));
  const src = gpu.storage(eb === 2 ? toF16(x) : x, "hadamard-in");
  const dst = p.padded ? gpu.storage(rows * p.cols * eb, "hadamard-out") : src;
  try {
    await gpu.runMany("hadamard", await encodeHadamard(gpu, src, dst, rows, cols, opts), {
      wait: false,
    });
    const raw = await gpu.read(dst, rows * p.cols * eb);
    return resultOf(p, eb === 2 ? fromF16(new Uint16Array(raw)) : new Float32Array(raw));
  } finally {
    src.destroy();
    if (dst !== src) dst.destroy();
  }
}
