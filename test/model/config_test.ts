import assert from "node:assert/strict";
import {
  layerWindow,
  llamaConfig,
  parseHfConfig,
  SUPPORTED_ARCHITECTURES,
  toHfConfig,
} from "../../src/model/config.ts";
import { applyRope, ropeInvFreq, RopeTable } from "../../src/model/rope.ts";

const LLAMA31_8B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: 128001,
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-05,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};

const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"],
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: "qwen2",
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-06,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const MISTRAL_7B = {
  architectures: ["MistralForCausalLM"],
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: "mistral",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-05,
  rope_theta: 10000.0,
  sliding_window: 4096,
  head_dim: 128,
  vocab_size: 32000,
};

Deno.test("parseHfConfig() reads a Llama 3.1 config with llama3 rope scaling and GQA", () => {
  const c = parseHfConfig(LLAMA31_8B);
  assert.equal(c.architecture, "LlamaForCausalLM");
  assert.equal(c.headDim, 128);
  assert.equal(c.numKvHeads, 8);
  assert.deepEqual(c.ropeScaling, {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.equal(c.qkvBias, false);
  assert.equal(c.slidingWindow, null);
  assert.deepEqual(c.eosTokenIds, [128001]);
});

Deno.test("parseHfConfig() reads Qwen2 (q/k/v bias, tied embeddings, window off) and Mistral", () => {
  const q = parseHfConfig(QWEN25_05B);
  assert.equal(q.qkvBias, true);
  assert.equal(q.oBias, false);
  assert.equal(q.tieWordEmbeddings, true);
  assert.equal(q.headDim, 64);
  assert.equal(q.slidingWindow, null);
  const qs = parseHfConfig({
    ...QWEN25_05B,
    use_sliding_window: true,
    sliding_window: 128,
    max_window_layers: 20,
  });
  assert.equal(layerWindow(qs, 19), 0);
  assert.equal(layerWindow(qs, 20), 128);
  const m = parseHfConfig(MISTRAL_7B);
  assert.equal(m.slidingWindow, 4096);
  assert.equal(layerWindow(m, 0), 4096);
  assert.equal(parseHfConfig({ ...MISTRAL_7B, sliding_window: null }).slidingWindow, null);
});

Deno.test("parseHfConfig() names the unsupported architecture and the supported ones", () => {
  assert.throws(
    () => parseHfConfig({ ...LLAMA31_8B, architectures: ["GPT2LMHeadModel"] }),
    new RegExp(
      `Architecture GPT2LMHeadModel is not supported; use one of ${
        SUPPORTED_ARCHITECTURES.join(", ")
      }`,
    ),
  );
});

Deno.test("parseHfConfig() names a missing key, a bad value and unsupported rope scaling", () => {
  const { hidden_size: _, ...noHidden } = LLAMA31_8B;
  assert.throws(() => parseHfConfig(noHidden), /lacks "hidden_size"/);
  assert.throws(() => parseHfConfig({ ...LLAMA31_8B, num_key_value_heads: 5 }), /not a multiple/);
  assert.throws(() => parseHfConfig({ ...LLAMA31_8B, vocab_size: -1 }), /"vocab_size" is -1/);
  assert.throws(
    () => parseHfConfig({ ...LLAMA31_8B, rope_scaling: { rope_type: "yarn", factor: 4 } }),
    /RoPE scaling type "yarn" is not supported; use none, "linear" or "llama3"/,
  );
  assert.throws(() => parseHfConfig({ ...LLAMA31_8B, hidden_act: "gelu" }), /Activation "gelu"/);
});

Deno.test("toHfConfig() round-trips through parseHfConfig()", () => {
  for (const raw of [LLAMA31_8B, QWEN25_05B, MISTRAL_7B]) {
    const c = parseHfConfig(raw);
    assert.deepEqual(parseHfConfig(toHfConfig(c)), c);
  }
});

Deno.test("ropeInvFreq() applies llama3 scaling: short wavelengths kept, long ones divided by factor", () => {
  const c = parseHfConfig(LLAMA31_8B);
  const plain = ropeInvFreq(128, 500000, { type: "none" });
  const scaled = ropeInvFreq(128, 500000, c.ropeScaling);
  for (let i = 0; i < 64; i++) {
    const wl = (2 * Math.PI) / plain[i]!;
    let want: number;
    if (wl < 8192 / 4) want = plain[i]!;
    else if (wl > 8192 / 1) want = plain[i]! / 8;
    else {
      const s = (8192 / wl - 1) / (4 - 1);
      want = (1 - s) * plain[i]! / 8 + s * plain[i]!;
    }
    assert.ok(Math.abs(scaled[i]! - want) <= 1e-7 * want, `i=${i}`);
  }
  assert.equal(scaled[0], plain[0]);
  assert.ok(Math.abs(scaled[63]! - plain[63]! / 8) < 1e-12);
  const linear = ropeInvFreq(8, 10000, { type: "linear", factor: 4 });
  assert.ok(Math.abs(linear[1]! - 0.1 / 4) < 1e-8);
});

Deno.test("applyRope() rotates pairs (i, i + d/2) and preserves the norm", () => {
  const c = llamaConfig({ hiddenSize: 16, numHeads: 2 });
  const table = new RopeTable(c);
  const x = Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i));
  const norm = (a: Float32Array, o: number) => Math.hypot(...a.subarray(o, o + 8));
  const y = x.slice();
  applyRope(y, 2, 2, 8, 5, table);
  for (let r = 0; r < 4; r++) assert.ok(Math.abs(norm(x, r * 8) - norm(y, r * 8)) < 1e-5);
  // Position 5, pair 0 (frequency 1): rotation by 5 radians.
  const a = x[0]!, b = x[4]!;
  assert.ok(Math.abs(y[0]! - (a * Math.cos(5) - b * Math.sin(5))) < 1e-6);
  assert.ok(Math.abs(y[4]! - (b * Math.cos(5) + a * Math.sin(5))) < 1e-6);
});
