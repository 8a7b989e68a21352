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
import type { ParamStorage, QuantizedTensor } from "./format.ts";
import { type HqqConfig, hqqConfig, hqqLevels, hqqSchedule, type HqqTrace } from "./hqq_config.ts";
import { hqqOptimizeGpu } from "./hqq_gpu.ts";
import type { HqqLayout } from "./hqq_kernel.ts";
import { metaQuantizeAffine } from "./meta_quant.ts";
import { rowStrideWords } from "./packing.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";
import { checkWeights, groupLayout, roundTo } from "./group_encoding.ts";
import { readExtra } from "./rtn.ts";

const KERNEL = new URL("./hqq_kernel.ts", import.meta.url).href;

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
    const { invBeta, thr } = hqqSchedule(c);
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

/** Meta group size of HQQ's quant_scale / offload_meta quant_zero. */
const META_GROUP = 128;

/**
 * HQQ-quantizes a [rows, cols] weight on the CPU pool or WebGPU; returns the tensor and the
 * optimizer trace.
 *
 * @example
 * ```ts
 * import { hqqQuantize } from "./hqq.ts";
 * import { hqqConfig } from "./hqq_config.ts";
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
    ? await hqqOptimizeGpu(backend.gpu, w, L, c)
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
  layout(rows, cols, opts, name) {
    const c = hqqConfigFromOptions(opts);
    const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
    const float = { kind: "float", dtype: c.scaleDtype } as const;
    return {
      shape: [rows, cols],
      paddedCols: cols,
      p: 1,
      codeBits: hqqLevels(c.nbits).codeBits,
      tableDtype: "F16",
      groupSize: L.g,
      groupAxis: L.axis,
      // As hqqQuantize stores them: 8-bit affine meta-quantization when asked.
      scaleStorage: c.quantScale ? { kind: "int8", group: META_GROUP, metaZero: true } : float,
      zeroStorage: c.quantZero
        ? { kind: "int8", group: c.offloadMeta ? META_GROUP : L.count, metaZero: true }
        : float,
    };
  },
  async quantize(w, rows, cols, opts, backend, name) {
    return (await hqqQuantize(w, rows, cols, hqqConfigFromOptions(opts), backend, name)).tensor;
  },
};
