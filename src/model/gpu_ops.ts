// This module is browser compatible.
/**
 * The WebGPU kernels of the Llama forward as program objects: each method returns one
 * {@linkcode Dispatch} (pipeline, bindings, grid) with its shapes in a params uniform, validated
 * on the host. Shaders live in `shaders/llama_*.wgsl` and `shaders/ops_*.wgsl`. Also the dense
 * {@linkcode GpuLinear} (tiled f32 GEMM, GEMV for few rows) behind `DenseLinear.toGpu`.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type Dispatch, type Gpu, loadShader } from "../gpu/device.ts";
import type { GpuEncodeContext, GpuLinear, GpuLinearCall } from "../lut/linear_layer.ts";

/** The WGSL files of the Llama kernels (under `shaders/`), compiled by {@linkcode llamaKernels}. */
export const LLAMA_SHADERS = [
  "llama_matmul",
  "llama_gemv",
  "llama_embed",
  "ops_rmsnorm",
  "ops_rope",
  "ops_attention",
  "ops_swiglu",
  "ops_residual",
  "ops_softmax",
  "ops_argmax",
] as const;
/** One of {@linkcode LLAMA_SHADERS}. */
export type LlamaShaderName = typeof LLAMA_SHADERS[number];

/** Rows at or below which a product runs as GEMV instead of the tiled GEMM. */
const GEMV_MAX_ROWS = 4;

/** Packs u32 fields followed by f32 fields into one uniform payload. */
function params(u32s: number[], f32s: number[] = []): Uint32Array {
  const n = Math.max(4, Math.ceil((u32s.length + f32s.length) / 4) * 4);
  const a = new Uint32Array(n);
  for (let i = 0; i < u32s.length; i++) {
    const v = u32s[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new QuantlabError("bad-argument", `Kernel parameter ${v} is not a u32`);
    }
    a[i] = v;
  }
  const f = new Float32Array(a.buffer);
  for (let i = 0; i < f32s.length; i++) f[u32s.length + i] = f32s[i]!;
  return a;
}

/**
 * The Llama kernels compiled for one device (see {@linkcode llamaKernels}).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { llamaKernels } from "./gpu_ops.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const k = await llamaKernels(gpu);
 *   if (!k.pipelines.has("ops_rmsnorm")) throw new Error("unexpected");
 * }
 * ```
 */
export class LlamaKernels {
  /** The device. */
  readonly gpu: Gpu;
  /** Compiled pipelines by shader name. */
  readonly pipelines: Map<LlamaShaderName, GPUComputePipeline>;
  /** A 4-byte buffer bound where a kernel's optional input (bias) is absent. */
  readonly dummy: GPUBuffer;

  /** Use {@linkcode llamaKernels}. */
  constructor(gpu: Gpu, pipelines: Map<LlamaShaderName, GPUComputePipeline>) {
    this.gpu = gpu;
    this.pipelines = pipelines;
    this.dummy = gpu.storage(4, "dummy");
  }

  #p(name: LlamaShaderName): GPUComputePipeline {
    return this.pipelines.get(name)!;
  }

  /** A 1-D grid of `n` threads in workgroups of 256, folded over x and y. */
  #grid(n: number): number[] {
    const groups = Math.max(1, Math.ceil(n / 256));
    const max = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    return groups <= max ? [groups, 1] : [max, Math.ceil(groups / max)];
  }

  /** `out[outOff + m·N + n] = Σ_k x[xOff + m·K + k] · w[n·K + k] (+ bias[n])`. */
  matmul(
    ctx: GpuEncodeContext,
    a: {
      x: GPUBuffer;
      xOffset: number;
      w: GPUBuffer;
      bias?: GPUBuffer;
      out: GPUBuffer;
      outOffset: number;
      M: number;
      N: number;
      K: number;
    },
  ): Dispatch {
    const gemv = a.M <= GEMV_MAX_ROWS;
    const u = ctx.uniform(params([a.M, a.N, a.K, a.xOffset, a.outOffset, a.bias ? 1 : 0, 0, 0]));
    return {
      pipeline: this.#p(gemv ? "llama_gemv" : "llama_matmul"),
      buffers: [u, a.x, a.w, a.bias ?? this.dummy, a.out],
      workgroups: gemv ? [Math.ceil(a.N / 8), a.M] : [Math.ceil(a.N / 64), Math.ceil(a.M / 64)],
    };
  }

  /**
   * Greedy step: the argmax of `n` logits from `offset` (lowest index among equal maxima) into
   * `tokens[0]` and `ids[slot]`.
   */
  argmax(
    ctx: GpuEncodeContext,
    a: {
      logits: GPUBuffer;
      offset: number;
      n: number;
      tokens: GPUBuffer;
      ids: GPUBuffer;
      slot: number;
    },
  ): Dispatch {
    return {
      pipeline: this.#p("ops_argmax"),
      buffers: [ctx.uniform(params([a.n, a.slot, a.offset])), a.logits, a.tokens, a.ids],
      workgroups: [1],
    };
  }

  /** Embedding rows of `T` token ids (u32 buffer) into `out` `[T, d]`. */
  embed(
    ctx: GpuEncodeContext,
    tokens: GPUBuffer,
    table: GPUBuffer,
    out: GPUBuffer,
    T: number,
    d: number,
  ): Dispatch {
    return {
      pipeline: this.#p("llama_embed"),
      buffers: [ctx.uniform(params([T * d, d])), tokens, table, out],
      workgroups: this.#grid(T * d),
    };
  }

  /** RMSNorm of `rows` rows from `xOffset` into `out` from `outOffset`. */
  rmsNorm(
    ctx: GpuEncodeContext,
    a: {
      x: GPUBuffer;
      xOffset: number;
      w: GPUBuffer;
      out: GPUBuffer;
      outOffset: number;
      rows: number;
      d: number;
      eps: number;
    },
  ): Dispatch {
    return {
      pipeline: this.#p("ops_rmsnorm"),
      buffers: [ctx.uniform(params([a.d, a.xOffset, a.outOffset, 0], [a.eps])), a.x, a.w, a.out],
      workgroups: [a.rows],
    };
  }

  /** RoPE in place on `rows` rows of `heads` heads at `offset` (row stride `stride`). */
  rope(
    ctx: GpuEncodeContext,
    a: {
      x: GPUBuffer;
      offset: number;
      stride: number;
      rows: number;
      heads: number;
      half: number;
      pos0: number;
      table: GPUBuffer;
      sinOffset: number;
    },
  ): Dispatch {
    const u = ctx.uniform(
      params([a.rows, a.heads, a.half, a.pos0, a.offset, a.stride, a.sinOffset, 0]),
    );
    return {
      pipeline: this.#p("ops_rope"),
      buffers: [u, a.table, a.x],
      workgroups: this.#grid(a.rows * a.heads * a.half),
    };
  }

  /** Causal (windowed) GQA attention of `T` query rows at positions `pos0…`. */
  attention(
    ctx: GpuEncodeContext,
    a: {
      q: GPUBuffer;
      k: GPUBuffer;
      v: GPUBuffer;
      out: GPUBuffer;
      T: number;
      pos0: number;
      heads: number;
      kvHeads: number;
      headDim: number;
      window: number;
    },
  ): Dispatch {
    if (a.headDim > 256) {
      throw new QuantlabError(
        "unsupported",
        `The WebGPU attention kernel handles head_dim ≤ 256; this model has ${a.headDim}`,
      );
    }
    const u = ctx.uniform(
      params([a.pos0, a.heads, a.kvHeads, a.headDim, a.window, 0, 0, 0], [
        1 / Math.sqrt(a.headDim),
      ]),
    );
    return {
      pipeline: this.#p("ops_attention"),
      buffers: [u, a.q, a.k, a.v, a.out],
      workgroups: [a.heads, a.T],
    };
  }

  /** `gate = silu(gate) · up` over `n` elements. */
  swiglu(ctx: GpuEncodeContext, gate: GPUBuffer, up: GPUBuffer, n: number): Dispatch {
    return {
      pipeline: this.#p("ops_swiglu"),
      buffers: [ctx.uniform(params([n])), gate, up],
      workgroups: this.#grid(n),
    };
  }

  /** `x += y` over `n` elements. */
  add(ctx: GpuEncodeContext, x: GPUBuffer, y: GPUBuffer, n: number): Dispatch {
    return {
      pipeline: this.#p("ops_residual"),
      buffers: [ctx.uniform(params([n])), x, y],
      workgroups: this.#grid(n),
    };
  }

  /** NLL of `targets[tOffset + r]` under softmax of logit row r, for `rows` rows. */
  nll(
    ctx: GpuEncodeContext,
    a: {
      logits: GPUBuffer;
      targets: GPUBuffer;
      tOffset: number;
      out: GPUBuffer;
      outOffset: number;
      rows: number;
      V: number;
    },
  ): Dispatch {
    return {
      pipeline: this.#p("ops_softmax"),
      buffers: [ctx.uniform(params([a.V, a.tOffset, a.outOffset, 0])), a.logits, a.targets, a.out],
      workgroups: [a.rows],
    };
  }
}

const kernelCache = new WeakMap<Gpu, Promise<LlamaKernels>>();

/**
 * The Llama kernels for `gpu`, compiled once per device.
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { llamaKernels } from "./gpu_ops.ts";
 * const gpu = await getGpu();
 * if (gpu && (await llamaKernels(gpu)) !== (await llamaKernels(gpu))) throw new Error();
 * ```
 */
export function llamaKernels(gpu: Gpu): Promise<LlamaKernels> {
  let k = kernelCache.get(gpu);
  if (!k) {
    k = (async () => {
      const pipelines = new Map<LlamaShaderName, GPUComputePipeline>();
      for (const name of LLAMA_SHADERS) {
        pipelines.set(name, gpu.pipeline(name, await loadShader(name)));
      }
      return new LlamaKernels(gpu, pipelines);
    })();
    kernelCache.set(gpu, k);
    k.catch(() => kernelCache.delete(gpu));
  }
  return k;
}

/**
 * A uniform-buffer cache for {@linkcode GpuEncodeContext}: buffers are keyed by content, so the
 * identical params of every layer share one buffer, and kept across submissions until
 * {@linkcode UniformPool.trim} finds more than `max` (call it only between submissions).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { UniformPool } from "./gpu_ops.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const pool = new UniformPool(gpu);
 *   const a = pool.uniform(new Uint32Array([1, 2, 3, 4]));
 *   if (pool.uniform(new Uint32Array([1, 2, 3, 4])) !== a) throw new Error("unexpected");
 *   pool.destroy();
 * }
 * ```
 */
export class UniformPool implements GpuEncodeContext {
  readonly gpu: Gpu;
  readonly #buffers = new Map<string, GPUBuffer>();
  readonly #max: number;

  /** A pool on `gpu` that trims itself beyond `max` buffers. */
  constructor(gpu: Gpu, max = 1024) {
    this.gpu = gpu;
    this.#max = max;
  }

  /** A uniform buffer holding `data`. */
  uniform(data: Uint32Array | Float32Array | Int32Array): GPUBuffer {
    const key = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4).join(",");
    let b = this.#buffers.get(key);
    if (!b) {
      b = this.gpu.uniform(data);
      this.#buffers.set(key, b);
    }
    return b;
  }

  /** Frees every buffer when more than the limit are held (only between submissions). */
  trim(): void {
    if (this.#buffers.size > this.#max) this.destroy();
  }

  /** Frees every buffer. */
  destroy(): void {
    for (const b of this.#buffers.values()) b.destroy();
    this.#buffers.clear();
  }
}

function checkBinding(gpu: Gpu, bytes: number, what: string): void {
  const max = gpu.limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    throw new QuantlabError(
      "gpu",
      `${what} needs ${bytes} bytes in one binding; this device allows ${max}`,
    );
  }
}

/**
 * A dense {@linkcode GpuLinear}: uploads `weight` `[outF, inF]` (and `bias`) once; products run on
 * the tiled f32 GEMM kernel (GEMV for ≤ 4 rows).
 *
 * @example
 * ```ts
 * import { getGpu } from "../gpu/device.ts";
 * import { denseGpuLinear } from "./gpu_ops.ts";
 * const gpu = await getGpu();
 * if (gpu) {
 *   const lin = await denseGpuLinear(gpu, new Float32Array([1, 2, 3, 4]), 2, 2);
 *   if (lin.outFeatures !== 2) throw new Error("unexpected");
 *   lin.destroy();
 * }
 * ```
 */
export async function denseGpuLinear(
  gpu: Gpu,
  weight: Float32Array,
  outF: number,
  inF: number,
  bias?: Float32Array,
): Promise<GpuLinear> {
  const kernels = await llamaKernels(gpu);
  checkBinding(gpu, weight.byteLength, `Weight [${outF}, ${inF}]`);
  const w = gpu.storage(weight, "linear weight");
  const b = bias ? gpu.storage(bias, "linear bias") : undefined;
  return {
    inFeatures: inF,
    outFeatures: outF,
    encode(ctx: GpuEncodeContext, call: GpuLinearCall): Dispatch[] {
      return [
        kernels.matmul(ctx, {
          x: call.x,
          xOffset: call.xOffset,
          w,
          ...(b ? { bias: b } : {}),
          out: call.out,
          outOffset: call.outOffset,
          M: call.batch,
          N: outF,
          K: inF,
        }),
      ];
    },
    destroy(): void {
      w.destroy();
      b?.destroy();
    },
  };
}
