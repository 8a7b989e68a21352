/**
 * File formats only: safetensors (read, write, stream), sharded and Hugging Face model folders
 * (cache layouts included), checksums and whole-file content hashes, safe outputs (`--force`,
 * `--resume`, the work folder beside an output), run keys,
 * the quantized-checkpoint format, atomic writes, the resumable JSONL log and results provenance.
 *
 * @module
 */
export * from "./safetensors_format.ts";
export * from "./safetensors.ts";
export * from "./sharded.ts";
export * from "./model_folder.ts";
export * from "./hf_cache.ts";
export * from "./checksum.ts";
export * from "./content_hash.ts";
export * from "./output_guard.ts";
export * from "./run_key.ts";
export * from "./atomic.ts";
export * from "./jsonl_log.ts";
export * from "./results.ts";
export * from "./quantized_descriptor.ts";
export * from "./quantized_tensors.ts";
export * from "./quantized_checkpoint.ts";
