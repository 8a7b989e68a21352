/**
 * Whole-checkpoint decoding jobs: {@linkcode dequantizeCheckpoint} (the f32 Ŵ of every quantized
 * tensor, to one safetensors file) and {@linkcode checkpointError} (relative error and bits per
 * weight against the original checkpoint).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { Tensor } from "../core/tensor.ts";
import { toSharedF32 } from "../core/dtype.ts";
import { type ProgressFactory, silentProgress } from "../core/progress.ts";
import { dequantizeParallel } from "../quant/dequantize.ts";
import { type TensorError, tensorError } from "../quant/error_metrics.ts";
import { QuantizedCheckpoint } from "../io/quantized_checkpoint.ts";
import { q } from "../io/paths.ts";
import { pathExists } from "../io/atomic.ts";
import { refuseExistingOutputs } from "../io/output_guard.ts";
import { SafetensorsWriter } from "../io/safetensors.ts";
import type { TensorSpec } from "../io/safetensors_format.ts";
import { openCheckpoint } from "../io/sharded.ts";

/**
 * Writes the f32 reconstruction Ŵ of every quantized tensor of `quant` under its original name,
 * plus the plain tensors as stored (`tensors` restricts the output to those names), to one
 * safetensors file, atomically and one tensor at a time.
 *
 * @example
 * ```ts
 * import { dequantizeCheckpoint } from "./checkpoint_error.ts";
 * import { quantizeCheckpoint } from "./quantize_checkpoint.ts";
 * import { SafetensorsFile, writeSafetensors } from "../io/safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * const dir = await Deno.makeTempDir();
 * const w = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.cos(i));
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([4, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { hadamard: 64 },
 * });
 * await dequantizeCheckpoint(`${dir}/q.safetensors`, `${dir}/d.safetensors`);
 * const f = await SafetensorsFile.open(`${dir}/d.safetensors`);
 * const shape = f.info("w").shape;
 * f.close();
 * await Deno.remove(dir, { recursive: true });
 * if (shape.join() !== "4,64") throw new Error();
 * ```
 */
export async function dequantizeCheckpoint(
  quant: string,
  out: string,
  opts: {
    tensors?: readonly string[];
    progress?: ProgressFactory;
    /** "new" (default): `out` must not exist; "force": replace it (atomically, when done). */
    mode?: "new" | "force";
  } = {},
): Promise<{ tensors: number; seconds: number }> {
  const t0 = performance.now();
  const ck = await QuantizedCheckpoint.open(quant);
  try {
    if (await pathExists(out)) {
      const target = await Deno.realPath(out);
      for (const f of ck.files) {
        if ((await Deno.realPath(f)) === target) {
          throw new QuantlabError(
            "bad-argument",
            `--out ${q(out)} is a file of the input checkpoint ${q(quant)}; dequantize would ` +
              "overwrite what it reads: choose another --out",
          );
        }
      }
      if ((await Deno.stat(out)).isDirectory) {
        throw new QuantlabError(
          "bad-argument",
          `--out ${q(out)} is a folder; dequantize writes one .safetensors file: give a file path`,
        );
      }
    }
    await refuseExistingOutputs([{ path: out, what: "--out" }], opts.mode ?? "new", {
      resumable: false,
    });
    const want = opts.tensors && opts.tensors.length > 0 ? new Set(opts.tensors) : null;
    for (const n of want ?? []) {
      if (!ck.quantizedNames.includes(n) && !ck.otherNames.includes(n)) {
        throw new QuantlabError("not-found", `Checkpoint ${q(quant)} has no tensor ${q(n)}`);
      }
    }
    const qnames = ck.quantizedNames.filter((n) => !want || want.has(n));
    const onames = ck.otherNames.filter((n) => !want || want.has(n));
    const specs: TensorSpec[] = [
      ...qnames.map((n) => ({ name: n, dtype: "F32" as const, shape: ck.descriptor(n).shape })),
      ...onames.map((n) => ({ name: n, ...ck.otherInfo(n) })),
    ];
    const bar = (opts.progress ?? silentProgress)("dequantize", specs.length);
    const writer = await SafetensorsWriter.create(out, specs, { format: "pt" });
    try {
      for (const n of qnames) {
        const qt = await ck.read(n);
        await writer.write(n, new Tensor(qt.shape, "F32", await dequantizeParallel(qt)));
        bar.tick(1, n);
      }
      for (const n of onames) {
        await writer.write(n, await ck.readOther(n));
        bar.tick(1, n);
      }
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    bar.done();
    return { tensors: specs.length, seconds: (performance.now() - t0) / 1000 };
  } finally {
    ck.close();
  }
}

/**
 * Relative error ‖W − Ŵ‖²/‖W‖² and bits per weight of every quantized tensor of `quant`
 * against the original checkpoint (folder or file) `orig`.
 *
 * @example
 * ```ts
 * import { checkpointError } from "./checkpoint_error.ts";
 * import { quantizeCheckpoint } from "./quantize_checkpoint.ts";
 * import { writeSafetensors } from "../io/safetensors.ts";
 * import { Tensor } from "../core/tensor.ts";
 * import { fillNormal } from "../core/prng.ts";
 * const dir = await Deno.makeTempDir();
 * const w = fillNormal(new Float32Array(4 * 64), 1);
 * await writeSafetensors(`${dir}/w.safetensors`, { w: Tensor.f32([4, 64], w) });
 * await quantizeCheckpoint(`${dir}/w.safetensors`, `${dir}/q.safetensors`, {
 *   options: { hadamard: 64 },
 * });
 * const errs = await checkpointError(`${dir}/w.safetensors`, `${dir}/q.safetensors`);
 * await Deno.remove(dir, { recursive: true });
 * if (!(errs[0]!.relMse < 0.05)) throw new Error();
 * ```
 */
export async function checkpointError(
  orig: string,
  quant: string,
  opts: { tensors?: readonly string[]; progress?: ProgressFactory } = {},
): Promise<TensorError[]> {
  const ck = await QuantizedCheckpoint.open(quant);
  const src = await openCheckpoint(orig);
  try {
    const want = opts.tensors && opts.tensors.length > 0 ? new Set(opts.tensors) : null;
    const names = ck.quantizedNames.filter((n) => !want || want.has(n));
    for (const n of want ?? []) {
      if (!ck.quantizedNames.includes(n)) {
        throw new QuantlabError(
          "not-found",
          `Checkpoint ${q(quant)} has no quantized tensor ${q(n)}`,
        );
      }
    }
    const bar = (opts.progress ?? silentProgress)("error", names.length);
    const out: TensorError[] = [];
    for (const n of names) {
      const t = await src.read(n);
      const qt = await ck.read(n);
      const [rows, cols] = qt.shape;
      if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== cols) {
        throw new QuantlabError(
          "bad-shape",
          `Tensor ${q(n)} is [${t.shape.join(", ")}] in ${q(orig)} but [${rows}, ${cols}] in ${
            q(quant)
          }`,
        );
      }
      out.push(tensorError(n, toSharedF32(t), qt, await dequantizeParallel(qt)));
      bar.tick(1, n);
    }
    bar.done();
    return out;
  } finally {
    ck.close();
    src.close();
  }
}
