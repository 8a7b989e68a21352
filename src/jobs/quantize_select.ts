/**
 * Which tensors a quantize run quantizes (`quantize_checkpoint.ts`): an explicit list, or every
 * 2-D float tensor but what the model family keeps dense, and the checks on that choice that run
 * before anything is read or written.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { type DType, numel } from "../core/tensor.ts";
import {
  architectureOf,
  GENERIC_DENSE_TENSORS,
  type ModelFamily,
  modelFamily,
} from "../model/family.ts";
import type { QuantOptions } from "../quant/quantizer.ts";
import { q } from "../io/paths.ts";

const FLOAT_DTYPES: readonly DType[] = ["F32", "F16", "BF16", "F64"];

/**
 * Which tensors a run quantizes: an explicit list, or every 2-D float tensor except (for a
 * checkpoint folder) embeddings and, unless `includeLmHead`, the lm_head.
 *
 * @example
 * ```ts
 * import { selectTensors } from "./quantize_select.ts";
 * const s = selectTensors([
 *   ["model.embed_tokens.weight", "BF16", [10, 4]], ["model.layers.0.mlp.up_proj.weight", "BF16", [8, 4]],
 *   ["model.norm.weight", "BF16", [4]], ["lm_head.weight", "BF16", [10, 4]],
 * ], { folder: true });
 * if ([...s].join() !== "model.layers.0.mlp.up_proj.weight") throw new Error();
 * ```
 */
export function selectTensors(
  infos: readonly (readonly [string, DType, readonly number[]])[],
  opts: {
    folder: boolean;
    includeLmHead?: boolean;
    tensors?: readonly string[];
    /** What a folder keeps dense (default: the names of every common layout). */
    dense?: ModelFamily["denseByDefault"];
  },
): Set<string> {
  const dense = opts.dense ?? GENERIC_DENSE_TENSORS;
  const byName = new Map(infos.map(([n, d, s]) => [n, { dtype: d, shape: s }]));
  if (opts.tensors && opts.tensors.length > 0) {
    for (const n of opts.tensors) {
      const i = byName.get(n);
      if (!i) {
        throw new QuantlabError(
          "not-found",
          `Tensor ${q(n)} is not in the checkpoint; it holds ${byName.size} tensors ` +
            `(${[...byName.keys()].slice(0, 5).map(q).join(", ")}…)`,
        );
      }
      if (i.shape.length !== 2 || !FLOAT_DTYPES.includes(i.dtype)) {
        throw new QuantlabError(
          "bad-argument",
          `Tensor ${q(n)} is ${i.dtype} [${
            i.shape.join(", ")
          }]; only 2-D float tensors can be quantized`,
        );
      }
    }
    return new Set(opts.tensors);
  }
  const out = new Set<string>();
  for (const [n, dtype, shape] of infos) {
    if (shape.length !== 2 || !FLOAT_DTYPES.includes(dtype) || numel(shape) === 0) continue;
    if (opts.folder && dense.embedding.test(n)) continue;
    if (opts.folder && !opts.includeLmHead && dense.lmHead.test(n)) continue;
    out.add(n);
  }
  return out;
}

/** What a checkpoint folder keeps dense: its model family's names, else every common layout's. */
export function denseTensorsOf(config: Record<string, unknown>): ModelFamily["denseByDefault"] {
  const arch = architectureOf(config);
  return arch ? modelFamily(arch).denseByDefault : GENERIC_DENSE_TENSORS;
}

/**
 * Checks the chosen tensors before any work: no quantized name collides with a tensor of the
 * checkpoint, every per-tensor option names a chosen tensor, and something is chosen.
 */
export function checkSelection(
  selected: ReadonlySet<string>,
  all: readonly (readonly [string, DType, readonly number[]])[],
  perTensor: Readonly<Record<string, QuantOptions>>,
  inputPath: string,
  inputIsDir: boolean,
): void {
  const allNames = new Set(all.map(([n]) => n));
  for (const n of selected) {
    for (const suffix of [".codes", ".table", ".scales", ".zeros"]) {
      if (allNames.has(n + suffix)) {
        throw new QuantlabError(
          "bad-argument",
          `Cannot quantize ${q(n)}: the checkpoint already holds ${q(n + suffix)}`,
        );
      }
    }
  }
  for (const n of Object.keys(perTensor)) {
    if (!selected.has(n)) {
      throw new QuantlabError(
        "bad-argument",
        `Per-tensor options name ${q(n)}, which this run does not quantize (a 2-D float ` +
          "weight of the checkpoint is needed)",
      );
    }
  }
  if (selected.size === 0) {
    throw new QuantlabError(
      "bad-file",
      `${q(inputPath)} holds no tensor to quantize (a 2-D float weight` +
        (inputIsDir ? ", not an embedding or lm_head" : "") + "); nothing was written",
    );
  }
}
