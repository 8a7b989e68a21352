// This module is browser compatible.
/**
 * Round-to-nearest uniform quantization (int1–int8) on the group encoder every data-free
 * baseline shares (`group_encoding.ts`, `group_encoder.ts`, `group_encoder_gpu.ts`).
 *
 * Two modes:
 * - **table** (symmetric / absmax): scale s = clip·max|w| / max|level|, code = nearest table level
 *   to w·(1/s) (ties to the lower level, like bitsandbytes' `torch.bucketize`). Symmetric RTN uses
 *   the uniform midrise table k − (2^b − 1)/2 (k = 0 … 2^b − 1; no zero level, the optimal uniform
 *   quantizer's shape), so no zeros are stored.
 * - **affine** (asymmetric): s = clip·(max − min)/(2^b − 1), zero z = −clip·min/s in code units
 *   (rounded to an integer with `roundZero`, as GPTQ/AWQ do), code = clamp(round(w·(1/s) + z)),
 *   table = [0 … 2^b − 1], decoded (code − z)·s.
 *
 * Codes are computed against the stored (f16- or f32-rounded) scale and zero, so the decoder sees
 * exactly what the encoder assumed. The optional clipping search tries the ratios
 * 1, 1 − 1/grid, … (down to 1 − maxShrink, GPTQ's `mse` search) per group and keeps the one with the
 * least squared error. Constant groups are exact (decoded = the constant when its value fits the
 * stored precision; always with F32): table mode uses a power-of-two level (±max|level| or ±½) with
 * scale |c|/|level|; affine mode uses s = |c|, z ∈ {0, 1}. All-zero groups decode to 0.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { Backend } from "../gpu/backend.ts";
import type { QuantizedTensor } from "./format.ts";
import { rowStrideWords } from "./packing.ts";
import type { Quantizer, QuantOptions } from "./quantizer.ts";
import {
  affineMode,
  checkWeights,
  clipRatios,
  type EncodeMode,
  type GroupLayout,
  groupLayout,
  type GroupParams,
  tableMode,
} from "./group_encoding.ts";
import { encodeGroups, encodeRowsChunk, groupParams, groupStatsChunk } from "./group_encoder.ts";

/** Round-to-nearest configuration. */
export interface RtnConfig {
  /** Bits per weight, 1–8. */
  bits: number;
  /** Weights per group; null = per channel. */
  groupSize: number | null;
  /** Group axis (format convention). */
  axis: 0 | 1;
  /** Symmetric midrise levels (absmax scale, no zero) instead of min–max affine. */
  symmetric: boolean;
  /** Affine: round the zero to an integer code. */
  roundZero: boolean;
  /** Search a clip ratio per group for the least squared error. */
  clipSearch: boolean;
  /** Clip search: ratios 1, 1 − 1/grid, …. */
  clipGrid: number;
  /** Clip search: ratios go down to 1 − maxShrink (exclusive). */
  clipMaxShrink: number;
  /** Stored precision of scales and zeros. */
  scaleDtype: "F16" | "F32";
}

/**
 * A full RTN configuration from partial options (defaults: 4 bits, group 64, axis 1, asymmetric
 * with integer zero, no clipping search, f16 scale/zero).
 *
 * @example
 * ```ts
 * import { rtnConfig } from "./rtn.ts";
 * const c = rtnConfig({ bits: 3, symmetric: true });
 * if (c.groupSize !== 64 || !c.symmetric || c.scaleDtype !== "F16") throw new Error();
 * ```
 */
export function rtnConfig(opts: Partial<RtnConfig> = {}): RtnConfig {
  const c: RtnConfig = {
    bits: 4,
    groupSize: 64,
    axis: 1,
    symmetric: false,
    roundZero: true,
    clipSearch: false,
    clipGrid: 100,
    clipMaxShrink: 0.8,
    scaleDtype: "F16",
    ...stripUndefined(opts),
  };
  if (!Number.isInteger(c.bits) || c.bits < 1 || c.bits > 8) {
    throw new QuantlabError("bad-argument", `RTN bits ${c.bits} is not valid; use 1 to 8`);
  }
  if (c.scaleDtype !== "F16" && c.scaleDtype !== "F32") {
    throw new QuantlabError(
      "bad-argument",
      `Scale dtype ${c.scaleDtype} is not valid; use F16 or F32`,
    );
  }
  if (c.clipSearch) clipRatios(c.clipGrid, c.clipMaxShrink);
  return c;
}

/** Drops undefined members so spreads keep the defaults. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The table of symmetric RTN: k − (2^b − 1)/2. */
function midriseLevels(bits: number): Float32Array {
  const n = 2 ** bits;
  return Float32Array.from({ length: n }, (_, k) => k - (n - 1) / 2);
}

function rtnMode(c: RtnConfig): EncodeMode {
  const ratios = c.clipSearch ? clipRatios(c.clipGrid, c.clipMaxShrink) : null;
  return c.symmetric
    ? tableMode(midriseLevels(c.bits), c.bits, ratios)
    : affineMode(c.bits, c.roundZero, ratios);
}

function rtnTensor(
  c: RtnConfig,
  L: GroupLayout,
  codes: Uint32Array,
  p: GroupParams,
): QuantizedTensor {
  const q: QuantizedTensor = {
    method: "rtn",
    shape: [L.rows, L.cols],
    paddedCols: L.cols,
    p: 1,
    codeBits: c.bits,
    codes,
    table: c.symmetric
      ? midriseLevels(c.bits)
      : Float32Array.from({ length: 2 ** c.bits }, (_, k) => k),
    tableDtype: "F16",
    groupSize: L.g,
    groupAxis: L.axis,
    scales: p.scales,
    scaleStorage: { kind: "float", dtype: c.scaleDtype },
    rotation: { kind: "none" },
    params: {
      bits: c.bits,
      groupSize: c.groupSize,
      axis: c.axis,
      symmetric: c.symmetric,
      roundZero: c.symmetric ? false : c.roundZero,
      clipSearch: c.clipSearch,
      clipGrid: c.clipGrid,
      clipMaxShrink: c.clipMaxShrink,
      scaleDtype: c.scaleDtype,
    },
  };
  if (p.zeros) {
    q.zeros = p.zeros;
    q.zeroStorage = { kind: "float", dtype: c.scaleDtype };
  }
  return q;
}

/**
 * The specification of RTN: plain loops, one group at a time, no pool.
 *
 * @example
 * ```ts
 * import { rtnConfig, rtnReference } from "./rtn.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = new Float32Array([0, 1, 2, 3]);
 * const q = rtnReference(w, 1, 4, rtnConfig({ bits: 2, groupSize: 4, scaleDtype: "F32" }));
 * if (decodeRotated(q).join() !== "0,1,2,3") throw new Error();
 * ```
 */
export function rtnReference(
  w: Float32Array,
  rows: number,
  cols: number,
  c: RtnConfig,
  name = "tensor",
): QuantizedTensor {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const m = rtnMode(c);
  const stats = new Float32Array(3 * L.count);
  groupStatsChunk(w, L, m, stats, 0, L.count);
  const p = groupParams(stats, m, c.scaleDtype, name);
  const stride = rowStrideWords(cols, c.bits);
  const codes = new Uint32Array(rows * stride);
  encodeRowsChunk(w, L, m, p.enc, codes, stride, 0, rows);
  return rtnTensor(c, L, codes, p);
}

/**
 * Round-to-nearest quantization on the CPU pool or WebGPU.
 *
 * @example
 * ```ts
 * import { rtnConfig, rtnQuantize } from "./rtn.ts";
 * import { decodeRotated } from "./decode.ts";
 * const w = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i));
 * const q = await rtnQuantize(w, 2, 64, rtnConfig({ bits: 8 }));
 * const d = decodeRotated(q);
 * if (Math.abs(d[5]! - w[5]!) > 0.01) throw new Error();
 * ```
 */
export async function rtnQuantize(
  w: Float32Array,
  rows: number,
  cols: number,
  c: RtnConfig,
  backend: Backend = { kind: "cpu" },
  name = "tensor",
): Promise<QuantizedTensor> {
  checkWeights(w, rows, cols, name);
  const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
  const m = rtnMode(c);
  const e = await encodeGroups(w, L, m, c.scaleDtype, backend, name);
  return rtnTensor(c, L, e.codes, e.params);
}

/**
 * Reads method options from `extra`, rejecting unknown keys and wrong types with a clear error.
 *
 * @example
 * ```ts
 * import { readExtra } from "./rtn.ts";
 * const x = readExtra("rtn", { symmetric: true }, { symmetric: "boolean", clipGrid: "number" });
 * if (x.symmetric !== true) throw new Error();
 * ```
 */
export function readExtra(
  method: string,
  extra: Record<string, string | number | boolean> | undefined,
  spec: Record<string, "boolean" | "number" | "string">,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(extra ?? {})) {
    const t = spec[k];
    if (!t) {
      throw new QuantlabError(
        "bad-argument",
        `Option "${k}" is not valid for ${method}; use ${Object.keys(spec).join(", ")}`,
      );
    }
    let val: string | number | boolean = v;
    if (t === "boolean" && typeof v === "string" && (v === "true" || v === "false")) {
      val = v === "true";
    }
    if (t === "number" && typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) {
      val = Number(v);
    }
    const ok = t === "boolean"
      ? typeof val === "boolean"
      : t === "number"
      ? typeof val === "number" && Number.isFinite(val)
      : typeof val === "string";
    if (!ok) {
      throw new QuantlabError(
        "bad-argument",
        `Option "${k}" of ${method} is ${JSON.stringify(v)}; expected a ${t}`,
      );
    }
    out[k] = val;
  }
  return out;
}

/** The RTN configuration a {@linkcode QuantOptions} asks for. */
export function rtnConfigFromOptions(opts: QuantOptions): RtnConfig {
  const x = readExtra("rtn", opts.extra, {
    symmetric: "boolean",
    roundZero: "boolean",
    clipSearch: "boolean",
    clipGrid: "number",
    clipMaxShrink: "number",
  });
  return rtnConfig({
    bits: opts.bits,
    groupSize: opts.groupSize,
    axis: opts.axis,
    scaleDtype: opts.scaleDtype,
    symmetric: x.symmetric as boolean | undefined,
    roundZero: x.roundZero as boolean | undefined,
    clipSearch: x.clipSearch as boolean | undefined,
    clipGrid: x.clipGrid as number | undefined,
    clipMaxShrink: x.clipMaxShrink as number | undefined,
  });
}

/**
 * Round-to-nearest int1–int8 (`extra`: `symmetric`, `roundZero`, `clipSearch`, `clipGrid`,
 * `clipMaxShrink`).
 *
 * @example
 * ```ts
 * import { rtnQuantizer } from "./rtn.ts";
 * const q = await rtnQuantizer.quantize(new Float32Array(64).fill(0.5), 1, 64, { bits: 3 });
 * if (q.method !== "rtn" || q.codeBits !== 3) throw new Error();
 * ```
 */
export const rtnQuantizer: Quantizer = {
  method: "rtn",
  summary: "round-to-nearest int1–int8, symmetric or min–max, per group, optional clip search",
  settings: (opts) => ({ ...rtnConfigFromOptions(opts) }),
  checkShape(rows, cols, opts, name) {
    const c = rtnConfigFromOptions(opts);
    groupLayout(rows, cols, c.groupSize, c.axis, name);
  },
  layout(rows, cols, opts, name) {
    const c = rtnConfigFromOptions(opts);
    const L = groupLayout(rows, cols, c.groupSize, c.axis, name);
    const scales = { kind: "float", dtype: c.scaleDtype } as const;
    return {
      shape: [rows, cols],
      paddedCols: L.cols,
      p: 1,
      codeBits: c.bits,
      tableDtype: "F16",
      groupSize: L.g,
      groupAxis: L.axis,
      scaleStorage: scales,
      // Min–max (asymmetric) groups store a zero per group.
      ...(c.symmetric ? {} : { zeroStorage: scales }),
    };
  },
  async quantize(w, rows, cols, opts, backend, name) {
    return await rtnQuantize(w, rows, cols, rtnConfigFromOptions(opts), backend, name);
  },
};
