/**
 * The options and the summary of the quantize job (`quantize_checkpoint.ts`), apart so that the
 * job's parts (`quantize_plan.ts`, …) can name them.
 *
 * @module
 */
import type { ProgressFactory } from "../core/progress.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import type { QuantizedTensor } from "../quant/format.ts";
import type { Backend } from "../gpu/backend.ts";
import type { OutputMode } from "../io/output_guard.ts";
import type { FileHash } from "../io/content_hash.ts";
import type { Shard } from "./shard_plan.ts";

/** Options of `quantizeCheckpoint`. */
export interface QuantizeCheckpointOptions {
  /** Quantization method (default "higgs"). */
  method?: string;
  /** Method options. */
  options?: QuantOptions;
  /**
   * Per-tensor options merged over `options`, by tensor name (e.g. a bit allocation from
   * `quantlab allocate`: `{ "model.layers.0.mlp.down_proj.weight": { p: 2, gridSize: 4096 } }`).
   * Every name must be a tensor the run quantizes.
   */
  perTensor?: Readonly<Record<string, QuantOptions>>;
  /** Backend for the encoder (default CPU). */
  backend?: Backend;
  /** Quantize lm_head too (default false). */
  includeLmHead?: boolean;
  /** Quantize exactly these tensors (each must be a 2-D float tensor). */
  tensors?: readonly string[];
  /** Progress reporting (default none). */
  progress?: ProgressFactory;
  /**
   * What to do with an existing `out` (default "new": it must be absent or an empty folder;
   * "force": replace it once the new output is complete; "resume": continue the unfinished run
   * in its work folder, whose settings and inputs must be the same).
   */
  mode?: OutputMode;
  /** Called after each tensor is quantized and durable (tests use it to simulate a kill). */
  onTensorDone?: (name: string) => void | Promise<void>;
  /**
   * Quantize only this shard's tensors into its own folder in the work folder and write its
   * manifest; the output files are left to `quantlab merge` (`quantize_shard.ts`,
   * `quantize_merge.ts`). `mode` then applies to `out` and to this shard's own files: "force"
   * starts the shard over, "resume" continues it.
   */
  shard?: Shard;
  /**
   * Encodes each selected tensor instead of `method`'s quantizer: a data-aware job (GPTQ) hands
   * in the tensors it computed; `method` and `options` still name their format.
   */
  encode?: (name: string, w: Float32Array, rows: number, cols: number) => Promise<QuantizedTensor>;
  /** Keys merged into config.json's `quantization_config`, and into the run key as `config`. */
  config?: Readonly<Record<string, unknown>>;
  /**
   * The input files' sizes and hashes as the shards of this run measured them (`quantlab merge`,
   * whose every tensor is already done): each file's size is checked, its content not hashed again.
   */
  trustedInputs?: Readonly<Record<string, FileHash>>;
  /**
   * The merge (`quantize_merge.ts`): which shard wrote each tensor. Every tensor must then be done
   * already; one whose output file lost it is an error naming the shards to rerun.
   */
  shardOf?: ReadonlyMap<string, string>;
}

/** What `quantizeCheckpoint` did. */
export interface QuantizeSummary {
  /** Output folder or file. */
  out: string;
  /** Output safetensors files. */
  files: string[];
  /** Tensors quantized in this run. */
  quantized: number;
  /** Quantized tensors found done by an earlier run and skipped. */
  resumed: number;
  /** Tensors stored as they are. */
  copied: number;
  /** Weights in quantized tensors (this run and resumed). */
  quantizedWeights: number;
  /** Weights in all tensors. */
  totalWeights: number;
  /** Bits per weight over the quantized tensors (everything to decode counted). */
  bitsPerWeight: number;
  /** Wall time of this run in seconds. */
  seconds: number;
  /**
   * Tensor bytes read from the source to quantize (a shard reads only the tensors it owns; the
   * pass that hashes the input for the run key is not counted).
   */
  sourceBytesRead: number;
  /**
   * Tensors of this run zero-padded to whole Hadamard blocks or groups (a fixed `--hadamard` that
   * does not divide their width), one example, and what the padding costs in bits per quantized
   * weight (codes and scales of the padded columns); absent when nothing was padded.
   */
  padding?: { tensors: number; example: string; bitsPerWeight: number };
}
