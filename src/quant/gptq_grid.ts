// This module is browser compatible.
/**
 * The inner quantizer of GPTQ ("any grid"): one p-tuple of a row at a time, against the grid of a
 * quantlab format, with that format's own scale rule and encoder, so the result is the format's
 * `QuantizedTensor` and H = I reproduces the data-free quantizer bit for bit.
 *
 * A {@linkcode GptqGrid} is built from the data-free quantization of the same weight (the
 * *template*: `rtn`, `hqq`, `nf4`, `af4`, `fp4` or `higgs`), which supplies the table, the
 * storage and the parameters of each group as the data-free method sets them:
 * - **scalar** formats (RTN affine or symmetric, NF4/AF4/FP4 absmax): the encoder of `rtn.ts`
 *   (`nearestIndex` for table levels, round-and-clamp for affine levels). With *dynamic* groups
 *   the scale (and zero) of a group are recomputed by `groupStatsChunk` + `groupParams` when the
 *   sweep enters the group, from the current (error-updated) weights, as GPTQ does; with *static*
 *   groups the template's parameters (computed on the original weights) are kept.
 * - **HQQ**: always static: the scale and zero HQQ's optimizer found on the original weights.
 * - **HIGGS** (rotated domain, any p): always static: the template's RMS scale per group; each
 *   p-tuple is coded as its nearest grid point with the grid encoder (`src/grids/encode.ts`) on
 *   y = f32(x · f32(1/s)), exactly as `higgsEncodeRows` does.
 *
 * Everything is plain data (typed arrays and numbers) so the sweep can run on pool workers.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { encodeRange } from "../grids/encode.ts";
import { type EncodePlan, encodePlan } from "../grids/encode_plan.ts";
import type { QuantizedTensor } from "./format.ts";
import {
  affineMode,
  clipRatios,
  type EncodeMode,
  nearestIndex,
  tableMode,
} from "./group_encoding.ts";
import { groupParams, groupStatsChunk } from "./group_encoder.ts";

const MAGIC = 6755399441055744; // 1.5·2^52: (x + MAGIC) − MAGIC rounds half to even

/** The inner quantizer's state (plain data; see the module doc). */
export interface GptqGrid {
  /** "scalar": rtn.ts encoder; "vector": nearest grid point (HIGGS). */
  kind: "scalar" | "vector";
  /** Weights per code (the sweep quantizes p consecutive columns jointly). */
  p: number;
  /** Bits per code. */
  codeBits: number;
  /** Columns of a (padded) row. */
  cols: number;
  /** Weights per group (along the columns). */
  g: number;
  /** Groups per row. */
  gpr: number;
  /** Recompute a group's parameters from the current weights when the sweep enters it. */
  dynamic: boolean;
  /** Scalar: the encoding mode. */
  mode: EncodeMode | null;
  /** Scalar: the stored precision of scales and zeros. */
  dtype: "F16" | "F32";
  /** Vector: the search plan over the table's points. */
  plan: EncodePlan | null;
  /** The decoding table (code → p values). */
  table: Float32Array;
  /** Per group: the decoded scale (updated in place with dynamic groups). */
  scales: Float32Array;
  /** Per group: the decoded zero (affine), else null. */
  zeros: Float32Array | null;
  /** Per group: [f32(1/scale), zero] as the encoder uses them. */
  enc: Float32Array;
}

/** Options of {@linkcode gptqGrid}. */
export interface GptqGridOptions {
  /** Recompute scalar groups when the sweep enters them (else the template's parameters). */
  dynamic: boolean;
  /** Name for error messages. */
  name?: string;
}

function unsupported(name: string, msg: string): never {
  throw new QuantlabError("unsupported", `Cannot quantize "${name}" with GPTQ: ${msg}`);
}

/**
 * The inner quantizer of GPTQ for the format of `template` (the data-free quantization of the
 * same weight, see the module doc). The template's scales and zeros are copied (dynamic groups
 * overwrite them during the sweep).
 *
 * @example
 * ```ts
 * import { gptqGrid } from "./gptq_grid.ts";
 * import { rtnConfig, rtnQuantize } from "./rtn.ts";
 * const w = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
 * const t = await rtnQuantize(w, 1, 64, rtnConfig({ bits: 3, groupSize: 32 }));
 * const g = gptqGrid(t, { dynamic: true });
 * if (g.kind !== "scalar" || g.gpr !== 2) throw new Error();
 * ```
 */
export function gptqGrid(template: QuantizedTensor, opts: GptqGridOptions): GptqGrid {
  const name = opts.name ?? "tensor";
  const t = template;
  if (t.groupAxis !== 1) {
    unsupported(name, `groups along the output dimension (axis 0) are not supported; use axis 1`);
  }
  if (t.scaleStorage.kind !== "float" || (t.zeroStorage && t.zeroStorage.kind !== "float")) {
    unsupported(
      name,
      "meta-quantized (8-bit) scales or zeros are not supported; store them as floats",
    );
  }
  const rows = t.shape[0];
  const cols = t.paddedCols;
  const g = t.groupSize;
  const gpr = cols / g;
  const dtype: "F16" | "F32" = t.scaleStorage.dtype === "F32" ? "F32" : "F16";
  const scales = t.scales.slice();
  const zeros = t.zeros ? t.zeros.slice() : null;
  const enc = new Float32Array(2 * rows * gpr);
  for (let i = 0; i < rows * gpr; i++) {
    enc[2 * i] = scales[i]! > 0 ? Math.fround(1 / scales[i]!) : 0;
    enc[2 * i + 1] = zeros ? zeros[i]! : 0;
  }
  const base = { cols, g, gpr, codeBits: t.codeBits, table: t.table, scales, zeros, enc, dtype };
  if (t.method === "higgs") {
    const n = t.params.n as number;
    const plan = encodePlan({ p: t.p, n, points: t.table.slice(0, n * t.p) });
    return { ...base, kind: "vector", p: t.p, dynamic: false, mode: null, plan };
  }
  if (t.p !== 1 || t.rotation.kind !== "none") {
    unsupported(name, `a ${t.method} tensor with p = ${t.p} or a rotation is not a known format`);
  }
  // RTN's clip search runs again on the updated weights of each dynamic group.
  const ratios = t.method === "rtn" && t.params.clipSearch === true
    ? clipRatios(t.params.clipGrid as number, t.params.clipMaxShrink as number)
    : null;
  // Affine (RTN asymmetric, HQQ): codes 0 … 2^b − 1 with a zero per group; else table levels.
  const mode = t.zeros
    ? affineMode(t.codeBits, t.params.roundZero !== false, ratios)
    : tableMode(t.table, t.codeBits, ratios);
  const dynamic = opts.dynamic && t.method !== "hqq";
  return { ...base, kind: "scalar", p: 1, dynamic, mode, plan: null };
}

/**
 * Sets the parameters of group `gi` of row `r` from the current weights `values` (its g columns),
 * with the format's rule (`groupStatsChunk` + `groupParams`, as the data-free quantizer).
 *
 * @example
 * ```ts
 * import { gptqEnterGroup, gptqGrid } from "./gptq_grid.ts";
 * import { rtnConfig, rtnQuantize } from "./rtn.ts";
 * const t = await rtnQuantize(new Float32Array(8).fill(1), 1, 8, rtnConfig({ groupSize: 8 }));
 * const g = gptqGrid(t, { dynamic: true });
 * gptqEnterGroup(g, 0, 0, new Float32Array([0, 1, 2, 3, 4, 5, 6, 15]));
 * if (g.scales[0] !== 1) throw new Error(String(g.scales[0]));
 * ```
 */
export function gptqEnterGroup(G: GptqGrid, r: number, gi: number, values: Float32Array): void {
  const m = G.mode!;
  const stats = new Float32Array(3);
  groupStatsChunk(values, { rows: 1, cols: G.g, g: G.g, axis: 1, count: 1 }, m, stats, 0, 1);
  const p = groupParams(stats, m, G.dtype);
  const k = r * G.gpr + gi;
  G.scales[k] = p.scales[0]!;
  if (G.zeros) G.zeros[k] = p.zeros![0]!;
  G.enc[2 * k] = p.enc[0]!;
  G.enc[2 * k + 1] = p.enc[1]!;
}

const tuple = new Float32Array(16);
const code1 = new Uint16Array(1);

/**
 * Quantizes the p-tuple x[at … at+p−1] of row `r` starting at column `c` (in the grid's column
 * order): returns the code and writes the decoded values (exactly what the shared decoder gives)
 * to q[0 … p−1].
 *
 * @example
 * ```ts
 * import { gptqGrid, gptqQuantizeTuple } from "./gptq_grid.ts";
 * import { rtnConfig, rtnQuantize } from "./rtn.ts";
 * const w = new Float32Array([0, 1, 2, 3]);
 * const g = gptqGrid(await rtnQuantize(w, 1, 4, rtnConfig({ bits: 2, groupSize: 4 })), { dynamic: false });
 * const q = new Float32Array(1);
 * if (gptqQuantizeTuple(g, 0, 2, new Float64Array([2.2]), 0, q) !== 2 || q[0] !== 2) throw new Error();
 * ```
 */
export function gptqQuantizeTuple(
  G: GptqGrid,
  r: number,
  c: number,
  x: Float32Array | Float64Array,
  at: number,
  q: Float32Array,
): number {
  const fr = Math.fround;
  const k = r * G.gpr + Math.floor(c / G.g);
  const inv = G.enc[2 * k]!;
  const s = G.scales[k]!;
  if (G.kind === "vector") {
    const p = G.p;
    for (let e = 0; e < p; e++) tuple[e] = fr(fr(x[at + e]!) * inv);
    encodeRange(G.plan!, tuple, code1, 0, 1);
    const code = code1[0]!;
    for (let e = 0; e < p; e++) q[e] = fr(G.table[code * p + e]! * s);
    return code;
  }
  const m = G.mode!;
  const z = G.enc[2 * k + 1]!;
  const v = x[at]!;
  let code: number;
  if (m.kind === "table") code = m.codeOf[nearestIndex(m, fr(fr(v) * inv))]!;
  else code = Math.min(Math.max((fr(fr(fr(v) * inv) + z) + MAGIC) - MAGIC, 0), m.maxq) | 0;
  q[0] = fr((G.table[code]! - z) * s);
  return code;
}
