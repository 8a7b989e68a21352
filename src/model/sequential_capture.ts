/**
 * Calibration capture in "true sequential" order (AutoGPTQ's `true_sequential`): one decoder
 * layer of the CPU model ({@linkcode LlamaModel}) runs once over all calibration windows, stage by
 * stage, and stops before each projection group (`HESSIAN_GROUPS`: q/k/v, o, gate/up, down) once
 * the group's H = 2XᵀX over every window is in hand. A hook then may replace the group's
 * projections (GPTQ puts in the quantized ones), and the stage after it reads the new ones:
 *
 * 1. q/k/v: H of the input-normed states;
 * 2. o: attention of the (replaced) q, k, v → o_proj's input;
 * 3. gate/up: residual add of the (replaced) o_proj's output, post-attention norm;
 * 4. down: SwiGLU of the (replaced) gate and up;
 * 5. the (replaced) down_proj and the residual add give the layer's outputs.
 *
 * So one pass both calibrates the layer and gives the next layer's inputs through the replaced
 * layer — with hooks that change nothing, the outputs equal `forwardLayers` bit for bit (the same
 * ops, in the same order, on each window). Between stages the windows' attention outputs, normed
 * states and SwiGLU outputs are kept (for the 1B shape and 128 × 256 tokens: 0.27, 0.27 and 1.1
 * GB, one set at a time) so no projection runs twice.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { layerWindow } from "./config.ts";
import { checkCaptureArgs, HessianAccumulator, type HessianGroup } from "./hessian_capture.ts";
import type { LlamaModel } from "./llama.ts";
import { addRmsNorm, attention, rmsNorm, swiglu } from "./ops.ts";
import { wasmF32Arrays } from "./ops_wasm.ts";
import { applyRope, RopeTable } from "./rope.ts";
import type { LinearKind } from "./types.ts";

/**
 * Called when a group's Hessian is complete, before its projections run on the windows: it may
 * replace them (`model.setLinear`).
 */
export type GroupHook = (group: HessianGroup, hessian: HessianAccumulator) => Promise<void> | void;

/**
 * Runs layer `layer` of `model` on the hidden states entering it (one `[T, d]` array per
 * calibration window; not modified) in true sequential order (see the module doc), calling
 * `hook` once per projection group, and returns the layer's outputs (the next layer's inputs).
 *
 * @example
 * ```ts
 * import { forwardLayerSequential } from "./sequential_capture.ts";
 * import { LlamaModel } from "./llama.ts";
 * import { llamaConfig } from "./config.ts";
 * import { randomLlamaWeights } from "./random.ts";
 * const c = llamaConfig({ numLayers: 1 });
 * const m = LlamaModel.fromWeights(c, randomLlamaWeights(c, 1));
 * const h = m.embed([1, 2, 3, 4]);
 * const rows: string[] = [];
 * const out = await forwardLayerSequential(m, 0, [h], (g, acc) => {
 *   rows.push(`${g}:${acc.rows}`);
 * });
 * const ref = await m.forwardLayers(0, 1, h);
 * if (rows.join() !== "qkv:4,o:4,gateUp:4,down:4" || out[0]!.join() !== ref.join()) throw new Error();
 * ```
 */
export async function forwardLayerSequential(
  model: LlamaModel,
  layer: number,
  hidden: readonly Float32Array[],
  hook: GroupHook,
): Promise<Float32Array[]> {
  const c = model.config;
  checkCaptureArgs(model, layer, hidden);
  const d = c.hiddenSize, H = c.numHeads, KvH = c.numKvHeads, hd = c.headDim;
  const qDim = H * hd, kvDim = KvH * hd, I = c.intermediateSize, eps = c.rmsNormEps;
  const rowsOf = hidden.map((h, w) => {
    if (h.length === 0 || h.length % d !== 0) {
      throw new QuantlabError(
        "bad-shape",
        `Window ${w} holds ${h.length} values; expected a positive multiple of d = ${d}`,
      );
    }
    return h.length / d;
  });
  const lin = (kind: LinearKind) => model.getLinear(layer, kind);
  const { inputNorm, postNorm } = model.norms(layer);
  const x = hidden.map((h) => h.slice());

  // 1. q, k, v: the input-normed states (recomputed in stage 2: a norm costs little).
  let acc = new HessianAccumulator(d);
  for (let w = 0; w < x.length; w++) {
    acc.add(rmsNorm(x[w]!, inputNorm, rowsOf[w]!, d, eps), rowsOf[w]!);
  }
  await hook("qkv", acc);

  // 2. o: the attention of this layer's q, k, v.
  const rope = new RopeTable(c);
  const att: (Float32Array | null)[] = [];
  acc = new HessianAccumulator(qDim);
  for (let w = 0; w < x.length; w++) {
    const T = rowsOf[w]!;
    const xn = rmsNorm(x[w]!, inputNorm, T, d, eps);
    const q = await lin("q_proj").forward(xn, T, new Float32Array(T * qDim));
    const k = await lin("k_proj").forward(xn, T, new Float32Array(T * kvDim));
    const v = await lin("v_proj").forward(xn, T, new Float32Array(T * kvDim));
    applyRope(q, T, H, hd, 0, rope);
    applyRope(k, T, KvH, hd, 0, rope);
    const shape = {
      T,
      pos0: 0,
      heads: H,
      kvHeads: KvH,
      headDim: hd,
      window: layerWindow(c, layer),
    };
    const a = attention(q, k, v, shape, new Float32Array(T * qDim));
    acc.add(a, T);
    att.push(a);
  }
  await hook("o", acc);

  // 3. gate, up: the residual add of o_proj's output, then the post-attention norm.
  const normed: (Float32Array | null)[] = [];
  acc = new HessianAccumulator(d);
  for (let w = 0; w < x.length; w++) {
    const T = rowsOf[w]!;
    const o = await lin("o_proj").forward(att[w]!, T, new Float32Array(T * d));
    att[w] = null;
    const xn = addRmsNorm(x[w]!, o, postNorm, T, d, eps);
    acc.add(xn, T);
    normed.push(xn);
  }
  await hook("gateUp", acc);

  // 4. down: SwiGLU of gate and up. Its operands live in WebAssembly memory, as in the forward
  // (the SIMD kernel runs there), so the result is the forward's bit for bit.
  const most = Math.max(...rowsOf) * I;
  const [gate, up] = wasmF32Arrays([most, most]) ??
    [new Float32Array(most), new Float32Array(most)];
  const act: (Float32Array | null)[] = [];
  acc = new HessianAccumulator(I);
  for (let w = 0; w < x.length; w++) {
    const T = rowsOf[w]!;
    const g = gate!.subarray(0, T * I), u = up!.subarray(0, T * I);
    await lin("gate_proj").forward(normed[w]!, T, g);
    await lin("up_proj").forward(normed[w]!, T, u);
    normed[w] = null;
    swiglu(g, u, T * I);
    acc.add(g, T);
    act.push(g.slice());
  }
  await hook("down", acc);

  // 5. down_proj and the residual add: the layer's outputs.
  for (let w = 0; w < x.length; w++) {
    const T = rowsOf[w]!, xw = x[w]!;
    const o = await lin("down_proj").forward(act[w]!, T, new Float32Array(T * d));
    act[w] = null;
    for (let i = 0; i < T * d; i++) xw[i] = xw[i]! + o[i]!;
  }
  return x;
}
