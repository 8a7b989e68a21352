import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { fromF16, toBf16, toF16 } from "../../src/core/dtype.ts";
import { checkpointError, dequantizeCheckpoint } from "../../src/jobs/checkpoint_error.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";
import {
  QuantizedCheckpoint,
  quantizedFromTensors,
  quantizedToTensors,
  writeQuantizedSafetensors,
} from "../../src/io/quantized_checkpoint.ts";
import { SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.ts";
import { writeSharded } from "../../src/io/sharded.ts";
import { higgsQuantizer } from "../../src/quant/higgs.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import type { QuantizedTensor } from "../../src/quant/format.ts";
import { packCodes } from "../../src/quant/packing.ts";
import { metaQuantizeAffine, metaQuantizeDynamic } from "../../src/quant/meta_quant.ts";
import { getQuantizer } from "../../src/quant/registry.ts";
import type { QuantOptions } from "../../src/quant/quantizer.ts";

const OPTS = { p: 1, bits: 3, hadamard: 64 } as const;

function bf16Matrix(rows: number, cols: number, seed: number): Tensor {
  return new Tensor(
    [rows, cols],
    "BF16",
    toBf16(fillNormal(new Float32Array(rows * cols), seed, 0, 0.02)),
  );
}

function f32Of(t: Tensor): Float32Array {
  const out = new Float32Array(t.numel);
  const bits = new Uint32Array(out.buffer);
  const src = t.data as Uint16Array;
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return out;
}

/** A tiny Llama-shaped sharded checkpoint folder with a config and a tokenizer. */
async function makeModel(dir: string): Promise<Map<string, Tensor>> {
  const tensors = new Map<string, Tensor>([
    ["model.embed_tokens.weight", bf16Matrix(50, 96, 1)],
    [
      "model.layers.0.input_layernorm.weight",
      new Tensor([96], "BF16", toBf16(new Float32Array(96).fill(1))),
    ],
    ["model.layers.0.self_attn.q_proj.weight", bf16Matrix(96, 96, 2)],
    ["model.layers.0.mlp.up_proj.weight", bf16Matrix(130, 96, 3)],
    ["model.layers.0.mlp.down_proj.weight", bf16Matrix(96, 130, 4)],
    ["model.norm.weight", new Tensor([96], "BF16", toBf16(new Float32Array(96).fill(1)))],
    ["lm_head.weight", bf16Matrix(50, 96, 5)],
  ]);
  await writeSharded(dir, tensors, 30_000);
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ model_type: "llama", hidden_size: 96 }),
  );
  await Deno.writeTextFile(`${dir}/tokenizer.json`, `{"model": {}}`);
  return tensors;
}

async function withTemp(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-qc-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

Deno.test("quantizedToTensors() and quantizedFromTensors() round-trip every storage kind exactly", () => {
  const count = 4 * 2;
  const base = (): QuantizedTensor => ({
    method: "hqq",
    shape: [4, 16],
    paddedCols: 16,
    p: 1,
    codeBits: 4,
    codes: packCodes(Array.from({ length: 64 }, (_, i) => i % 16), 4, 16, 4),
    table: Float32Array.from({ length: 16 }, (_, i) => i),
    tableDtype: "F32",
    groupSize: 8,
    groupAxis: 1,
    scales: fromF16(toF16(Float32Array.from({ length: count }, (_, i) => 0.01 + i * 1e-3))),
    scaleStorage: { kind: "float", dtype: "F16" },
    rotation: { kind: "none" },
    params: {},
  });
  const variants: QuantizedTensor[] = [];
  // f16 scales, bf16 zeros
  const a = base();
  a.zeros = Float32Array.from({ length: count }, (_, i) => i / 2);
  a.zeroStorage = { kind: "float", dtype: "BF16" };
  variants.push(a);
  // 8-bit affine (f16 and f32 arithmetic) and dynamic meta-quantization
  for (
    const m of [
      metaQuantizeAffine(
        Float32Array.from({ length: count }, (_, i) => 0.5 + Math.sin(i)),
        8,
        "F16",
      ),
      metaQuantizeAffine(
        Float32Array.from({ length: count }, (_, i) => 0.5 + Math.sin(i)),
        8,
        "F32",
      ),
      metaQuantizeDynamic(Float32Array.from({ length: count }, (_, i) => 2 + Math.cos(i)), 8),
    ]
  ) {
    const v = base();
    v.scales = m.decoded;
    v.scaleStorage = m.storage;
    variants.push(v);
  }
  // groups along the rows, f32 everything
  const r = base();
  r.groupAxis = 0;
  r.groupSize = 2;
  r.scales = Float32Array.from({ length: 2 * 16 }, (_, i) => 0.1 + i);
  r.scaleStorage = { kind: "float", dtype: "F32" };
  variants.push(r);
  for (const q of variants) {
    const { tensors, descriptor } = quantizedToTensors("w", q);
    const m = new Map(tensors);
    const back = quantizedFromTensors("w", JSON.parse(JSON.stringify(descriptor)), (n) => m.get(n));
    assert.ok(sameBits(dequantize(back), dequantize(q)), JSON.stringify(descriptor.scaleStorage));
    assert.deepEqual(back.scaleStorage.kind, q.scaleStorage.kind);
  }
});

Deno.test("every method's checkpoint reloads bit-exactly, 8-bit meta-quantized parameters included", async () => {
  await withTemp(async (dir) => {
    const rows = 16, cols = 192;
    const w = fillNormal(new Float32Array(rows * cols), 21, 0, 0.02);
    const runs: [string, QuantOptions][] = [
      ["higgs", { p: 2, bits: 3, hadamard: 64, seed: 3 }],
      ["hqq", { bits: 4, groupSize: 64 }],
      ["hqq", { bits: 3, groupSize: 64, extra: { quantScale: true, quantZero: true } }],
      ["hqq", { bits: 4, groupSize: 8, axis: 0 }],
      ["nf4", { groupSize: 64 }],
      ["nf4", { groupSize: 64, extra: { doubleQuant: true } }],
      ["af4", { groupSize: 32 }],
      ["fp4", { groupSize: 64 }],
      ["rtn", { bits: 3, groupSize: 64 }],
    ];
    const entries = new Map<string, QuantizedTensor>();
    for (const [i, [m, o]] of runs.entries()) {
      entries.set(`w${i}.${m}`, await getQuantizer(m).quantize(w, rows, cols, o, undefined, m));
    }
    await writeQuantizedSafetensors(`${dir}/all.safetensors`, entries);
    const ck = await QuantizedCheckpoint.open(`${dir}/all.safetensors`);
    try {
      for (const [name, q] of entries) {
        const back = await ck.read(name);
        assert.equal(back.method, q.method);
        assert.deepEqual(back.scaleStorage.kind, q.scaleStorage.kind, name);
        assert.ok(sameBits(dequantize(back), dequantize(q)), name);
      }
      const kinds = [...entries.values()].map((q) => q.scaleStorage.kind);
      assert.ok(kinds.includes("int8"), "no run exercised 8-bit meta-quantization");
    } finally {
      ck.close();
    }
  });
});

Deno.test("quantizedToTensors() refuses scales that their declared storage would change", () => {
  const q: QuantizedTensor = {
    method: "rtn",
    shape: [1, 4],
    paddedCols: 4,
    p: 1,
    codeBits: 2,
    codes: packCodes([0, 1, 2, 3], 1, 4, 2),
    table: new Float32Array([0, 1, 2, 3]),
    tableDtype: "F32",
    groupSize: 4,
    groupAxis: 1,
    scales: new Float32Array([0.1]),
    scaleStorage: { kind: "float", dtype: "F16" },
    rotation: { kind: "none" },
    params: {},
  };
  assert.throws(
    () => quantizedToTensors("w", q),
    (e: unknown) => e instanceof QuantlabError && /scales\[0\] = 0\.1.* F16/.test(e.message),
  );
});

Deno.test("a HIGGS checkpoint saved, reloaded and dequantized gives exactly the Ŵ computed before saving", async () => {
  await withTemp(async (dir) => {
    const w = fillNormal(new Float32Array(9 * 200), 11);
    const q = await higgsQuantizer.quantize(w, 9, 200, { ...OPTS, seed: 5 }, undefined, "w");
    const before = dequantize(q);
    await writeQuantizedSafetensors(
      `${dir}/q.safetensors`,
      new Map<string, QuantizedTensor | Tensor>([["w", q], ["b", Tensor.zeros([3])]]),
    );
    const ck = await QuantizedCheckpoint.open(`${dir}/q.safetensors`);
    try {
      assert.deepEqual(ck.quantizedNames, ["w"]);
      assert.deepEqual(ck.otherNames, ["b"]);
      const back = await ck.read("w");
      assert.deepEqual(back.codes, q.codes);
      assert.ok(sameBits(dequantize(back), before));
      assert.equal(back.paddedCols, 256);
      assert.deepEqual(back.rotation, { kind: "hadamard", size: 64, seed: 5 });
    } finally {
      ck.close();
    }
  });
});

Deno.test("quantizeCheckpoint() writes an HF-style folder that loads and decodes bit-exactly", async () => {
  await withTemp(async (dir) => {
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    const tensors = await makeModel(src);
    const out = `${dir}/out`;
    const s = await quantizeCheckpoint(src, out, { options: OPTS });
    assert.equal(s.quantized, 3);
    assert.equal(s.copied, 4);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.ok(names.includes("model.safetensors.index.json"));
    assert.ok(names.includes("tokenizer.json"));
    assert.ok(!names.some((n) => n.startsWith(".quantlab")), names.join());
    const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(cfg.model_type, "llama");
    assert.equal(cfg.quantization_config.quant_method, "quantlab");
    assert.equal(cfg.quantization_config.method, "higgs");
    assert.equal(cfg.quantization_config.format_version, 1);
    assert.equal(cfg.quantization_config.parameters.hadamard, 64);
    assert.equal(cfg.quantization_config.parameters.seed, null);
    assert.ok(cfg.quantization_config.modules_not_to_convert.includes("lm_head.weight"));
    const index = JSON.parse(await Deno.readTextFile(`${out}/model.safetensors.index.json`));
    assert.ok(index.weight_map["model.layers.0.mlp.up_proj.weight.codes"]);
    const ck = await QuantizedCheckpoint.open(out);
    try {
      assert.deepEqual(ck.quantizedNames.sort(), [
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.0.mlp.up_proj.weight",
        "model.layers.0.self_attn.q_proj.weight",
      ]);
      assert.ok(ck.otherNames.includes("model.embed_tokens.weight"));
      assert.ok(ck.otherNames.includes("lm_head.weight"));
      const emb = await ck.readOther("model.embed_tokens.weight");
      assert.deepEqual(emb.data, tensors.get("model.embed_tokens.weight")!.data);
      for (const n of ck.quantizedNames) {
        const t = tensors.get(n)!;
        const direct = await higgsQuantizer.quantize(f32Of(t), t.shape[0]!, t.shape[1]!, OPTS);
        const back = await ck.read(n);
        assert.equal(back.method, "higgs");
        assert.ok(sameBits(dequantize(back), dequantize(direct)), n);
      }
    } finally {
      ck.close();
    }
    // dequantize → f32 file under the original names; error table from it.
    await dequantizeCheckpoint(out, `${dir}/deq.safetensors`, {});
    const f = await SafetensorsFile.open(`${dir}/deq.safetensors`);
    assert.equal(f.info("model.layers.0.mlp.up_proj.weight").dtype, "F32");
    assert.deepEqual(f.info("model.layers.0.mlp.up_proj.weight").shape, [130, 96]);
    assert.equal(f.info("model.norm.weight").dtype, "BF16");
    f.close();
    const errs = await checkpointError(src, out);
    assert.equal(errs.length, 3);
    for (const e of errs) {
      assert.ok(e.relMse > 0.02 && e.relMse < 0.05, `${e.name}: ${e.relMse}`);
      assert.ok(e.bitsPerWeight > 3 && e.bitsPerWeight < 5, `${e.name}: ${e.bitsPerWeight}`);
    }
  });
});

Deno.test("quantizeCheckpoint() resumes a killed run (mode resume), skipping finished tensors, with identical output", async () => {
  await withTemp(async (dir) => {
    const src = `${dir}/src`;
    await Deno.mkdir(src);
    await makeModel(src);
    await quantizeCheckpoint(src, `${dir}/ref`, { options: OPTS });
    let done = 0;
    await assert.rejects(
      quantizeCheckpoint(src, `${dir}/out`, {
        options: OPTS,
        onTensorDone: () => {
          if (++done === 2) throw new Error("simulated kill");
        },
      }),
      /simulated kill/,
    );
    // The work folder lies beside the output; nothing is at the output itself.
    assert.ok((await Deno.stat(`${dir}/out.quantlab-work/progress.jsonl`)).isFile);
    await assert.rejects(Deno.stat(`${dir}/out`), Deno.errors.NotFound);
    // Without --resume (or --force) the unfinished run is refused.
    await assert.rejects(
      quantizeCheckpoint(src, `${dir}/out`, { options: OPTS }),
      /already exists.*--force.*--resume/,
    );
    // Resuming with other options is refused, naming only what differs, with both values.
    await assert.rejects(
      quantizeCheckpoint(src, `${dir}/out`, { options: { ...OPTS, bits: 2 }, mode: "resume" }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        e.message.includes("settings.gridSize was 8, now 4") &&
        e.message.includes("settings.bits was 3, now 2") && !e.message.includes("hadamard"),
    );
    const seen: string[] = [];
    const s = await quantizeCheckpoint(src, `${dir}/out`, {
      options: OPTS,
      mode: "resume",
      onTensorDone: (n) => void seen.push(n),
    });
    assert.equal(s.resumed, 2);
    assert.equal(s.quantized, 1);
    assert.equal(seen.length, 1);
    for (const e of Deno.readDirSync(`${dir}/ref`)) {
      const a = await Deno.readFile(`${dir}/ref/${e.name}`);
      const b = await Deno.readFile(`${dir}/out/${e.name}`);
      assert.deepEqual(b, a, e.name);
    }
    await assert.rejects(Deno.stat(`${dir}/out.quantlab-work`), Deno.errors.NotFound);
    // A finished output is recognised: resuming it does nothing.
    const again = await quantizeCheckpoint(src, `${dir}/out`, { options: OPTS, mode: "resume" });
    assert.equal(again.quantized, 0);
    assert.equal(again.resumed, 3);
    // A bad option fails before anything is written.
    await assert.rejects(
      quantizeCheckpoint(src, `${dir}/bad`, { options: { ...OPTS, extra: { nope: 1 } } }),
      /not a HIGGS option/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["out", "ref", "src"]);
  });
});

Deno.test("quantizeCheckpoint() takes one .safetensors file: every 2-D float tensor, or --tensor", async () => {
  await withTemp(async (dir) => {
    await writeSafetensors(`${dir}/m.safetensors`, {
      a: Tensor.f32([3, 70], fillNormal(new Float32Array(210), 1)),
      emb: Tensor.f32([5, 64], fillNormal(new Float32Array(320), 2)),
      v: Tensor.zeros([7]),
      i: new Tensor([2, 2], "I32", new Int32Array(4)),
    });
    await quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q.safetensors`, {
      options: OPTS,
    });
    let ck = await QuantizedCheckpoint.open(`${dir}/q.safetensors`);
    assert.deepEqual(ck.quantizedNames.sort(), ["a", "emb"]);
    assert.deepEqual(ck.otherNames.sort(), ["i", "v"]);
    ck.close();
    await quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q2.safetensors`, {
      options: OPTS,
      tensors: ["a"],
    });
    ck = await QuantizedCheckpoint.open(`${dir}/q2.safetensors`);
    assert.deepEqual(ck.quantizedNames, ["a"]);
    ck.close();
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q3.safetensors`, {
        tensors: ["v"],
      }),
      (e: unknown) =>
        e instanceof QuantlabError && /"v" is F32 \[7\]; only 2-D float tensors/.test(e.message),
    );
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q3.safetensors`, {
        tensors: ["nope"],
      }),
      (e: unknown) => e instanceof QuantlabError && e.code === "not-found",
    );
  });
});

Deno.test("a tampered or truncated checkpoint is a clear error, never a wrong Ŵ", async () => {
  await withTemp(async (dir) => {
    const w = fillNormal(new Float32Array(4 * 64), 3);
    const q = await higgsQuantizer.quantize(w, 4, 64, OPTS, undefined, "w");
    const { tensors, descriptor } = quantizedToTensors("w", q);
    const write = async (name: string, ts: [string, Tensor][], d: unknown): Promise<string> => {
      const path = `${dir}/${name}.safetensors`;
      await writeSafetensors(path, new Map(ts), {
        format: "pt",
        quantlab: JSON.stringify({
          format: "quantlab.quantized",
          version: 1,
          run: null,
          tensors: { w: d },
        }),
      });
      return path;
    };
    const expectBad = async (path: string, re: RegExp): Promise<void> => {
      await assert.rejects(
        (async () => {
          const ck = await QuantizedCheckpoint.open(path);
          try {
            await ck.read("w");
          } finally {
            ck.close();
          }
        })(),
        (e: unknown) => e instanceof QuantlabError && re.test(e.message),
      );
    };
    // Wrong metadata: the shape says 5 rows, the codes hold 4.
    await expectBad(
      await write("shape", tensors, { ...descriptor, shape: [5, 64] }),
      /"w\.codes" has shape \[4, 6\]; the metadata implies \[5, 6\]/,
    );
    // Missing field.
    await expectBad(
      await write("field", tensors, { ...descriptor, codeBits: undefined }),
      /metadata field "codeBits" is undefined/,
    );
    // Wrong codes length.
    const short = tensors.map(([n, t]): [string, Tensor] =>
      n === "w.codes"
        ? [n, new Tensor([4, 5], "U32", (t.data as Uint32Array).slice(0, 20))]
        : [n, t]
    );
    await expectBad(await write("codes", short, descriptor), /"w\.codes" has shape \[4, 5\]/);
    // NaN scale.
    const nan = tensors.map(([n, t]): [string, Tensor] => {
      if (n !== "w.scales") return [n, t];
      const d = (t.data as Uint16Array).slice();
      d[2] = 0x7e00;
      return [n, new Tensor(t.shape, "F16", d)];
    });
    await expectBad(await write("nan", nan, descriptor), /scales\[2\] is NaN/);
    // Unknown format version.
    const v2 = `${dir}/v2.safetensors`;
    await writeSafetensors(v2, new Map(tensors), {
      quantlab: JSON.stringify({
        format: "quantlab.quantized",
        version: 2,
        tensors: { w: descriptor },
      }),
    });
    await expectBad(v2, /format version 2 is not supported/);
    // A part of the quantized tensor missing.
    await expectBad(
      await write("missing", tensors.filter(([n]) => n !== "w.table"), descriptor),
      /has no tensor "w\.table"/,
    );
    // Truncated file.
    const good = await write("good", tensors, descriptor);
    const bytes = await Deno.readFile(good);
    await Deno.writeFile(`${dir}/trunc.safetensors`, bytes.subarray(0, bytes.length - 10));
    await expectBad(
      `${dir}/trunc.safetensors`,
      /trunc\.safetensors": the tensors need a \d+-byte buffer but the file holds only \d+ bytes after the header; the file is truncated/,
    );
    // Not a quantized checkpoint at all.
    await writeSafetensors(`${dir}/plain.safetensors`, { w: Tensor.zeros([2]) });
    await expectBad(`${dir}/plain.safetensors`, /not a quantlab quantized checkpoint/);
  });
});
