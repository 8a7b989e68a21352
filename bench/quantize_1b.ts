/**
 * End-to-end scale check of `quantlab quantize`: writes a synthetic Llama-shaped bf16 sharded
 * checkpoint (random N(0, 0.02²) weights, Llama-3.2-1B shapes: hidden 2048, MLP 8192, 16 layers,
 * 8 KV heads, vocab 128256, tied embeddings ≈ 1.24 B parameters) into a temporary folder, then
 * times the in-process `quantizeCheckpoint` call on it: M weights/s and peak resident memory
 * (`Deno.memoryUsage().rss` sampled every 20 ms) against the largest tensor.
 *
 *     deno run -A bench/quantize_1b.ts [--params 1.2e9] [--method higgs] [--bits 4] [--p 2]
 *                                      [--keep DIR] [--backend cpu]
 *
 * `--params` scales the model down (fewer layers, then a smaller vocabulary) for a quick check.
 * The checkpoint is generated in a child process so its memory does not count.
 * Goals (2 cores): ≥ 20 M weights/s; peak RSS ≤ 2 × the largest tensor + fixed overhead.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fillNormal } from "../src/core/prng.ts";
import { toBf16 } from "../src/core/dtype.ts";
import { Tensor } from "../src/core/tensor.ts";
import { SafetensorsWriter } from "../src/io/safetensors.ts";
import { quantizeCheckpoint } from "../src/jobs/quantize_checkpoint.ts";
import { progressBars } from "../src/cli/progress.ts";
import { selectBackend } from "../src/gpu/backend.ts";
import { poolSize } from "../src/cpu/pool.ts";

interface Shape {
  name: string;
  shape: [number, number] | [number];
}

/** Llama-3.2-1B-like tensor list scaled to about `params` parameters. */
export function llamaShapes(params: number): { shapes: Shape[]; config: Record<string, unknown> } {
  const hidden = 2048, inter = 8192, kv = 512;
  let vocab = 128256;
  const perLayer = 2 * hidden * hidden + 2 * kv * hidden + 3 * inter * hidden + 2 * hidden;
  let layers = Math.round((params - vocab * hidden) / perLayer);
  if (layers < 1) {
    layers = 1;
    vocab = Math.max(1024, Math.round((params - perLayer) / hidden / 64) * 64);
  }
  layers = Math.min(layers, 16);
  const shapes: Shape[] = [{ name: "model.embed_tokens.weight", shape: [vocab, hidden] }];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      { name: `${p}.input_layernorm.weight`, shape: [hidden] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [hidden, hidden] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, hidden] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, hidden] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [hidden, hidden] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [hidden] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [inter, hidden] },
      { name: `${p}.mlp.up_proj.weight`, shape: [inter, hidden] },
      { name: `${p}.mlp.down_proj.weight`, shape: [hidden, inter] },
    );
  }
  shapes.push({ name: "model.norm.weight", shape: [hidden] });
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    vocab_size: vocab,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
  };
  return { shapes, config };
}

const numelOf = (s: Shape): number => s.shape.reduce((a, b) => a * b, 1);

/** Writes the synthetic checkpoint: shards of ≤ `shardBytes`, an index, config.json. */
export async function generate(dir: string, params: number, shardBytes = 1 << 30): Promise<void> {
  const { shapes, config } = llamaShapes(params);
  const shards: Shape[][] = [[]];
  let bytes = 0;
  for (const s of shapes) {
    const b = numelOf(s) * 2;
    if (bytes > 0 && bytes + b > shardBytes) {
      shards.push([]);
      bytes = 0;
    }
    shards.at(-1)!.push(s);
    bytes += b;
  }
  const pad = (i: number): string => String(i).padStart(5, "0");
  const weightMap: Record<string, string> = {};
  let total = 0;
  let seed = 1;
  for (let i = 0; i < shards.length; i++) {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    const list = shards[i]!;
    const w = await SafetensorsWriter.create(
      `${dir}/${file}`,
      list.map((s) => ({ name: s.name, dtype: "BF16" as const, shape: s.shape })),
      { format: "pt" },
    );
    for (const s of list) {
      const n = numelOf(s);
      const f = s.shape.length === 1
        ? new Float32Array(n).fill(1)
        : fillNormal(new Float32Array(n), seed++, 0, 0.02);
      await w.write(s.name, new Tensor(s.shape, "BF16", toBf16(f)));
      weightMap[s.name] = file;
      total += n * 2;
    }
    await w.close();
  }
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({ version: "1.0", model: {} }));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      params: { type: "string", default: "1.24e9" },
      method: { type: "string", default: "higgs" },
      bits: { type: "string", default: "4" },
      p: { type: "string", default: "2" },
      backend: { type: "string", default: "cpu" },
      keep: { type: "string" },
      "generate-only": { type: "string" },
    },
  });
  const params = Number(values.params);
  if (values["generate-only"]) {
    await generate(values["generate-only"], params);
    Deno.exit(0);
  }
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "quantlab-1b-" });
  const src = `${dir}/src`;
  const out = `${dir}/out`;
  const { shapes } = llamaShapes(params);
  const totalWeights = shapes.reduce((a, s) => a + numelOf(s), 0);
  const largest = shapes.reduce((a, s) => Math.max(a, numelOf(s) * 2), 0);
  const largestQuantized = shapes.filter((s) => s.shape.length === 2 && !s.name.includes("embed"))
    .reduce((a, s) => Math.max(a, numelOf(s)), 0);
  let haveSrc = false;
  try {
    haveSrc = (await Deno.stat(`${src}/model.safetensors.index.json`)).isFile;
  } catch { /* generate */ }
  if (!haveSrc) {
    await Deno.mkdir(src, { recursive: true });
    const t = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        "--params",
        String(params),
        "--generate-only",
        src,
      ],
      stdout: "inherit",
      stderr: "inherit",
    });
    const { code } = await child.output();
    if (code !== 0) throw new Error(`generation failed (${code})`);
    console.log(
      `generated ${(totalWeights / 1e9).toFixed(3)} B bf16 weights in ${
        ((performance.now() - t) / 1000).toFixed(1)
      } s → ${src}`,
    );
  }
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const backend = await selectBackend(values.backend as "cpu");
  const base = Deno.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  const s = await quantizeCheckpoint(src, out, {
    method: values.method,
    options: { bits: Number(values.bits), p: Number(values.p) },
    backend,
    mode: "force", // a killed earlier run may have left its work folder
    progress: progressBars(false),
  });
  const secs = (performance.now() - t0) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  console.log(`threads                 ${poolSize()}`);
  console.log(
    `weights                 ${(totalWeights / 1e6).toFixed(1)} M (${
      (s.quantizedWeights / 1e6).toFixed(1)
    } M quantized)`,
  );
  console.log(`time                    ${secs.toFixed(1)} s`);
  console.log(
    `throughput (all)        ${(totalWeights / secs / 1e6).toFixed(1)} M weights/s (goal ≥ 20)`,
  );
  console.log(
    `throughput (quantized)  ${(s.quantizedWeights / secs / 1e6).toFixed(1)} M weights/s`,
  );
  console.log(`bits/weight (quantized) ${s.bitsPerWeight.toFixed(4)}`);
  console.log(`rss before / peak       ${mib(base)} / ${mib(peak)} (+${mib(peak - base)})`);
  console.log(
    `largest tensor (bf16)   ${mib(largest)}; largest quantized as f32 ${
      mib(largestQuantized * 4)
    }; ` +
      `peak − base = ${((peak - base) / largest).toFixed(2)} × largest tensor`,
  );
  if (!values.keep) await Deno.remove(dir, { recursive: true });
}
