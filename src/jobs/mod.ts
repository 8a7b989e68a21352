/**
 * Whole-model work: quantize / dequantize / error of a checkpoint, perplexity runs, sensitivity,
 * linearity, allocation, the demo tables and training runs, and sharded runs merged exactly
 * (`shard_plan.ts`, `merge.ts`). Progress is a callback; results are written atomically and
 * resumed from JSONL logs.
 *
 * @module
 */
export * from "./ppl.ts";
export * from "./quantize_checkpoint.ts";
export * from "./quantize_run.ts";
export * from "./checkpoint_error.ts";
export * from "./allocation.ts";
export * from "./linearity.ts";
export * from "./linearity_configs.ts";
export * from "./linearity_check.ts";
export * from "./linearity_summary.ts";
export * from "./sensitivity.ts";
export * from "./train.ts";
export * from "./embedded_models.ts";
export * from "./tiny_ppl.ts";
export * from "./demo.ts";
export * from "./shard_plan.ts";
export * from "./merge.ts";
export * from "./quantize_merge.ts";
export * from "./quantize_shard.ts";
export * from "./result_shards.ts";
export * from "./sensitivity_shards.ts";
export * from "./linearity_run.ts";
export * from "./calibration.ts";
export * from "./gptq_checkpoint.ts";
export * from "./gptq_layer.ts";
