/**
 * A quantlab / Hugging Face model folder (config.json, safetensors, tokenizer.json) as an F32 GGUF
 * file that llama.cpp loads, for the tests that check quantlab's model conventions against it.
 *
 * - Architecture `llama` (Llama, Mistral): q_proj and k_proj rows are permuted per head from Hugging
 *   Face's rotate-half RoPE layout to llama.cpp's interleaved one (rows viewed as
 *   [heads, 2, head_dim/2], the two middle axes swapped), as llama.cpp's convert_hf_to_gguf.py does.
 *   Tied embeddings: no `output.weight` (llama.cpp reuses `token_embd.weight`).
 * - Architecture `qwen2`: the same keys under `qwen2.*`, no permutation (NeoX RoPE), and the q/k/v
 *   biases as `blk.N.attn_{q,k,v}.bias`.
 * - Vocabulary: byte-level BPE (`tokenizer.ggml.model = "gpt2"`) with tokens, types and merges from
 *   tokenizer.json; ids the file does not name up to the model's vocabulary are unused padding.
 *
 * Mistral's sliding window has no key in the `llama` architecture: llama.cpp would ignore it, so
 * {@linkcode hfFolderToGguf} refuses a config with one.
 *
 * @module
 */
import { QuantlabError } from "../../src/core/errors.ts";
import { tensorToF32 } from "../../src/core/dtype.ts";
import { type GgufTensor, type GgufValue, writeGguf } from "../../src/io/gguf.ts";
import { openCheckpoint } from "../../src/io/sharded.ts";
import type { LlamaConfig } from "../../src/model/config.ts";
import { loadHfConfig } from "../../src/model/loader.ts";

/** Options of {@linkcode hfFolderToGguf}. */
export interface ToGgufOptions {
  /** Skip the q/k permutation of the `llama` architecture (only to show that a test catches it). */
  skipPermutation?: boolean;
}

/**
 * Rows of a [heads·headDim, cols] projection reordered per head from rotate-half to interleaved:
 * new row 2i + j of a head is old row j·headDim/2 + i.
 */
export function permuteRotateHalfToInterleaved(
  w: Float32Array,
  heads: number,
  headDim: number,
  cols: number,
): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headDim + j * half + i) * cols;
        const to = (h * headDim + 2 * i + j) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

const LAYER_NAMES: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "post_attention_layernorm.weight": "ffn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_proj.bias": "attn_q.bias",
  "self_attn.k_proj.bias": "attn_k.bias",
  "self_attn.v_proj.bias": "attn_v.bias",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};

/** The GGUF name of a Hugging Face tensor name, or null for a tensor llama.cpp does not take. */
export function ggufTensorName(hf: string): string | null {
  if (hf === "model.embed_tokens.weight") return "token_embd.weight";
  if (hf === "model.norm.weight") return "output_norm.weight";
  if (hf === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  const mapped = m ? LAYER_NAMES[m[2]!] : undefined;
  return m && mapped ? `blk.${m[1]}.${mapped}` : null;
}

function archOf(c: LlamaConfig): "llama" | "qwen2" {
  if (c.slidingWindow !== null) {
    throw new QuantlabError(
      "unsupported",
      `Sliding window ${c.slidingWindow}: llama.cpp's llama architecture has no window`,
    );
  }
  if (c.ropeScaling.type !== "none") {
    throw new QuantlabError("unsupported", `RoPE scaling "${c.ropeScaling.type}" is not converted`);
  }
  if (c.oBias || c.mlpBias) {
    throw new QuantlabError("unsupported", "Output-projection and MLP biases are not converted");
  }
  return c.architecture === "Qwen2ForCausalLM" ? "qwen2" : "llama";
}

interface TokenizerJson {
  model: { type?: string; vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

function vocabMetadata(tj: TokenizerJson, vocabSize: number, c: LlamaConfig) {
  if (tj.model.type !== undefined && tj.model.type !== "BPE") {
    throw new QuantlabError("unsupported", `Tokenizer model "${tj.model.type}" is not BPE`);
  }
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types: number[] = new Array(vocabSize).fill(5); // 5 = unused
  for (const [tok, id] of Object.entries(tj.model.vocab)) {
    if (id < vocabSize) (tokens[id] = tok, types[id] = 1); // 1 = normal
  }
  for (const t of tj.added_tokens ?? []) {
    if (t.id < vocabSize) (tokens[t.id] = t.content, types[t.id] = t.special ? 3 : 4); // control, user
  }
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const md: [string, GgufValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
  if (c.bosTokenId !== null) {
    md.push(["tokenizer.ggml.bos_token_id", { type: "u32", value: c.bosTokenId }]);
  }
  if (c.eosTokenIds[0] !== undefined) {
    md.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: c.eosTokenIds[0] }]);
  }
  return md;
}

/**
 * Writes the model in folder `dir` as an F32 GGUF file at `out` (see the module doc). Errors:
 * `unsupported` for what llama.cpp's `llama`/`qwen2` architectures cannot express.
 */
export async function hfFolderToGguf(
  dir: string,
  out: string,
  opts: ToGgufOptions = {},
): Promise<void> {
  const { config: c } = await loadHfConfig(dir);
  const arch = archOf(c);
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  const md = new Map<string, GgufValue>([
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: `quantlab ${arch} test model` }],
    [`${arch}.context_length`, u32(c.maxPositionEmbeddings)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.block_count`, u32(c.numLayers)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.numKvHeads)],
    [`${arch}.rope.freq_base`, f32(c.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    [`${arch}.rope.dimension_count`, u32(c.headDim)],
    [`${arch}.attention.key_length`, u32(c.headDim)],
    [`${arch}.attention.value_length`, u32(c.headDim)],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
  ]);
  const tj = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`)) as TokenizerJson;
  for (const [k, v] of vocabMetadata(tj, c.vocabSize, c)) md.set(k, v);

  const ck = await openCheckpoint(dir);
  const tensors: GgufTensor[] = [];
  try {
    for (const hf of ck.names()) {
      const name = ggufTensorName(hf);
      if (name === null) {
        throw new QuantlabError("unsupported", `Tensor "${hf}" has no GGUF name here`);
      }
      if (name === "output.weight" && c.tieWordEmbeddings) continue;
      const t = tensorToF32(await ck.read(hf));
      let data = t.data;
      // q/k weights and biases (a Llama with attention_bias has them) share the row order.
      const heads = /attn_q\.(weight|bias)$/.test(name)
        ? c.numHeads
        : /attn_k\.(weight|bias)$/.test(name)
        ? c.numKvHeads
        : 0;
      if (arch === "llama" && heads > 0 && !opts.skipPermutation) {
        data = permuteRotateHalfToInterleaved(data, heads, c.headDim, t.shape[1] ?? 1);
      }
      tensors.push({ name, dims: [...t.shape].reverse(), type: "F32", data });
    }
  } finally {
    ck.close();
  }
  await writeGguf(out, md, tensors);
}
