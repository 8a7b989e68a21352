// This module is browser compatible.
/**
 * The trainer's element-wise kernels (RMSNorm, SwiGLU, causal softmax and their backward, the
 * cross-entropy) and the arena they work in. The WebAssembly SIMD kernels (WAT in
 * `tools/gen_train_wasm.ts`) run in place on data in a WebAssembly memory, so the trainer keeps all
 * its activations in one {@linkcode TrainArena} allocated once per batch shape: no allocation per
 * step, and BLAS reads and writes the same views. Where WebAssembly SIMD is missing, where the
 * arena would pass 4 GiB, or while the path is switched off ({@linkcode setTrainWasm}), the arena
 * is a plain ArrayBuffer and the TypeScript loops below do the same work.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { compileBase64Wasm } from "../core/wasm.ts";
import { TRAIN_WASM_BASE64 } from "./gen/train_wasm_bytes.ts";

/** The element-wise kernels; every array argument is a view into the arena that owns them. */
export interface TrainKernels {
  /** Which implementation runs. */
  readonly kind: "wasm" | "typescript";
  /** Per row of `[rows, d]`: `r = 1/√(mean x² + eps)`, `y = x·r·w`. */
  rmsnormFwd(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    r: Float32Array,
    rows: number,
    d: number,
    eps: number,
  ): void;
  /** `dx += r·w·dy − x·r³·Σ(w·dy·x)/d` per row; `dw += Σ_rows dy·x·r`. */
  rmsnormBwd(
    x: Float32Array,
    r: Float32Array,
    w: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dw: Float32Array,
    rows: number,
    d: number,
  ): void;
  /** `h = silu(g)·u` over the first `n` elements. */
  swigluFwd(g: Float32Array, u: Float32Array, h: Float32Array, n: number): void;
  /** The gradients of `h = silu(g)·u` in place: `g ← dL/dg`, `u ← dL/du` from `dh`. */
  swigluBwd(dh: Float32Array, g: Float32Array, u: Float32Array, n: number): void;
  /** Causal softmax of `blocks` consecutive `[t, t]` blocks of `p` in place (0 above the diagonal). */
  softmaxCausal(p: Float32Array, t: number, blocks: number): void;
  /** `dp ← p·(dp − Σ p·dp)` per row of each causal block (0 above the diagonal). */
  softmaxBwd(p: Float32Array, dp: Float32Array, t: number, blocks: number): void;
  /**
   * Cross-entropy of `[rows, v]` logits against `tgt` (−1: no target). `out[2i]` = max − x[target],
   * `out[2i+1]` = Σ e^(x − max); with `scale > 0` each row becomes the gradient of `scale ×` its
   * loss (0 for rows without a target).
   */
  xentRows(
    p: Float32Array,
    rows: number,
    v: number,
    tgt: Int32Array,
    scale: number,
    out: Float64Array,
  ): void;
}

interface WasmExports {
  rmsnorm_fwd(x: number, w: number, y: number, r: number, rows: number, d: number, e: number): void;
  rmsnorm_bwd(
    x: number,
    r: number,
    w: number,
    dy: number,
    dx: number,
    dw: number,
    rows: number,
    d: number,
  ): void;
  swiglu_fwd(g: number, u: number, h: number, n: number): void;
  swiglu_bwd(dh: number, g: number, u: number, n: number): void;
  softmax_causal(p: number, t: number, blocks: number): void;
  softmax_bwd(p: number, dp: number, t: number, blocks: number): void;
  xent_rows(p: number, rows: number, v: number, tgt: number, scale: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let enabled = true;

function wasmModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = compileBase64Wasm(TRAIN_WASM_BASE64);
  return compiled;
}

/**
 * Switches the WebAssembly SIMD kernels on (the default, where available) or off, for arenas
 * made after the call (e.g. to compare the two paths).
 *
 * @example
 * ```ts
 * import { setTrainWasm, TrainArena } from "./train_wasm.ts";
 * setTrainWasm(false);
 * const kind = new TrainArena([{ type: "f32", n: 4 }]).kernels.kind;
 * setTrainWasm(true);
 * if (kind !== "typescript") throw new Error(kind);
 * ```
 */
export function setTrainWasm(on: boolean): void {
  enabled = on;
}

/** The TypeScript kernels (the fallback, and the reference of the tests). */
export const TS_KERNELS: TrainKernels = {
  kind: "typescript",
  rmsnormFwd(x, w, y, r, rows, d, eps) {
    for (let i = 0; i < rows; i++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += x[i * d + j]! ** 2;
      const inv = 1 / Math.sqrt(ss / d + eps);
      r[i] = inv;
      for (let j = 0; j < d; j++) y[i * d + j] = x[i * d + j]! * inv * w[j]!;
    }
  },
  rmsnormBwd(x, r, w, dy, dx, dw, rows, d) {
    for (let i = 0; i < rows; i++) {
      const ri = r[i]!;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += w[j]! * dy[i * d + j]! * x[i * d + j]!;
      const c = (ri * ri * ri * dot) / d;
      for (let j = 0; j < d; j++) {
        const g = dy[i * d + j]!;
        dx[i * d + j] = dx[i * d + j]! + ri * w[j]! * g - c * x[i * d + j]!;
        dw[j] = dw[j]! + g * x[i * d + j]! * ri;
      }
    }
  },
  swigluFwd(g, u, h, n) {
    for (let i = 0; i < n; i++) {
      const z = g[i]!;
      h[i] = (z / (1 + Math.exp(-z))) * u[i]!;
    }
  },
  swigluBwd(dh, g, u, n) {
    for (let i = 0; i < n; i++) {
      const z = g[i]!, s = 1 / (1 + Math.exp(-z)), d = dh[i]!;
      g[i] = d * u[i]! * s * (1 + z * (1 - s));
      u[i] = d * z * s;
    }
  },
  softmaxCausal(p, t, blocks) {
    for (let r = 0; r < blocks * t; r++) {
      const o = r * t, keep = (r % t) + 1;
      let m = -Infinity;
      for (let s = 0; s < keep; s++) if (p[o + s]! > m) m = p[o + s]!;
      let z = 0;
      for (let s = 0; s < keep; s++) {
        const e = Math.exp(p[o + s]! - m);
        p[o + s] = e;
        z += e;
      }
      const inv = 1 / z;
      for (let s = 0; s < keep; s++) p[o + s] = p[o + s]! * inv;
      p.fill(0, o + keep, o + t);
    }
  },
  softmaxBwd(p, dp, t, blocks) {
    for (let r = 0; r < blocks * t; r++) {
      const o = r * t, keep = (r % t) + 1;
      let dot = 0;
      for (let s = 0; s < keep; s++) dot += p[o + s]! * dp[o + s]!;
      for (let s = 0; s < keep; s++) dp[o + s] = p[o + s]! * (dp[o + s]! - dot);
      dp.fill(0, o + keep, o + t);
    }
  },
  xentRows(p, rows, v, tgt, scale, out) {
    for (let i = 0; i < rows; i++) {
      const o = i * v, t = tgt[i]!;
      if (t < 0) {
        if (scale > 0) p.fill(0, o, o + v);
        out[2 * i] = 0;
        out[2 * i + 1] = 1;
        continue;
      }
      let m = -Infinity;
      for (let j = 0; j < v; j++) if (p[o + j]! > m) m = p[o + j]!;
      out[2 * i] = m - p[o + t]!;
      let z = 0;
      for (let j = 0; j < v; j++) z += Math.exp(p[o + j]! - m);
      out[2 * i + 1] = z;
      if (scale > 0) {
        const inv = scale / z;
        for (let j = 0; j < v; j++) p[o + j] = Math.exp(p[o + j]! - m) * inv;
        p[o + t] = p[o + t]! - scale;
      }
    }
  },
};

function wasmKernels(k: WasmExports): TrainKernels {
  const at = (a: ArrayBufferView) => a.byteOffset;
  return {
    kind: "wasm",
    rmsnormFwd: (x, w, y, r, rows, d, eps) =>
      k.rmsnorm_fwd(at(x), at(w), at(y), at(r), rows, d, eps),
    rmsnormBwd: (x, r, w, dy, dx, dw, rows, d) =>
      k.rmsnorm_bwd(at(x), at(r), at(w), at(dy), at(dx), at(dw), rows, d),
    swigluFwd: (g, u, h, n) => k.swiglu_fwd(at(g), at(u), at(h), n),
    swigluBwd: (dh, g, u, n) => k.swiglu_bwd(at(dh), at(g), at(u), n),
    softmaxCausal: (p, t, blocks) => k.softmax_causal(at(p), t, blocks),
    softmaxBwd: (p, dp, t, blocks) => k.softmax_bwd(at(p), at(dp), t, blocks),
    xentRows: (p, rows, v, tgt, scale, out) => k.xent_rows(at(p), rows, v, at(tgt), scale, at(out)),
  };
}

/** One array of an arena: its element type and length. */
export interface ArenaSpec {
  /** Element type. */
  type: "f32" | "i32" | "f64";
  /** Number of elements. */
  n: number;
}

/** What {@linkcode TrainArena.views} holds for each spec type. */
export type ArenaView = Float32Array | Int32Array | Float64Array;

/** A WebAssembly memory holds at most 4 GiB; keep a margin for the header. */
const WASM_MAX_BYTES = 2 ** 32 - 2 ** 20;

/**
 * Zeroed arrays laid out in one buffer (16-byte aligned, never grown) and the kernels that run on
 * them: a WebAssembly memory with the SIMD kernels where possible, else an ArrayBuffer with
 * {@linkcode TS_KERNELS}. The arrays are valid for the arena's lifetime.
 *
 * @example
 * ```ts
 * import { TrainArena } from "./train_wasm.ts";
 * const a = new TrainArena([{ type: "f32", n: 8 }, { type: "i32", n: 2 }, { type: "f64", n: 4 }]);
 * const [p, tgt, out] = a.views as [Float32Array, Int32Array, Float64Array];
 * p.set([0, 0, 0, 0, 1, 2, 3, 4]);
 * tgt.set([2, -1]);
 * a.kernels.xentRows(p, 2, 4, tgt, 0, out);
 * if (out[0] !== 0 || Math.abs(out[1]! - 4) > 1e-6 || out[2] !== 0 || out[3] !== 1) {
 *   throw new Error(String(out));
 * }
 * ```
 */
export class TrainArena {
  /** The arrays, in the order of the specs. */
  readonly views: ArenaView[];
  /** The kernels for these arrays. */
  readonly kernels: TrainKernels;
  /** Bytes allocated. */
  readonly bytes: number;

  /** Allocates the arrays of `specs`. */
  constructor(specs: readonly ArenaSpec[]) {
    const offsets: number[] = [];
    let bytes = 64; // a header keeps every view away from address 0
    for (const s of specs) {
      if (!Number.isInteger(s.n) || s.n < 0) {
        throw new QuantlabError("bad-argument", `Arena array length ${s.n} is not a valid size`);
      }
      offsets.push(bytes);
      bytes += Math.ceil(((s.type === "f64" ? 8 : 4) * s.n) / 16) * 16;
    }
    this.bytes = bytes;
    let buffer: ArrayBuffer | null = null;
    let kernels: TrainKernels = TS_KERNELS;
    const mod = enabled && bytes <= WASM_MAX_BYTES ? wasmModule() : null;
    if (mod !== null) {
      try {
        const mem = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
        const inst = new WebAssembly.Instance(mod, { env: { mem } });
        kernels = wasmKernels(inst.exports as unknown as WasmExports);
        buffer = mem.buffer;
      } catch {
        buffer = null;
        kernels = TS_KERNELS;
      }
    }
    buffer ??= new ArrayBuffer(bytes);
    this.kernels = kernels;
    this.views = specs.map((s, i) =>
      s.type === "f32"
        ? new Float32Array(buffer, offsets[i], s.n)
        : s.type === "i32"
        ? new Int32Array(buffer, offsets[i], s.n)
        : new Float64Array(buffer, offsets[i], s.n)
    );
  }
}
