// This module is browser compatible.
/**
 * The only code that touches `navigator.gpu`: adapter and device (with the adapter's own limits),
 * a pipeline cache keyed by kernel + constants, buffers, error scopes that turn WebGPU validation
 * and out-of-memory errors into a thrown {@linkcode QuantlabError} naming the kernel, and
 * timestamp-query timing where the adapter has it.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/** What the process found when it asked for a GPU. */
export interface GpuInfo {
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "NVIDIA H100". */
  description: string;
  /** Vendor string or id. */
  vendor: string;
  /** True for software adapters (llvmpipe, SwiftShader): correct but never timed. */
  isFallback: boolean;
  /** True when WGSL `enable f16;` is available. */
  hasF16: boolean;
  /** True when timestamp queries are available. */
  hasTimestamps: boolean;
}

/** One binding of a kernel: a buffer, optionally a byte range of it. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** A compute dispatch, for {@linkcode Gpu.runMany}. */
export interface Dispatch {
  /** The compiled kernel. */
  pipeline: GPUComputePipeline;
  /** Binding i of group 0 is `buffers[i]`. */
  buffers: Binding[];
  /** Workgroup counts [x, y?, z?]. */
  workgroups: readonly number[];
}

const SOFTWARE = /llvmpipe|swiftshader|lavapipe|softpipe|basic render|warp/i;

/**
 * A WebGPU device with quantlab's conveniences.
 *
 * @example Running a kernel (skipped silently when no adapter exists)
 * ```ts
 * import { getGpu } from "./device.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
 *     @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *       if (g.x < arrayLength(&x)) { x[g.x] = x[g.x] * 2.0; } }`;
 *   const buf = gpu.storage(new Float32Array([1, 2, 3]));
 *   await gpu.run("double", gpu.pipeline("double", code), [buf], [1]);
 *   const y = new Float32Array(await gpu.read(buf));
 *   if (y[2] !== 6) throw new Error("unexpected");
 *   buf.destroy();
 * }
 * ```
 */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** What the adapter is. */
  readonly info: GpuInfo;
  readonly #pipelines = new Map<string, GPUComputePipeline>();

  /** Wraps a device; use {@linkcode getGpu}. */
  constructor(device: GPUDevice, info: GpuInfo) {
    this.device = device;
    this.info = info;
  }

  /** The device limits. */
  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }
  /** True for software adapters. */
  get isFallback(): boolean {
    return this.info.isFallback;
  }
  /** True when shaders may use f16. */
  get hasF16(): boolean {
    return this.info.hasF16;
  }
  /** Adapter description. */
  get description(): string {
    return this.info.description;
  }

  /**
   * A compute pipeline for `code` (entry point `main`), cached by `key` and the override constants.
   * Compilation errors become a `gpu` error naming the kernel.
   */
  pipeline(key: string, code: string, constants: Record<string, number> = {}): GPUComputePipeline {
    const names = Object.keys(constants).sort();
    const cacheKey = `${key}|${names.map((n) => `${n}=${constants[n]}`).join(",")}|${code.length}`;
    let p = this.#pipelines.get(cacheKey);
    if (!p) {
      const module = this.device.createShaderModule({ label: key, code });
      p = this.device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module, entryPoint: "main", constants },
      });
      this.#pipelines.set(cacheKey, p);
    }
    return p;
  }

  /** A storage buffer (STORAGE | COPY_SRC | COPY_DST), initialised from `data` or zeroed. */
  storage(data: ArrayBufferView | number, label = "storage"): GPUBuffer {
    const bytes = typeof data === "number" ? data : data.byteLength;
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const max = this.limits.maxBufferSize;
    if (size > max) {
      throw new QuantlabError(
        "gpu",
        `Buffer "${label}" needs ${size} bytes; this device allows at most ${max} per buffer`,
      );
    }
    const buf = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    if (typeof data !== "number") this.write(buf, data);
    return buf;
  }

  /** A uniform buffer holding `data` (padded to 16 bytes). */
  uniform(data: ArrayBufferView, label = "params"): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buf = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.write(buf, data);
    return buf;
  }

  /** Writes `data` into `buf` at `offset` (padded to a multiple of 4 bytes). */
  write(buf: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 !== 0) {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      bytes = padded;
    }
    this.device.queue.writeBuffer(buf, offset, bytes);
  }

  #bindGroup(label: string, pipeline: GPUComputePipeline, buffers: Binding[]): GPUBindGroup {
    return this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((b, i) => ({
        binding: i,
        resource: "buffer" in b && !(b instanceof GPUBuffer)
          ? { buffer: b.buffer, offset: b.offset ?? 0, size: b.size }
          : { buffer: b as GPUBuffer },
      })),
    });
  }

  /**
   * Encodes dispatches in one compute pass per dispatch, submits them once, and waits for the GPU
   * to finish (unless `wait` is false); any WebGPU validation or out-of-memory error becomes a
   * thrown `gpu` error naming `kernel`. Pass `wait: false` when a {@linkcode Gpu.read} follows:
   * the queue keeps the order, and every awaited completion costs Deno's device-poll interval
   * (~11 ms, measured on llvmpipe and seen on an H100), so waiting twice doubles the latency.
   */
  async runMany(
    kernel: string,
    dispatches: Dispatch[],
    { wait = true }: { wait?: boolean } = {},
  ): Promise<void> {
    const d = this.device;
    d.pushErrorScope("out-of-memory");
    d.pushErrorScope("validation");
    const enc = d.createCommandEncoder({ label: kernel });
    for (const disp of dispatches) {
      const [x = 1, y = 1, z = 1] = disp.workgroups;
      const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
      if (x > maxDim || y > maxDim || z > maxDim) {
        throw new QuantlabError(
          "gpu",
          `Kernel "${kernel}" needs ${x}×${y}×${z} workgroups; this device allows ${maxDim} per dimension`,
        );
      }
      const pass = enc.beginComputePass({ label: kernel });
      pass.setPipeline(disp.pipeline);
      pass.setBindGroup(0, this.#bindGroup(kernel, disp.pipeline, disp.buffers));
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    }
    d.queue.submit([enc.finish()]);
    const validation = await d.popErrorScope();
    const oom = await d.popErrorScope();
    const err = validation ?? oom;
    if (err) {
      throw new QuantlabError("gpu", `Kernel "${kernel}" failed on the GPU: ${err.message}`);
    }
    if (wait) await d.queue.onSubmittedWorkDone();
  }

  /** Runs one kernel: binding i of group 0 is `buffers[i]`. */
  run(
    kernel: string,
    pipeline: GPUComputePipeline,
    buffers: Binding[],
    workgroups: readonly number[],
  ): Promise<void> {
    return this.runMany(kernel, [{ pipeline, buffers, workgroups }]);
  }

  /**
   * GPU time in milliseconds of `dispatches` (median of `reps` submissions), from timestamp queries
   * when the adapter has them, else wall-clock around `onSubmittedWorkDone`.
   */
  async time(kernel: string, dispatches: Dispatch[], reps = 5): Promise<number> {
    const times: number[] = [];
    const d = this.device;
    const ts = this.info.hasTimestamps;
    const qs = ts ? d.createQuerySet({ type: "timestamp", count: 2 }) : null;
    const resolve = ts
      ? d.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC })
      : null;
    const readBuf = ts
      ? d.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST })
      : null;
    for (let r = 0; r < reps; r++) {
      const enc = d.createCommandEncoder({ label: kernel });
      dispatches.forEach((disp, i) => {
        const [x = 1, y = 1, z = 1] = disp.workgroups;
        const pass = enc.beginComputePass({
          label: kernel,
          ...(qs
            ? {
              timestampWrites: {
                querySet: qs,
                ...(i === 0 ? { beginningOfPassWriteIndex: 0 } : {}),
                ...(i === dispatches.length - 1 ? { endOfPassWriteIndex: 1 } : {}),
              },
            }
            : {}),
        });
        pass.setPipeline(disp.pipeline);
        pass.setBindGroup(0, this.#bindGroup(kernel, disp.pipeline, disp.buffers));
        pass.dispatchWorkgroups(x, y, z);
        pass.end();
      });
      if (qs && resolve && readBuf) {
        enc.resolveQuerySet(qs, 0, 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, readBuf, 0, 16);
      }
      const t0 = performance.now();
      d.queue.submit([enc.finish()]);
      await d.queue.onSubmittedWorkDone();
      const wall = performance.now() - t0;
      if (readBuf) {
        await readBuf.mapAsync(GPUMapMode.READ);
        const [a, b] = new BigUint64Array(readBuf.getMappedRange().slice(0));
        readBuf.unmap();
        const ns = Number(b! - a!);
        times.push(ns > 0 ? ns / 1e6 : wall);
      } else {
        times.push(wall);
      }
    }
    qs?.destroy();
    resolve?.destroy();
    readBuf?.destroy();
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  }

  /** Copies `bytes` (default: the whole buffer) of `buf` back to the CPU. */
  async read(buf: GPUBuffer, bytes = buf.size, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder({ label: "read" });
    enc.copyBufferToBuffer(buf, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /**
   * Splits `totalBytes` into ranges that each fit one storage binding
   * (`maxStorageBufferBindingSize`), aligned to `alignBytes` (a multiple of the offset alignment).
   */
  bindingRanges(totalBytes: number, alignBytes = 256): { offset: number; size: number }[] {
    const align = Math.max(alignBytes, this.limits.minStorageBufferOffsetAlignment);
    const max = Math.floor(this.limits.maxStorageBufferBindingSize / align) * align;
    const out: { offset: number; size: number }[] = [];
    for (let off = 0; off < totalBytes; off += max) {
      out.push({ offset: off, size: Math.min(max, totalBytes - off) });
    }
    return out;
  }
}

let cached: Promise<Gpu | null> | undefined;

/**
 * The process's GPU, or null when WebGPU has no adapter. Requests the adapter's own limits (storage
 * binding size, workgroup storage) and the `shader-f16` and `timestamp-query` features it offers.
 * `QUANTLAB_NO_GPU=1` forces null.
 *
 * @example
 * ```ts
 * import { getGpu } from "./device.ts";
 * const gpu = await getGpu();
 * if (gpu !== null && gpu.description.length === 0) throw new Error("an adapter without a name");
 * if (await getGpu() !== gpu) throw new Error("not cached");
 * ```
 */
export function getGpu(): Promise<Gpu | null> {
  cached ??= requestGpu();
  return cached;
}

async function requestGpu(): Promise<Gpu | null> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) return null;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return null;
  const features: GPUFeatureName[] = [];
  for (const f of ["shader-f16", "timestamp-query"] as GPUFeatureName[]) {
    if (adapter.features.has(f)) features.push(f);
  }
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  // deno-lint-ignore no-explicit-any
  const info = (adapter as any).info ?? {};
  const description = String(info.description || info.device || "unknown adapter");
  const isFallback = Boolean(
    info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean })
      .isFallbackAdapter,
  ) || SOFTWARE.test(description);
  device.lost.then((l) => {
    if (l.reason !== "destroyed") console.error(`quantlab: GPU device lost: ${l.message}`);
  });
  return new Gpu(device, {
    description,
    vendor: String(info.vendor ?? ""),
    isFallback,
    hasF16: features.includes("shader-f16"),
    hasTimestamps: features.includes("timestamp-query"),
  });
}

const shaderCache = new Map<string, Promise<string>>();

/**
 * The WGSL source of `shaders/<name>.wgsl`, with `includes` (e.g. `["prng"]`) prepended.
 *
 * @example
 * ```ts
 * import { loadShader } from "./device.ts";
 * const src = await loadShader("prng");
 * if (!src.includes("fn rand_u32")) throw new Error();
 * ```
 */
export async function loadShader(name: string, includes: string[] = []): Promise<string> {
  const parts = await Promise.all([...includes, name].map(readShader));
  return parts.join("\n");
}

function readShader(name: string): Promise<string> {
  let p = shaderCache.get(name);
  if (!p) {
    const url = new URL(`../../shaders/${name}.wgsl`, import.meta.url);
    p = fetch(url).then(async (r) => {
      if (!r.ok) throw new QuantlabError("not-found", `Shader "${name}" not found at ${url}`);
      return await r.text();
    }).catch((e) => {
      shaderCache.delete(name);
      throw e instanceof QuantlabError
        ? e
        : new QuantlabError("not-found", `Shader "${name}" could not be read from ${url}: ${e}`);
    });
    shaderCache.set(name, p);
  }
  return p;
}
