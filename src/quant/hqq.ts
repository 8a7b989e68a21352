// This module is browser compatible.
/**
 * HQQ (half-quadratic quantization, mobiusml/hqq) on the shared format: every option of the
 * reference library's `BaseQuantizeConfig` / `Quantizer.quantize`, its default proximal ("legacy")
 * optimizer with the same early stop, and meta-quantization of scales and zeros.
 *
 * Algorithm (f32 throughout, as the library's float32 CPU path):
 * - per group: s' = maxV/(max − min) (s' = 1 where |max − min| ≤ 1e-4, clamped to ≤ 2e4),
 *   z = −min·s', rounded with `roundZero` (default for 4 bits);
 * - optimizer, at most `iters` steps: W_q = clamp(round(W·s' + z), 0, maxV), W_r = (W_q − z)/s',
 *   W_e = shrink(W − W_r) with shrink(x) = sign(x)·max(|x| − |x|^(p−1)/β, 0),
 *   z ← mean_group(W_q − (W − W_e)·s'), β ← β·κ; the error mean|W − W_r| over the **whole tensor**
 *   must decrease every step, else the loop stops — keeping the zero computed in that last step,
 *   exactly as the library's loop does;
 * - W_q = clamp(round(W·s' + z)) with the f32 s' and z; stored scale = 1/s' (f32), then scale and
 *   zero are meta-quantized (`quantScale`, `quantZero`: 8 bits, see `meta_quant.ts`) or rounded to
 *   f16 (the library casts them to its f16 compute dtype after quantizing); `scaleDtype: "F32"`
 *   keeps them f32.
 *
 * Mapping to the format: table = [0 … 2^codeBits − 1], zeros in code units, scale = 1/s', so the
 * shared decoder's (table[code] − zero)·scale is the library's (W_q − z)·scale.
 *
 * Differences from the library, all documented choices:
 * - κ: the library multiplied β by κ after every step until May 2025 (the published algorithm,
 *   done here); since commit a566c78 its legacy loop keeps β fixed (κ unused): κ = 1 gives that.
 * - axis 0: the library reshapes the flattened tensor to [g, −1], so a group is one column's rows
 *   a, a + rows/g, a + 2·rows/g, … (strided); here (format `groupAxis: 0`) a group is g consecutive
 *   rows of one column. {@linkcode hqqReference} implements the library's strided groups; HQQ here
 *   on rows permuted so that row r holds row (r mod g)·(rows/g) + ⌊r/g⌋ equals it (tested).
 * - group size: any divisor of the grouped dimension (the library's config demands a multiple of 8
 *   and that g divides the element count).
 * - meta groups are contiguous (see `meta_quant.ts`); constant groups keep an exact, unrounded zero.
 * - the early-stop error is accumulated in f64 and rounded to f32 (torch sums in f32); the fast
 *   kernels take |W − W_r| as |W·s' + z − W_q|/s' (algebraically equal, one division per group)
 *   and evaluate |x|^(p−1) only above the threshold β^(−1/(2−p)) where the shrink can be nonzero.
 *   Tested against {@linkcode hqqReference}: same step count, zeros equal to 1e-5 (bit-equal on the
 *   4096² case).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { parallelFor, poolSize, sharedF32, sharedU32, toShared } from "../cpu/pool.ts";
import type { Backend } from "../gpu/backend.ts";
import { type Gpu, loadShader } from "../gpu/device.ts";
import type { ParamStorage, QuantizedTensor } from "./format.ts";
import type { HqqLayout } from "./hqq_kernel.ts";
import { metaQuantizeAffine } from "./meta_quant.ts";
import { rowStrideWords } from "./packing.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";
import { checkWeights, groupLayout, roundTo } from "./group_encoding.ts";
import { gpuRowChunks, workgroupGrid } from "./group_encoder_gpu.ts";
import { readExtra, stripUndefined } from "./rtn.ts";

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even
const KERNEL = new URL("./hqq_kernel.ts", import.meta.url).href;

/** Valid HQQ bit widths (the library's SUPPORTED_BITS plus 7; 1.58 = ternary, levels 0, 1, 2). */
export const HQQ_BITS: readonly number[] = [1, 1.58, 2, 3, 4, 5, 6, 7, 8];

/** HQQ configuration (the library's `BaseQuantizeConfig` plus its optimizer parameters). */
export interface HqqConfig {
  /** Bits: 1–8 or 1.58. */
  nbits: number;
  /** Weights per group; null = per channel (one group per row for axis 1, per column for axis 0). */
  groupSize: number | null;
  /** 1: groups along the input dimension (library default); 0: along the output dimension. */
  axis: 0 | 1;
  /** Run the proximal optimizer (else plain min–max). */
  optimize: boolean;
  /** Round the initial zero to an integer (library default: on for 4 bits). */
  roundZero: boolean;
  /** p of the lp "norm" (0 < p ≤ 1). */
  lpNorm: number;
  /** β of the shrinkage (> 0). */
  beta: number;
  /** β ← β·κ after each step (κ ≥ 1; 1 = the library's loop since May 2025). */
  kappa: number;
  /** Maximum optimizer steps. */
  iters: number;
  /** Stop as soon as the whole-tensor error fails to decrease. */
  earlyStop: boolean;
  /** 8-bit meta-quantization of the zeros (per tensor, or group 128 with offloadMeta). */
  quantZero: boolean;
  /** 8-bit meta-quantization of the scales (group 128). */
  quantScale: boolean;
  /** The library's offload_meta: zeros meta-quantized in groups of 128 like the scales. */
  offloadMeta: boolean;
  /** Stored precision of scale and zero (and of the meta parameters). */
  scaleDtype: "F16" | "F32";
}

/** What the optimizer did. */
export interface HqqTrace {
  /** mean|W − W_r| (f32) of each executed step. */
  errors: number[];
  /** Steps executed (zero updates). */
  steps: number;
  /** True when the early-stop rule ended the loop. */
  stoppedEarly: boolean;
}

/** A quantized tensor with its optimizer trace. */
export interface HqqResult {
  /** The quantized tensor. */
  tensor: QuantizedTensor;
  /** Per-step errors and the step the optimizer stopped at. */
  trace: HqqTrace;
  /** s' per group (f32, before storage). */
  invScale: Float32Array;
  /** Zero per group (f32, before storage rounding or meta-quantization). */
  zero: Float32Array;
}

/**
 * A full HQQ configuration from partial options, validated (defaults: 4 bits, group 64, axis 1,
 * optimizer on with p = 0.7, β = 10, κ = 1.01, 20 steps, early stop; `roundZero` = (nbits = 4);
 * no meta-quantization; f16 scale and zero).
 *
 * @example
 * ```ts
 * import { hqqConfig } from "./hqq.ts";
 * const c = hqqConfig({ nbits: 3 });
 * if (c.roundZero || c.groupSize !== 64 || c.iters !== 20) throw new Error();
 * ```
 */
export function hqqConfig(opts: Partial<HqqConfig> = {}): HqqConfig {
  const o = stripUndefined(opts);
  const nbits = o.nbits ?? 4;
  const c: HqqConfig = {
    nbits,
    groupSize: 64,
    axis: 1,
    optimize: true,
    roundZero: nbits === 4,
    lpNorm: 0.7,
    beta: 10,
    kappa: 1.01,
    iters: 20,
    earlyStop: true,
    quantZero: false,
    quantScale: false,
    offloadMeta: false,
    scaleDtype: "F16",
    ...o,
  };
  const bad = (msg: string): never => {
    throw new QuantlabError("bad-argument", msg);
  };
  if (!HQQ_BITS.includes(c.nbits)) {
    bad(`HQQ bits ${c.nbits} is not valid; use ${HQQ_BITS.join(", ")}`);
  }
  if (c.groupSize !== null && (!Number.isInteger(c.groupSize) || c.groupSize < 1)) {
    bad(`HQQ group size ${c.groupSize} is not valid; use a positive integer or null (per channel)`);
  }
  if (c.axis !== 0 && c.axis !== 1) bad(`HQQ axis ${c.axis} is not valid; use 0 or 1`);
  if (!(c.lpNorm > 0 && c.lpNorm <= 1)) bad(`HQQ lpNorm ${c.lpNorm} is not valid; use 0 < p ≤ 1`);
  if (!(c.beta > 0 && Number.isFinite(c.beta))) bad(`HQQ beta ${c.beta} is not valid; use β > 0`);
  if (!(c.kappa >= 1 && Number.isFinite(c.kappa))) {
    bad(`HQQ kappa ${c.kappa} is not valid; use κ ≥ 1 (1 keeps β fixed)`);
  }
  if (!Number.isInteger(c.iters) || c.iters < 1) {
    bad(`HQQ iters ${c.iters} is not valid; use an integer ≥ 1`);
  }
  if (c.scaleDtype !== "F16" && c.scaleDtype !== "F32") {
    bad(`Scale dtype ${c.scaleDtype} is not valid; use F16 or F32`);
  }
  return c;
}

/** 2^nbits − 1 rounded (1.58 bits → 2) and the code width that holds it. */
export function hqqLevels(nbits: number): { maxV: number; codeBits: number } {
  const maxV = Math.round(2 ** nbits - 1);
  return { maxV, codeBits: Math.max(1, Math.ceil(Math.log2(maxV + 1))) };
}

/** Per-step shrink parameters: f32(1/β_i) and a threshold below which the shrink is exactly 0. */
function schedule(c: HqqConfig): { invBeta: number[]; thr: number[] } {
  const invBeta: number[] = [];
  const thr: number[] = [];
  let beta = c.beta;
  for (let i = 0; i < c.iters; i++) {
    invBeta.push(Math.fround(1 / beta));
    // |x| − |x|^(p−1)/β > 0 ⟺ |x| > β^(−1/(2−p)); the margin covers f32 rounding.
    thr.push(beta ** (-1 / (2 - c.lpNorm)) * (1 - 1e-4));
    beta *= c.kappa;
  }
  return { invBeta, thr };
}

// ---------------------------------------------------------------------------------------------
// Reference (the library's loop, literally, on its own group layout)
// ---------------------------------------------------------------------------------------------

/** What {@linkcode hqqReference} returns: the library's outputs before the f16 cast. */
export interface HqqReferenceResult {
  /** Code of each weight (flat index of W). */
  wq: Uint8Array;
  /** s' per group (f32). */
  invScale: Float32Array;
  /** Stored scale 1/s' per group (f32). */
  scale: Float32Array;
  /** Zero per group (f32). */
  zero: Float32Array;
  /** Group of each weight in the library's layout: ⌊i/g⌋ (axis 1) or i mod (N/g) (axis 0). */
  groupOf: (i: number) => number;
  /** Per-step errors of the reference loop. */
  trace: HqqTrace;
}

/**
 * The specification: HQQ as `Quantizer.quantize` + `optimize_weights_proximal_legacy` compute it,
 * on the flattened tensor reshaped to [−1, g] (axis 1) or [g, −1] (axis 0, strided groups), step by
 * step in f32 (`Math.fround` after each operation, `|x|^(p−1)` for every element). Slow; for tests.
 *
 * @example
 * ```ts
 * import { hqqConfig, hqqReference } from "./hqq.ts";
 * const w = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) * 0.02);
 * const r = hqqReference(w, 2, 64, hqqConfig());
 * if (r.zero.length !== 2 || r.trace.steps < 1) throw new Error();
 * ```
 */
export function hqqReference(
  w: Float32Array,
  rows: number,
  cols: number,
  c: HqqConfig,
  name = "tensor",
): HqqReferenceResult {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const fr = Math.fround;
  const n = rows * cols;
  const g = L.g;
  const G = n / g;
  const groupOf = c.axis === 1 ? (i: number) => Math.floor(i / g) : (i: number) => i % G;
  const { maxV } = hqqLevels(c.nbits);
  // min / max along the group axis
  const mn = new Float32Array(G).fill(Infinity);
  const mx = new Float32Array(G).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const gi = groupOf(i);
    if (w[i]! < mn[gi]!) mn[gi] = w[i]!;
    if (w[i]! > mx[gi]!) mx[gi] = w[i]!;
  }
  const s = new Float32Array(G);
  let z = new Float32Array(G);
  for (let gi = 0; gi < G; gi++) {
    const denom = fr(mx[gi]! - mn[gi]!);
    let sc = fr(maxV / denom);
    if (Math.abs(denom) <= fr(1e-4)) sc = 1;
    if (sc > 2e4) sc = 2e4;
    s[gi] = sc;
    z[gi] = fr(-mn[gi]! * sc);
    if (c.roundZero && mn[gi] !== mx[gi]) z[gi] = (z[gi]! + MAGIC) - MAGIC;
  }
  const quant = (x: number, gi: number): number => {
    const q = (fr(fr(x * s[gi]!) + z[gi]!) + MAGIC) - MAGIC;
    return q < 0 ? 0 : q > maxV ? maxV : q;
  };
  const errors: number[] = [];
  let stoppedEarly = false;
  if (c.optimize) {
    let beta = c.beta;
    const p = c.lpNorm;
    let best = 1e4;
    for (let it = 0; it < c.iters; it++) {
      const ib = fr(1 / beta);
      const acc = new Float64Array(G);
      let errSum = 0;
      for (let i = 0; i < n; i++) {
        const gi = c.axis === 1 ? Math.floor(i / g) : i % G;
        const x = w[i]!;
        let q = (fr(fr(x * s[gi]!) + z[gi]!) + MAGIC) - MAGIC; // W_q = clamp(round(W·s' + z))
        q = q < 0 ? 0 : q > maxV ? maxV : q;
        const wr = fr(fr(q - z[gi]!) / s[gi]!); // W_r
        const d = fr(x - wr);
        const ad = Math.abs(d);
        // shrink_lp_op: |d| − (1/β)·|d|^(p−1), clamp_min 0, times sign(d)
        const out = Math.max(fr(ad - fr(ib * fr(p === 1 ? 1 : Math.pow(ad, p - 1)))), 0);
        const we = fr(out * Math.sign(d));
        acc[gi] = acc[gi]! + fr(q - fr(fr(x - we) * s[gi]!));
        errSum += ad;
      }
      const zNew = new Float32Array(G);
      for (let gi = 0; gi < G; gi++) zNew[gi] = fr(acc[gi]! / g);
      z = zNew;
      beta *= c.kappa;
      const err = fr(errSum / n);
      errors.push(err);
      if (c.earlyStop) {
        if (err < best) best = err;
        else {
          stoppedEarly = true;
          break;
        }
      }
    }
  }
  const wq = new Uint8Array(n);
  for (let i = 0; i < n; i++) wq[i] = quant(w[i]!, groupOf(i));
  const scale = new Float32Array(G);
  for (let gi = 0; gi < G; gi++) scale[gi] = fr(1 / s[gi]!);
  return {
    wq,
    invScale: s,
    scale,
    zero: z,
    groupOf,
    trace: { errors, steps: errors.length, stoppedEarly },
  };
}

// ---------------------------------------------------------------------------------------------
// Fast path
// ---------------------------------------------------------------------------------------------

/** Elements per pool chunk below which a kernel stays on the calling thread. */
const MIN_CHUNK_ELEMS = 1 << 16;

/**
 * Runs the optimizer on the CPU pool: returns s', z and the trace (z after the last executed step).
 */
async function optimizeCpu(
  w: Float32Array,
  L: HqqLayout,
  c: HqqConfig,
): Promise<{ inv: Float32Array; zero: Float32Array; trace: HqqTrace; codes: Uint32Array }> {
  const { maxV, codeBits } = hqqLevels(c.nbits);
  const gMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.g));
  const rMin = Math.max(1, Math.ceil(MIN_CHUNK_ELEMS / L.cols));
  const par = poolSize() > 1 && (L.count >= 2 * gMin || L.rows >= 2 * rMin);
  const ws = par ? toShared(w) : w;
  const inv = par ? sharedF32(L.count) : new Float32Array(L.count);
  const zero = par ? sharedF32(L.count) : new Float32Array(L.count);
  await parallelFor(KERNEL, "hqqInitChunk", L.count, [ws, L, maxV, c.roundZero, inv, zero], {
    minChunk: gMin,
  });
  const errors: number[] = [];
  let stoppedEarly = false;
  if (c.optimize) {
    const { invBeta, thr } = schedule(c);
    const n = L.rows * L.cols;
    let best = 1e4;
    for (let it = 0; it < c.iters; it++) {
      const parts = await parallelFor(
        KERNEL,
        "hqqStepChunk",
        L.count,
        [ws, L, maxV, inv, zero, invBeta[it]!, thr[it]!, c.lpNorm - 1],
        { minChunk: gMin },
      ) as number[];
      let sum = 0;
      for (const p of parts) sum += p;
      const err = Math.fround(sum / n);
      errors.push(err);
      if (c.earlyStop) {
        if (err < best) best = err;
        else {
          stoppedEarly = true;
          break;
        }
      }
    }
  }
  const stride = rowStrideWords(L.cols, codeBits);
  const packed = par ? sharedU32(L.rows * stride) : new Uint32Array(L.rows * stride);
  await parallelFor(
    KERNEL,
    "hqqEncodeChunk",
    L.rows,
    [ws, L, maxV, codeBits, inv, zero, packed, stride],
    { minChunk: rMin },
  );
  return {
    inv: par ? inv.slice() : inv,
    zero: par ? zero.slice() : zero,
    trace: { errors, steps: errors.length, stoppedEarly },
    codes: par ? packed.slice() : packed,
  };
}

/** The same on WebGPU (`shaders/hqq.wgsl`), in one submission. */
async function optimizeGpu(
  gpu: Gpu,
  w: Float32Array,
  L: HqqLayout,
  c: HqqConfig,
): Promise<{ inv: Float32Array; zero: Float32Array; trace: HqqTrace; codes: Uint32Array }> {
  const { maxV, codeBits } = hqqLevels(c.nbits);
  const code = await loadShader("hqq");
  const pipes = [0, 1, 2, 3].map((st) => gpu.pipeline(`hqq_stage${st}`, code, { STAGE: st }));
  const stride = rowStrideWords(L.cols, codeBits);
  const chunks = gpuRowChunks(gpu, { ...L }, L.cols * 4);
  const gPerRow = L.count / L.rows;
  const iters = c.optimize ? c.iters : 0;
  const { invBeta, thr } = schedule(c);
  const made: GPUBuffer[] = [];
  const buf = (b: GPUBuffer): GPUBuffer => {
    made.push(b);
    return b;
  };
  try {
    let partTotal = 0;
    const cs = chunks.map(([r0, r1]) => {
      const nG = (r1 - r0) * gPerRow;
      const nWg = Math.ceil(nG / 64);
      const [wx, wy] = workgroupGrid(nWg);
      const ch = {
        r0,
        r1,
        g0: r0 * gPerRow,
        nG,
        wx,
        wy,
        partOffset: partTotal,
        wBuf: buf(gpu.storage(w.subarray(r0 * L.cols, r1 * L.cols), "hqq_w")),
        invBuf: buf(gpu.storage(nG * 4, "hqq_inv")),
        zeroBuf: buf(gpu.storage(nG * 4, "hqq_zero")),
        codeBuf: buf(gpu.storage((r1 - r0) * stride * 4, "hqq_codes")),
      };
      partTotal += wx * wy;
      return ch;
    });
    const partBuf = buf(gpu.storage(Math.max(1, partTotal) * 4, "hqq_partials"));
    const state = new Float32Array(4 + Math.max(1, iters));
    state[0] = 3.0e38;
    const stateBuf = buf(gpu.storage(state, "hqq_state"));
    const uniform = (ch: (typeof cs)[number], it: number): GPUBuffer => {
      const u = new Uint32Array(20);
      const f = new Float32Array(u.buffer);
      u.set([ch.r1 - ch.r0, L.cols, L.g, L.axis, ch.nG, ch.wx, codeBits, stride]);
      f[8] = maxV;
      u[9] = c.roundZero ? 1 : 0;
      u[10] = it;
      u[11] = ch.partOffset;
      f[12] = invBeta[it] ?? 0;
      f[13] = thr[it] ?? 0;
      f[14] = c.lpNorm - 1;
      u[15] = partTotal;
      f[16] = L.rows * L.cols;
      u[17] = c.earlyStop ? 1 : 0;
      return buf(gpu.uniform(u, "hqq_params"));
    };
    const bind = (ch: (typeof cs)[number], u: GPUBuffer): GPUBuffer[] => [
      u,
      ch.wBuf,
      ch.invBuf,
      ch.zeroBuf,
      partBuf,
      stateBuf,
      ch.codeBuf,
    ];
    const dispatches = [];
    for (const ch of cs) {
      dispatches.push({
        pipeline: pipes[0]!,
        buffers: bind(ch, uniform(ch, 0)),
        workgroups: [ch.wx, ch.wy],
      });
    }
    for (let it = 0; it < iters; it++) {
      for (const ch of cs) {
        dispatches.push({
          pipeline: pipes[1]!,
          buffers: bind(ch, uniform(ch, it)),
          workgroups: [ch.wx, ch.wy],
        });
      }
      dispatches.push({
        pipeline: pipes[2]!,
        buffers: bind(cs[0]!, uniform(cs[0]!, it)),
        workgroups: [1],
      });
    }
    for (const ch of cs) {
      dispatches.push({
        pipeline: pipes[3]!,
        buffers: bind(ch, uniform(ch, 0)),
        workgroups: [ch.wx, ch.wy],
      });
    }
    await gpu.runMany("hqq", dispatches, { wait: false });
    const inv = new Float32Array(L.count);
    const zero = new Float32Array(L.count);
    const codes = new Uint32Array(L.rows * stride);
    // Every readback in flight at once: each awaited one costs Deno's ~11 ms device poll.
    const [stRaw, ...got] = await Promise.all([
      gpu.read(stateBuf, state.byteLength),
      ...cs.flatMap((ch) => [
        gpu.read(ch.invBuf, ch.nG * 4),
        gpu.read(ch.zeroBuf, ch.nG * 4),
        gpu.read(ch.codeBuf, (ch.r1 - ch.r0) * stride * 4),
      ]),
    ]);
    cs.forEach((ch, i) => {
      inv.set(new Float32Array(got[3 * i]!), ch.g0);
      zero.set(new Float32Array(got[3 * i + 1]!), ch.g0);
      codes.set(new Uint32Array(got[3 * i + 2]!), ch.r0 * stride);
    });
    const st = new Float32Array(stRaw!);
    const steps = iters > 0 ? st[2]! : 0;
    return {
      inv,
      zero,
      codes,
      trace: {
        errors: Array.from(st.subarray(4, 4 + steps)),
        steps,
        stoppedEarly: st[1]! !== 0,
      },
    };
  } finally {
    for (const b of made) b.destroy();
  }
}

/** Meta group size of HQQ's quant_scale / offload_meta quant_zero. */
const META_GROUP = 128;

/**
 * HQQ-quantizes a [rows, cols] weight on the CPU pool or WebGPU; returns the tensor and the
 * optimizer trace.
 *
 * @example
 * ```ts
 * import { hqqConfig, hqqQuantize } from "./hqq.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = Float32Array.from({ length: 512 }, (_, i) => 0.02 * Math.sin(i * 1.7));
 * const { tensor, trace } = await hqqQuantize(w, 4, 128, hqqConfig());
 * const d = decodeRotated(tensor);
 * if (trace.steps < 1 || Math.abs(d[3]! - w[3]!) > 0.005) throw new Error();
 * ```
 */
export async function hqqQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  c: HqqConfig,
  backend: Backend = { kind: "cpu" },
  name = "tensor",
): Promise<HqqResult> {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const { codeBits } = hqqLevels(c.nbits);
  const r = backend.kind === "webgpu"
    ? await optimizeGpu(backend.gpu, w, L, c)
    : await optimizeCpu(w, L, c);
  const fr = Math.fround;
  const scaleF32 = new Float32Array(L.count);
  for (let gi = 0; gi < L.count; gi++) scaleF32[gi] = fr(1 / r.inv[gi]!);
  let scales: Float32Array;
  let scaleStorage: ParamStorage;
  if (c.quantScale) {
    const m = metaQuantizeAffine(scaleF32, META_GROUP, c.scaleDtype);
    scales = m.decoded;
    scaleStorage = m.storage;
  } else {
    scales = scaleF32.map((v) => roundTo(v, c.scaleDtype));
    scaleStorage = { kind: "float", dtype: c.scaleDtype };
  }
  let zeros: Float32Array;
  let zeroStorage: ParamStorage;
  if (c.quantZero) {
    const m = metaQuantizeAffine(r.zero, c.offloadMeta ? META_GROUP : L.count, c.scaleDtype);
    zeros = m.decoded;
    zeroStorage = m.storage;
  } else {
    zeros = r.zero.map((v) => roundTo(v, c.scaleDtype));
    zeroStorage = { kind: "float", dtype: c.scaleDtype };
  }
  for (const [what, arr] of [["scale", scales], ["zero", zeros]] as const) {
    const i = arr.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) {
      throw new QuantlabError(
        "bad-value",
        `Cannot quantize "${name}": the ${what} of group ${i} does not fit ${c.scaleDtype}; ` +
          `use scale dtype F32`,
      );
    }
  }
  const tensor: QuantizedTensor = {
    method: "hqq",
    shape: [rows, cols],
    paddedCols: cols,
    p: 1,
    codeBits,
    codes: r.codes,
    table: Float32Array.from({ length: 2 ** codeBits }, (_, k) => k),
    tableDtype: "F16",
    groupSize: L.g,
    groupAxis: L.axis,
    scales,
    scaleStorage,
    zeros,
    zeroStorage,
    rotation: { kind: "none" },
    params: {
      nbits: c.nbits,
      groupSize: c.groupSize,
      axis: c.axis,
      optimize: c.optimize,
      roundZero: c.roundZero,
      lpNorm: c.lpNorm,
      beta: c.beta,
      kappa: c.kappa,
      iters: c.iters,
      earlyStop: c.earlyStop,
      quantZero: c.quantZero,
      quantScale: c.quantScale,
      offloadMeta: c.offloadMeta,
      scaleDtype: c.scaleDtype,
      metaMap: c.quantZero || c.quantScale ? "affine" : null,
      steps: r.trace.steps,
      stoppedEarly: r.trace.stoppedEarly,
    },
  };
  return { tensor, trace: r.trace, invScale: r.inv, zero: r.zero };
}

/** The HQQ configuration a {@linkcode QuantOptions} asks for. */
export function hqqConfigFromOptions(opts: QuantOptions): HqqConfig {
  const x = readExtra("hqq", opts.extra, {
    optimize: "boolean",
    roundZero: "boolean",
    lpNorm: "number",
    beta: "number",
    kappa: "number",
    iters: "number",
    earlyStop: "boolean",
    quantZero: "boolean",
    quantScale: "boolean",
    offloadMeta: "boolean",
  });
  return hqqConfig({
    nbits: opts.bits,
    groupSize: opts.groupSize,
    axis: opts.axis,
    scaleDtype: opts.scaleDtype,
    ...(x as Partial<HqqConfig>),
  });
}

/**
 * HQQ (`extra`: `optimize`, `roundZero`, `lpNorm`, `beta`, `kappa`, `iters`, `earlyStop`,
 * `quantZero`, `quantScale`, `offloadMeta`).
 *
 * @example
 * ```ts
 * import { hqqQuantizer } from "./hqq.ts";
 * const w = Float32Array.from({ length: 128 }, (_, i) => Math.cos(i) / 50);
 * const q = await hqqQuantizer.quantize(w, 2, 64, { bits: 3 });
 * if (q.method !== "hqq" || q.codeBits !== 3 || q.zeros?.length !== 2) throw new Error();
 * ```
 */
export const hqqQuantizer: Quantizer = {
  method: "hqq",
  summary: "HQQ: min–max affine groups, zero optimized by half-quadratic splitting (lp, p < 1)",
  settings: (opts) => ({ ...hqqConfigFromOptions(opts) }),
  checkShape(rows, cols, opts, name) {
    const c = hqqConfigFromOptions(opts);
    groupLayout(rows, cols, c.groupSize, c.axis, name);
  },
  async quantize(w, rows, cols, opts, backend, name) {
    return (await hqqQuantize(w, rows, cols, hqqConfigFromOptions(opts), backend, name)).tensor;
  },
};
