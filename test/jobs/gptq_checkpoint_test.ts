/**
 * The GPTQ checkpoint job on the embedded tiny Llama (4 layers, 28 projections), with a small
 * calibration set (4 windows of 64 tokens of Brown valid) so the whole file runs in seconds.
 */
import assert from "node:assert/strict";
import { gptqCheckpoint, type GptqCheckpointOptions } from "../../src/jobs/gptq_checkpoint.ts";
import { loadCalibration } from "../../src/jobs/calibration.ts";
import { parseGridSpec } from "../../src/quant/grid_spec.ts";
import { getQuantizer } from "../../src/quant/registry.ts";
import { dequantize } from "../../src/quant/dequantize.ts";
import { hessianError } from "../../src/quant/error_metrics.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { loadBrown } from "../../src/data/brown.ts";
import { loadCausalLM, loadModel } from "../../src/model/loader.ts";
import { captureLayerHessians, HESSIAN_GROUPS } from "../../src/model/hessian_capture.ts";
import { DenseLinear } from "../../src/model/linear.ts";
import { sha256 } from "../../src/io/results.ts";

const MODEL = "assets/tiny-llama";
const TEXT = new TextEncoder().encode((await loadBrown("valid")).slice(0, 20000));
const GRID = "higgs:p=2,bits=3";
const options = (
  over: Partial<GptqCheckpointOptions["calibration"]> = {},
): GptqCheckpointOptions => ({
  grid: parseGridSpec(GRID),
  calibration: { source: "brown-valid-head", text: TEXT, samples: 4, ctx: 64, seed: 3, ...over },
});

/** One uninterrupted run, shared by the tests that read its output. */
let full: Promise<{ out: string; summary: Awaited<ReturnType<typeof gptqCheckpoint>> }> | null =
  null;
function fullRun() {
  full ??= (async () => {
    const out = `${await Deno.makeTempDir()}/q`;
    return { out, summary: await gptqCheckpoint(MODEL, out, options()) };
  })();
  return full;
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

const nameOf = (l: number, k: string) =>
  `model.layers.${l}.${
    k.startsWith("gate") || k.startsWith("up") || k.startsWith("down") ? "mlp" : "self_attn"
  }.${k}.weight`;

Deno.test("the output is an ordinary quantized checkpoint: it loads and scores text", async () => {
  const { out, summary } = await fullRun();
  assert.equal(summary.quantized, 28);
  assert.deepEqual(summary.layers, { quantized: 4, resumed: 0 });
  const ck = await QuantizedCheckpoint.open(out);
  try {
    assert.equal(ck.quantizedNames.length, 28);
    const t = await ck.read(nameOf(0, "q_proj"));
    assert.equal(t.method, "higgs");
    assert.equal(t.p, 2);
    assert.equal(t.params.gptq, true);
  } finally {
    ck.close();
  }
  const lm = await loadCausalLM(out);
  const ids = (await loadCalibration(MODEL, options().calibration)).windows[0]!;
  const nll = await lm.nll(ids);
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  // A working 3-bit model of a 4096-token vocabulary: finite and far below ln 4096 = 8.3.
  assert.ok(Number.isFinite(mean) && mean < 8, `mean NLL ${mean}`);
  lm.dispose();
});

Deno.test("quantization_config records the method, grid, GPTQ and calibration settings", async () => {
  const { out } = await fullRun();
  const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`)).quantization_config;
  assert.equal(cfg.quant_method, "quantlab");
  assert.equal(cfg.method, "gptq");
  assert.equal(cfg.grid, "higgs:bits=3,p=2");
  assert.equal(cfg.bits, 3);
  assert.equal(cfg.p, 2);
  assert.deepEqual({ ...cfg.gptq, gptq_run: "-" }, {
    damp: 0.01,
    act_order: false,
    block_size: 128,
    static_groups: false,
    sequential: "true",
    gptq_run: "-",
  });
  assert.deepEqual(cfg.calibration, {
    source: "brown-valid-head",
    text_sha256: await sha256(TEXT),
    text_tokens: (await loadCalibration(MODEL, options().calibration)).record.textTokens,
    samples: 4,
    ctx: 64,
    seed: 3,
  });
  assert.equal(cfg.parameters.gptq, true);
});

Deno.test("every projection's output error on the calibration inputs is below data-free's", async () => {
  // Recomputed here, independently of the job's bookkeeping: the inputs of a projection come from
  // the full forward of the model whose earlier projections (earlier layers, earlier groups of its
  // own layer) hold the checkpoint's GPTQ weights; ‖(W − Ŵ)Xᵀ‖² = tr(ΔHΔᵀ)/2.
  const { out, summary } = await fullRun();
  const spec = parseGridSpec(GRID);
  const model = await loadModel(MODEL);
  const dense = await loadModel(MODEL);
  const ck = await QuantizedCheckpoint.open(out);
  const windows = (await loadCalibration(MODEL, options().calibration)).windows;
  try {
    let i = 0;
    for (let l = 0; l < model.numLayers; l++) {
      for (const [group, kinds] of Object.entries(HESSIAN_GROUPS)) {
        const hidden = await Promise.all(
          windows.map((w) => l === 0 ? model.embed(w) : model.forwardLayers(0, l, model.embed(w))),
        );
        const { hessians } = await captureLayerHessians(model, l, hidden);
        const h = hessians[group as keyof typeof hessians].h;
        for (const k of kinds) {
          const name = nameOf(l, k);
          const lin = dense.getLinear(l, k);
          const [rows, cols] = [lin.outFeatures, lin.inFeatures];
          const w = lin.weightF32!();
          const t = await ck.read(name);
          const g = dequantize(t);
          const free = dequantize(
            await getQuantizer(spec.method).quantize(w, rows, cols, spec.opts),
          );
          const eg = hessianError(w, g, h, rows, cols) / 2;
          const ef = hessianError(w, free, h, rows, cols) / 2;
          assert.ok(eg < ef, `${name}: GPTQ ${eg} ≥ data-free ${ef}`);
          // The job's own record of the same numbers (f32 Hessians: 1e-3 relative).
          const s = summary.projections[i++]!;
          assert.equal(s.name, name);
          assert.ok(Math.abs(s.error - eg) <= 1e-3 * eg, `${name}: logged ${s.error} vs ${eg}`);
          assert.ok(Math.abs(s.dataFreeError - ef) <= 1e-3 * ef, `${name}: data-free`);
          model.setLinear(l, k, new DenseLinear(g, rows, cols));
        }
      }
    }
    assert.equal(i, 28);
  } finally {
    ck.close();
  }
});

Deno.test("a killed run resumes at the first unfinished layer and writes the same checkpoint", async () => {
  const { out: ref } = await fullRun();
  const root = await Deno.makeTempDir();
  const out = `${root}/q`;
  try {
    await assert.rejects(
      () =>
        gptqCheckpoint(MODEL, out, {
          ...options(),
          onLayerDone: (l) => {
            if (l === 1) throw new Error("killed");
          },
        }),
      /killed/,
    );
    // Nothing at --out; the finished layers in the work folder beside it.
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["q.quantlab-work"]);
    assert.deepEqual(
      [...Deno.readDirSync(`${out}.quantlab-work/gptq`)].map((e) => e.name).sort(),
      ["layer-0.safetensors", "layer-1.safetensors", "progress.jsonl"],
    );
    // Without --resume the unfinished run is refused; with another calibration too, by name.
    await assert.rejects(
      () => gptqCheckpoint(MODEL, out, options()),
      /the work folder of an unfinished run .* already exists.*--resume/,
    );
    await assert.rejects(
      () => gptqCheckpoint(MODEL, out, { ...options({ seed: 4 }), mode: "resume" }),
      /unfinished GPTQ run of --out .* used other settings: calibration\.seed/,
    );
    // Work saved by the layer-wise order (its key had no "sequential") is not resumed.
    const log = `${out}.quantlab-work/gptq/progress.jsonl`;
    const saved = await Deno.readTextFile(log);
    const [head, ...rest] = saved.split("\n");
    const header = JSON.parse(head!);
    delete header.key.sequential;
    await Deno.writeTextFile(log, [JSON.stringify(header), ...rest].join("\n"));
    await assert.rejects(
      () => gptqCheckpoint(MODEL, out, { ...options(), mode: "resume" }),
      /unfinished GPTQ run of --out .* used other settings: sequential/,
    );
    await Deno.writeTextFile(log, saved);
    const s = await gptqCheckpoint(MODEL, out, { ...options(), mode: "resume" });
    assert.deepEqual(s.layers, { quantized: 2, resumed: 2 });
    // Layers 2 and 3 were calibrated on the states through the layers read back: the same
    // statistics as the uninterrupted run's one pass (layers 0 and 1 come from the work log).
    assert.deepEqual(s.projections, (await fullRun()).summary.projections);
    assert.deepEqual(
      await Deno.readFile(`${out}/model.safetensors`),
      await Deno.readFile(`${ref}/model.safetensors`),
    );
    assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["q"]);
    // --resume of the finished run recognises it; --force redoes it into the same bytes.
    const again = await gptqCheckpoint(MODEL, out, { ...options(), mode: "resume" });
    assert.deepEqual(again.layers, { quantized: 0, resumed: 4 });
    await assert.rejects(
      () => gptqCheckpoint(MODEL, out, { ...options({ seed: 4 }), mode: "resume" }),
      /holds no unfinished run to resume/,
    );
    const forced = await gptqCheckpoint(MODEL, out, { ...options(), mode: "force" });
    assert.deepEqual(forced.layers, { quantized: 4, resumed: 0 });
    assert.deepEqual(
      await Deno.readFile(`${out}/model.safetensors`),
      await Deno.readFile(`${ref}/model.safetensors`),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("bad input is one clear error and nothing is written", async () => {
  const root = await Deno.makeTempDir();
  const out = `${root}/q`;
  const fails = async (
    input: string,
    o: GptqCheckpointOptions,
    code: string,
    re: RegExp,
  ): Promise<void> => {
    await assert.rejects(
      () => gptqCheckpoint(input, out, o),
      (e: Error & { code?: string }) => e.code === code && re.test(e.message),
    );
    assert.deepEqual(
      [await exists(out), await exists(`${out}.quantlab-work`)],
      [false, false],
      `${re}: wrote something`,
    );
  };
  try {
    await fails(
      MODEL,
      options({ ctx: 100000 }),
      "bad-argument",
      /calibration text "brown-valid-head" has \d+ tokens; one window of 100000 needs 100000/,
    );
    await fails(MODEL, options({ samples: 0 }), "bad-argument", /samples 0 is not valid/);
    await Deno.mkdir(`${root}/notok`);
    await Deno.copyFile(`${MODEL}/config.json`, `${root}/notok/config.json`);
    await Deno.symlink(
      `${Deno.cwd()}/${MODEL}/model.safetensors`,
      `${root}/notok/model.safetensors`,
    );
    await fails(`${root}/notok`, options(), "not-found", /has no tokenizer\.json/);
    await fails(
      MODEL,
      { ...options(), grid: parseGridSpec("rtn:bits=3,group=100") },
      "bad-argument",
      /group size 100 does not divide/,
    );
    const { out: quantized } = await fullRun();
    await fails(quantized, options(), "bad-argument", /is already quantized/);
    await fails(`${MODEL}/model.safetensors`, options(), "bad-argument", /needs a model folder/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("cleanup: the shared run's output", async () => {
  if (full) await Deno.remove(`${(await full).out}/..`, { recursive: true });
});
