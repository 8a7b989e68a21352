/**
 * The models this project trains and embeds in `assets/`, so that every experiment runs on a
 * fresh machine with no model hub — and, since a result on one model is a hypothesis, on two
 * models that differ where it matters (size, attention, tied head, data, seed).
 *
 * @module
 */
import { type LlamaConfig, llamaConfig, TINY_LLAMA_SHAPE } from "../model/config.ts";

/** One embedded model. */
export interface EmbeddedModel {
  /** Its folder name under `assets/` (what `--model assets/NAME` takes). */
  name: string;
  /** The folder (a Hugging Face model folder with `training.json` and `eval_record.json`). */
  url: URL;
  /** The configuration it was trained with (its `config.json` must match). */
  config: LlamaConfig;
  /** The corpora it was trained on (`quantlab train --data`). */
  data: readonly string[];
}

/** The default model: the one the demo and the README use. */
export const TINY_LLAMA: EmbeddedModel = {
  name: "tiny-llama",
  url: new URL("../../assets/tiny-llama/", import.meta.url),
  config: llamaConfig({ ...TINY_LLAMA_SHAPE, tieWordEmbeddings: true }),
  data: ["brown"],
};

/**
 * The second model, different where it matters: about 3× larger (13.1 M parameters), grouped-query
 * attention (8 query heads, 2 key/value heads), an untied LM head, another seed, and trained on
 * Brown plus the State of the Union addresses.
 */
export const SMALL_LLAMA: EmbeddedModel = {
  name: "small-llama",
  url: new URL("../../assets/small-llama/", import.meta.url),
  config: llamaConfig({
    hiddenSize: 512,
    numLayers: 4,
    numHeads: 8,
    numKvHeads: 2,
    intermediateSize: 1024,
    vocabSize: 4096,
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: false,
  }),
  data: ["brown", "sotu"],
};

/**
 * Every embedded model, the default first.
 *
 * @example
 * ```ts
 * import { EMBEDDED_MODELS } from "./embedded_models.ts";
 * if (EMBEDDED_MODELS[0]!.name !== "tiny-llama") throw new Error();
 * ```
 */
export const EMBEDDED_MODELS: readonly EmbeddedModel[] = [TINY_LLAMA, SMALL_LLAMA];
