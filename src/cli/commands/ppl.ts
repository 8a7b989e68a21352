/**
 * `quantlab ppl MODEL --text FILE`: Hugging Face strided perplexity of a Llama-family folder
 * (dense or quantized) on a text file. The whole text is tokenized once with the tokenizer's own
 * post-processor (so a BOS token, if the tokenizer adds one, starts the text, not each window;
 * the output says which). Prints PPL ± SE, mean NLL, scored tokens, bits per byte and tokens/s;
 * with `--out` writes versioned JSON atomically (with per-window NLL sums for paired
 * comparisons) and logs each window to `<out>.windows.jsonl`, from which a killed run resumes.
 *
 * @module
 */
import {
  choiceFlag,
  type Command,
  commandBackend,
  intFlag,
  outAndLog,
  UsageError,
} from "../command.ts";
import { progress } from "../progress.ts";
import { readTextArg } from "../text_source.ts";
import { loadCausalLM, loadTokenizer } from "../../model/loader.ts";
import { modelHash } from "../../io/model_folder.ts";
import { runPerplexityJob } from "../../jobs/ppl.ts";
import { LUT_NUMERICS, setLutNumerics } from "../../lut/cpu.ts";
import { stridedWindows } from "../../eval/perplexity.ts";
import { sha256 } from "../../io/results.ts";

/** The `ppl` command. */
export const pplCommand: Command = {
  name: "ppl",
  summary: "perplexity of a Llama-family model folder on a text file (HF strided windows)",
  usage: "quantlab ppl MODEL --text FILE [--ctx 512] [--stride 512] [--max-tokens N] " +
    "[--out results.json]",
  flags: {
    text: {
      type: "string",
      short: "t",
      help: "UTF-8 text file to evaluate, or brown:train|valid|test (embedded corpus)",
    },
    ctx: { type: "string", default: "512", help: "window length in tokens" },
    stride: { type: "string", help: "window step in tokens (default: ctx)" },
    "max-tokens": { type: "string", help: "evaluate only the first N tokens" },
    out: { type: "string", short: "o", help: "results JSON (written atomically; enables resume)" },
    log: { type: "string", help: "window log for resuming (default: <out>.windows.jsonl)" },
    quiet: { type: "boolean", help: "no progress bar" },
    kernel: { type: "string", default: "exact", help: "CPU LUT kernels: exact | fast (8-bit)" },
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("ppl needs exactly one MODEL folder; see quantlab ppl --help");
    }
    const textPath = args.values.text;
    if (typeof textPath !== "string") throw new UsageError("--text FILE is required");
    const backend = await commandBackend(pplCommand, args);
    setLutNumerics(choiceFlag(args, "kernel", LUT_NUMERICS));
    const ctx = intFlag(args, "ctx", 512, 2, 1 << 20);
    const stride = intFlag(args, "stride", ctx, 1, ctx);
    const maxTokens = args.values["max-tokens"] === undefined
      ? null
      : intFlag(args, "max-tokens", 0, 2, 2 ** 31);
    const { out, log } = outAndLog(args, ".windows.jsonl");
    const quiet = Boolean(args.values.quiet);

    const bytes = await readTextArg(textPath);
    const text = new TextDecoder().decode(bytes);
    const tok = await loadTokenizer(dir);
    const all = tok.encode(text);
    const ids = maxTokens === null ? all : all.slice(0, maxTokens);
    if (ids.length < 2) {
      throw new UsageError(`The text has ${ids.length} tokens; perplexity needs at least 2`);
    }
    const bos = tok.describeSpecials();
    const hash = await modelHash(dir);
    const model = await loadCausalLM(dir, backend);
    try {
      const c = model.config;
      const bar = progress("ppl", stridedWindows(ids.length, ctx, stride).length, { quiet });
      let last = 0;
      const enc = new TextEncoder();
      const r = await runPerplexityJob({
        model,
        ids,
        key: { modelHash: hash, textSha256: await sha256(bytes), ctx, stride, tokens: ids.length },
        ...(log ? { logPath: log } : {}),
        ...(out ? { outPath: out } : {}),
        bytesOf: (t) =>
          enc.encode(tok.decode(t, { skipSpecialTokens: true, cleanUpSpaces: false })).length,
        backend: model.backend,
        config: {
          modelPath: dir,
          textPath,
          maxTokens,
          backend: model.backend,
          bos: `${bos}; the text is tokenized once, so special tokens appear only where the ` +
            "post-processor puts them (not per window)",
        },
        modelInfo: {
          architecture: c.architecture,
          numLayers: c.numLayers,
          hiddenSize: c.hiddenSize,
          vocabSize: c.vocabSize,
          quantization: c.quantization ? String(c.quantization.quant_method ?? "unknown") : null,
        },
        textInfo: { bytes: bytes.length, totalTokens: all.length, evaluatedTokens: ids.length },
        onProgress: (done) => {
          bar.tick(done - last);
          last = done;
        },
      });
      bar.done();
      const x = r.run;
      const pm = (v: number | null, digits: number): string =>
        v === null ? "" : ` ± ${v.toFixed(digits)}`;
      console.log(`model        ${dir} (${c.architecture}, ${model.backend})`);
      console.log(`text         ${textPath}: ${ids.length} tokens, ctx ${ctx}, stride ${stride}`);
      console.log(`BOS          ${bos}, once at the start of the text`);
      console.log(`perplexity   ${x.ppl.toFixed(4)}${pm(x.pplSe, 4)}`);
      console.log(`mean NLL     ${x.meanNll.toFixed(6)}${pm(x.meanNllSe, 6)} nats`);
      console.log(`scored       ${x.scoredTokens} tokens in ${x.windowCount} windows`);
      console.log(
        `bits/byte    ${r.bitsPerByte === null ? "n/a" : r.bitsPerByte.toFixed(4)} ` +
          `(${r.scoredBytes ?? 0} scored bytes)`,
      );
      console.log(
        `speed        ${x.tokensPerSecond.toFixed(1)} tok/s` +
          (r.resumedWindows ? ` (${r.resumedWindows} windows resumed from ${log})` : ""),
      );
      if (out) console.log(`results      ${out}`);
    } finally {
      model.dispose();
    }
  },
};
