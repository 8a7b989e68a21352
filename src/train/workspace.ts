// This module is browser compatible.
/**
 * The trainer's activations for one batch shape, allocated once in a {@linkcode TrainArena}
 * (so the SIMD kernels run on them in place and a step allocates nothing): per layer what the
 * backward needs, and the scratch of the final norm, the LM head, the cross-entropy and the
 * backward. A forward-only workspace keeps two layer caches and alternates between them.
 *
 * @module
 */
import type { LlamaConfig } from "../model/config.ts";
import { type ArenaSpec, TrainArena, type TrainKernels } from "./train_wasm.ts";

/** What one layer's forward keeps for the backward (views into the arena). */
export interface LayerCache {
  /** Input `[N, d]`. */
  x: Float32Array;
  /** RMSNorm'd input. */
  n1: Float32Array;
  /** 1/rms per row `[N]`. */
  r1: Float32Array;
  /** Roped queries `[N, H·hd]`. */
  q: Float32Array;
  /** Roped keys `[N, KV·hd]`. */
  k: Float32Array;
  /** Values `[N, KV·hd]`. */
  v: Float32Array;
  /** Attention probabilities `[B, H, T, T]`. */
  p: Float32Array;
  /** Attention output `[N, H·hd]`. */
  att: Float32Array;
  /** After the attention residual. */
  x2: Float32Array;
  /** Its RMSNorm. */
  n2: Float32Array;
  /** 1/rms per row. */
  r2: Float32Array;
  /** Gate pre-activation `[N, I]` (the backward overwrites it with its gradient). */
  g: Float32Array;
  /** Up projection `[N, I]` (likewise). */
  u: Float32Array;
}

/** All arrays of one batch shape. */
export interface TrainWorkspace {
  /** Sequences. */
  readonly B: number;
  /** Tokens per sequence. */
  readonly T: number;
  /** The kernels for these arrays. */
  readonly kernels: TrainKernels;
  /** Arena size. */
  readonly bytes: number;
  /** Layer caches: one per layer when training, else two used in turn. */
  readonly caches: LayerCache[];
  /** The last layer's output `[N, d]`. */
  readonly xL: Float32Array;
  /** Final RMSNorm output and its 1/rms. */
  readonly xf: Float32Array;
  /** 1/rms of the final norm `[N]`. */
  readonly rf: Float32Array;
  /** Logits `[N, V]`, then dL/dlogits. */
  readonly logits: Float32Array;
  /** Next-token targets `[N]` (−1 at each sequence's last position). */
  readonly tgt: Int32Array;
  /** Cross-entropy statistics `[N, 2]`. */
  readonly stats: Float64Array;
  /** A norm weight copied into the arena `[d]`, and its gradient `[d]`. */
  readonly wv: Float32Array;
  /** The gradient of a norm weight `[d]`. */
  readonly dwv: Float32Array;
  /** SwiGLU output (forward) and its recomputation (backward) `[N, I]`. */
  readonly h: Float32Array;
  /** Backward scratch: dL/dh `[N, I]`. */
  readonly dh: Float32Array;
  /** The residual stream's gradient `[N, d]`. */
  readonly dx: Float32Array;
  /** The gradient after the attention residual `[N, d]`. */
  readonly dx2: Float32Array;
  /** The gradient of a norm's output `[N, d]`. */
  readonly dn: Float32Array;
  /** The gradient of the attention output `[N, H·hd]`. */
  readonly datt: Float32Array;
  /** Query gradient `[N, H·hd]`. */
  readonly dq: Float32Array;
  /** Key gradient `[N, KV·hd]`. */
  readonly dk: Float32Array;
  /** Value gradient `[N, KV·hd]`. */
  readonly dv: Float32Array;
  /** One block of score gradients `[T, T]`. */
  readonly dP: Float32Array;
}

const CACHE_KEYS = [
  "x",
  "n1",
  "r1",
  "q",
  "k",
  "v",
  "p",
  "att",
  "x2",
  "n2",
  "r2",
  "g",
  "u",
] as const;

/**
 * The workspace of B sequences of T tokens for config `c`; `training` keeps every layer's cache
 * (the backward needs them), else two.
 *
 * @example
 * ```ts
 * import { llamaConfig } from "../model/config.ts";
 * import { trainWorkspace } from "./workspace.ts";
 * const c = llamaConfig({ hiddenSize: 16, numLayers: 3, vocabSize: 32, intermediateSize: 32 });
 * const ws = trainWorkspace(c, 2, 4, false);
 * if (ws.caches.length !== 2 || ws.logits.length !== 2 * 4 * 32) throw new Error();
 * ```
 */
export function trainWorkspace(
  c: LlamaConfig,
  B: number,
  T: number,
  training: boolean,
): TrainWorkspace {
  const d = c.hiddenSize, H = c.numHeads, KV = c.numKvHeads, hd = c.headDim;
  const I = c.intermediateSize, V = c.vocabSize, N = B * T;
  const qd = H * hd, kvd = KV * hd;
  const cacheSizes: Record<(typeof CACHE_KEYS)[number], number> = {
    x: N * d,
    n1: N * d,
    r1: N,
    q: N * qd,
    k: N * kvd,
    v: N * kvd,
    p: B * H * T * T,
    att: N * qd,
    x2: N * d,
    n2: N * d,
    r2: N,
    g: N * I,
    u: N * I,
  };
  const nCaches = training ? c.numLayers : Math.min(2, c.numLayers);
  const specs: ArenaSpec[] = [];
  for (let l = 0; l < nCaches; l++) {
    for (const k of CACHE_KEYS) specs.push({ type: "f32", n: cacheSizes[k] });
  }
  const shared = {
    xL: N * d,
    xf: N * d,
    rf: N,
    logits: N * V,
    wv: d,
    dwv: d,
    h: N * I,
    dh: training ? N * I : 0,
    dx: training ? N * d : 0,
    dx2: training ? N * d : 0,
    dn: training ? N * d : 0,
    datt: training ? N * qd : 0,
    dq: training ? N * qd : 0,
    dk: training ? N * kvd : 0,
    dv: training ? N * kvd : 0,
    dP: training ? T * T : 0,
  };
  for (const n of Object.values(shared)) specs.push({ type: "f32", n });
  specs.push({ type: "i32", n: N }, { type: "f64", n: 2 * N });
  const arena = new TrainArena(specs);
  const views = arena.views;
  let at = 0;
  const caches: LayerCache[] = [];
  for (let l = 0; l < nCaches; l++) {
    const cache = {} as Record<(typeof CACHE_KEYS)[number], Float32Array>;
    for (const k of CACHE_KEYS) cache[k] = views[at++] as Float32Array;
    caches.push(cache);
  }
  const s = {} as Record<keyof typeof shared, Float32Array>;
  for (const k of Object.keys(shared) as (keyof typeof shared)[]) {
    s[k] = views[at++] as Float32Array;
  }
  return {
    B,
    T,
    kernels: arena.kernels,
    bytes: arena.bytes,
    caches,
    ...s,
    tgt: views[at++] as Int32Array,
    stats: views[at] as Float64Array,
  };
}
