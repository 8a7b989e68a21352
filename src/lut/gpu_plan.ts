// This module is browser compatible.
/**
 * How one LUT product runs on WebGPU, decided from the tensor's format and the batch alone (no
 * device): where the table lives (workgroup memory, duplicated to spread bank conflicts, or
 * storage), the batch tile, whether the HIGGS rotation is fused into the LUT kernel, and the
 * override constants that specialize `shaders/lut_gemv.wgsl` and `shaders/lut_matmul.wgsl`.
 * `LutGpuTensor.encode` (`gpu.ts`) turns a plan into dispatches.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import { rowStrideWords } from "../quant/packing.ts";
import { chunkCodes } from "./cpu_kernels.ts";

/** Largest batch tile (private accumulators per lane). */
const MAX_TB = 8;
/** Table floats kept in workgroup memory (8 KiB, duplicates included). */
const TABLE_WG_FLOATS = 2048;
/** Workgroup bytes the kernels may use (the WebGPU default limit). */
const WG_BYTES = 16384;
/** Bytes of the reduction buffer. */
const PART_BYTES = 256 * 4;
/** Largest Hadamard block the rotation kernels hold in workgroup memory. */
export const MAX_H = WG_BYTES / 4;

/** What of a tensor's format the kernels' specialization depends on. */
export type LutGpuFormat = Pick<
  QuantizedTensor,
  "codeBits" | "p" | "groupSize" | "groupAxis" | "paddedCols" | "rotation" | "table"
>;

/** The decisions for one product (see the module doc). */
export interface LutProductPlan {
  /** Whether the batch-1 GEMV kernel runs (else the general one). */
  gemv: boolean;
  /** Whether x is rotated (HIGGS Hadamard), and the rotation's block (1 without). */
  rotated: boolean;
  h: number;
  /** Whether the rotation runs inside each LUT workgroup (no separate pass). */
  fused: boolean;
  /** Batch rows per workgroup of the general kernel. */
  tb: number;
  /** Whether the table sits in workgroup memory, and in how many copies (1, 2 or 4). */
  tableWg: boolean;
  dup: number;
  /** Codes the general kernel decodes per chunk (whole u32 words: `chunkWords`). */
  chunkCodes: number;
  chunkWords: number;
}

/**
 * The plan of a product of `batch` rows; `gemv` is the tensor's kernel choice, `fuse` asks for the
 * fused rotation (granted only when x's blocks fit workgroup memory beside the table). Errors:
 * `unsupported` for a Hadamard block over {@linkcode MAX_H}.
 *
 * @example A 4-bit tensor, batch 3: one batch tile, one copy of its 16-float table in workgroup memory
 * ```ts
 * import { planLutProduct } from "./gpu_plan.ts";
 * const plan = planLutProduct({
 *   codeBits: 4, p: 1, groupSize: 64, groupAxis: 1, paddedCols: 256, rotation: { kind: "none" },
 *   table: new Float32Array(16),
 * }, 3, false, false);
 * if (plan.tb !== 3 || !plan.tableWg || plan.dup !== 1) throw new Error();
 * ```
 */
export function planLutProduct(
  f: LutGpuFormat,
  batch: number,
  gemv: boolean,
  fuse: boolean,
): LutProductPlan {
  const rotated = f.rotation.kind === "hadamard";
  const h = f.rotation.kind === "hadamard" ? f.rotation.size : 1;
  if (rotated && h > MAX_H) {
    throw new QuantlabError(
      "unsupported",
      `LUT matmul on the GPU handles Hadamard blocks up to ${MAX_H}; this tensor uses ${h}`,
    );
  }
  const cc = chunkCodes(f.codeBits);
  const tableFloats = f.table.length;
  const tableWg = tableFloats <= TABLE_WG_FLOATS;
  // Interleaved copies (up to 4, while they fit) let lanes reading different entries of a big
  // table hit different banks (see the header of shaders/lut_matmul.wgsl).
  let dup = 1;
  if (tableWg && tableFloats > 32) {
    while (dup < 4 && tableFloats * dup * 2 <= TABLE_WG_FLOATS) dup *= 2;
  }
  const tableBytes = tableWg ? tableFloats * dup * 4 : 4;
  let tb = Math.min(batch, MAX_TB);
  let fused = false;
  if (!gemv && rotated && fuse) {
    // The fused kernel holds tb rotated blocks of x in workgroup memory: shrink the tile to fit.
    while (tb > 1 && PART_BYTES + tableBytes + tb * h * 4 > WG_BYTES) tb--;
    fused = h % (cc * f.p) === 0 && PART_BYTES + tableBytes + tb * h * 4 <= WG_BYTES;
    if (!fused) tb = Math.min(batch, MAX_TB);
  }
  return {
    gemv,
    rotated,
    h,
    fused,
    tb,
    tableWg,
    dup,
    chunkCodes: cc,
    chunkWords: (cc * f.codeBits) / 32,
  };
}

/** The override constants of `shaders/lut_gemv.wgsl` for a plan. */
export function gemvConstants(
  f: LutGpuFormat,
  plan: LutProductPlan,
  hasZeros: boolean,
): Record<string, number> {
  const cpw = (32 / f.codeBits) * f.p;
  return {
    BITS: f.codeBits,
    P: f.p,
    CPW: cpw,
    UNITS: cpw / 4,
    HAS_ZEROS: hasZeros ? 1 : 0,
    DUP: plan.dup,
    TABLE_LEN: f.table.length * plan.dup,
    // One group per row: every word of the row maps to group 0.
    WPG: f.groupSize % cpw === 0
      ? f.groupSize / cpw
      : rowStrideWords(f.paddedCols / f.p, f.codeBits),
  };
}

/** The override constants of `shaders/lut_matmul.wgsl` for a plan. */
export function matmulConstants(
  f: LutGpuFormat,
  plan: LutProductPlan,
  hasZeros: boolean,
  hasSigns: boolean,
): Record<string, number> {
  const { tb, tableWg, dup, fused, h } = plan;
  // Input-axis groups that do not hold whole chunks: the scale cannot be folded out per chunk.
  const perCode = f.groupAxis === 1 && (f.groupSize / f.p) % plan.chunkCodes !== 0;
  return {
    BITS: f.codeBits,
    P: f.p,
    TB: tb,
    HAS_ZEROS: hasZeros ? 1 : 0,
    HAS_SIGNS: hasSigns ? 1 : 0,
    AXIS: f.groupAxis,
    PER_CODE: perCode ? 1 : 0,
    CHUNK_CODES: plan.chunkCodes,
    CHUNK_WORDS: plan.chunkWords,
    TABLE_WG: tableWg ? 1 : 0,
    TABLE_WG_LEN: tableWg ? f.table.length * dup : 1,
    DUP: dup,
    FUSED: fused ? 1 : 0,
    HBLOCK: fused ? h : 1,
    XS_LEN: fused ? tb * h : 1,
  };
}
