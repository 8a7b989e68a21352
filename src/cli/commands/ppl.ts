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
  prepareResultsOutput,
  UsageError,
} from "../command.ts";
import { progress } from "../progress.ts";
import { readTextArg, TEXT_CORPORA, textInput } from "../text_source.ts";
import {
  loadCausalLM,
  loadTokenizer,
  resolveHalfWeights,
  WEIGHTS_CHOICES,
} from "../../model/loader.ts";
import { modelHash } from "../../io/model_folder.ts";
import { runPerplexityJob } from "../../jobs/ppl.ts";
import { LUT_NUMERICS, setLutNumerics } from "../../lut/cpu.ts";
import { stridedWindows } from "../../eval/perplexity.ts";
import { sha256 } from "../../io/results.ts";
import { JSON_FLAG, outFlag, outputModeFlags, QUIET_FLAG, WEIGHTS_FLAG } from "../vocabulary.ts";
import { printJson } from "../json_output.ts";
import { warn, warnCtx } from "../warn.ts";
import { plural, textWarnings } from "../text_check.ts";

/** The `ppl` command. */
export const pplCommand: Command = {
  name: "ppl",
  summary: "perplexity of a Llama-family model folder on a text file (HF strided windows)",
  usage: "quantlab ppl MODEL --text FILE [--ctx 512] [--stride 512] [--windows N | " +
    "--max-tokens N] [--out results.json [--force | --resume]] [--json]",
  examples: [
    "quantlab ppl assets/tiny-llama --text brown:test --windows 2 --ctx 128",
    "quantlab ppl /tmp/ql-higgs -t brown:test --windows 2 --ctx 128 --json",
  ],
  flags: {
    text: {
      type: "string",
      short: "t",
      help: `UTF-8 text file to evaluate, or ${TEXT_CORPORA} (embedded corpora)`,
    },
    ctx: { type: "string", default: "512", help: "window length in tokens" },
    stride: { type: "string", help: "window step in tokens (default: ctx)" },
    windows: { type: "string", help: "evaluate only the first N windows (default: all)" },
    "max-tokens": { type: "string", help: "evaluate only the first N tokens (default: all)" },
    ...outFlag("results JSON (written atomically; enables resume)"),
    log: { type: "string", help: "window log for resuming (default: <out>.windows.jsonl)" },
    ...outputModeFlags({ resumable: true }),
    ...WEIGHTS_FLAG,
    ...QUIET_FLAG,
    ...JSON_FLAG,
    kernel: { type: "string", default: "exact", help: "CPU LUT kernels: exact | fast (8-bit)" },
  },
  inputs: (args) => [{ path: args.positionals[0], what: "MODEL" }, textInput(args)],
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("ppl needs exactly one MODEL folder; see quantlab ppl --help");
    }
    const textPath = args.values.text;
    if (typeof textPath !== "string") throw new UsageError("--text FILE is required");
    const backend = await commandBackend(pplCommand, args);
    setLutNumerics(choiceFlag(args, "kernel", LUT_NUMERICS));
    const weights = choiceFlag(args, "weights", WEIGHTS_CHOICES);
    const ctx = intFlag(args, "ctx", 512, 2, 1 << 20);
    const stride = intFlag(args, "stride", ctx, 1, ctx);
    let maxTokens = args.values["max-tokens"] === undefined
      ? null
      : intFlag(args, "max-tokens", 0, 2, 2 ** 31);
    if (args.values.windows !== undefined) {
      const w = intFlag(args, "windows", 1, 1, 2 ** 31);
      const need = (w - 1) * stride + ctx;
      maxTokens = maxTokens === null ? need : Math.min(maxTokens, need);
    }
    const { out, log } = outAndLog(args, ".windows.jsonl");
    await prepareResultsOutput(args, out, log);
    const quiet = Boolean(args.values.quiet);

    const bytes = await readTextArg(textPath);
    for (const w of textWarnings(bytes, textPath)) warn("ppl", w);
    const text = new TextDecoder().decode(bytes);
    const tok = await loadTokenizer(dir);
    const all = tok.encode(text);
    const ids = maxTokens === null ? all : all.slice(0, maxTokens);
    if (ids.length < 2) {
      throw new UsageError(
        `${textPath} gives ${plural(ids.length, "token")}` +
          (ids.length < all.length ? ` within --max-tokens/--windows` : "") +
          "; perplexity needs at least 2: give a longer text",
      );
    }
    const bos = tok.describeSpecials();
    // Hashing reads every byte of the weights: only for a run that writes or resumes.
    const hash = out || log ? await modelHash(dir) : "not computed (no --out)";
    const { halfWeights } = await resolveHalfWeights(dir, weights);
    const model = await loadCausalLM(dir, backend, { halfWeights });
    try {
      const c = model.config;
      warnCtx("ppl", ctx, c.maxPositionEmbeddings);
      const windowCount = stridedWindows(ids.length, ctx, stride).length;
      const bar = progress("ppl", windowCount, { quiet });
      let last = 0;
      const enc = new TextEncoder();
      const r = await runPerplexityJob({
        model,
        ids,
        key: {
          modelHash: hash,
          textSha256: await sha256(bytes),
          ctx,
          stride,
          tokens: ids.length,
          backend: model.backend,
          kernel: String(args.values.kernel),
        },
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
      if (args.values.json) {
        printJson("ppl", {
          model: { path: dir, architecture: c.architecture, backend: model.backend },
          text: {
            path: textPath,
            bytes: bytes.length,
            totalTokens: all.length,
            evaluatedTokens: ids.length,
          },
          ctx,
          stride,
          windows: x.windowCount,
          bos,
          perplexity: x.ppl,
          perplexitySe: x.pplSe,
          meanNll: x.meanNll,
          meanNllSe: x.meanNllSe,
          scoredTokens: x.scoredTokens,
          bitsPerByte: r.bitsPerByte,
          scoredBytes: r.scoredBytes ?? 0,
          tokensPerSecond: x.tokensPerSecond,
          resumedWindows: r.resumedWindows ?? 0,
          out: out ?? null,
        });
        return;
      }
      const pm = (v: number | null, digits: number): string =>
        v === null ? "" : ` ± ${v.toFixed(digits)}`;
      console.log(`model        ${dir} (${c.architecture}, ${model.backend})`);
      console.log(
        `text         ${textPath}: ${ids.length} of ${all.length} tokens evaluated, ctx ${ctx}` +
          `${ctx > c.maxPositionEmbeddings ? " (beyond max_position_embeddings)" : ""}, ` +
          `stride ${stride}`,
      );
      console.log(`BOS          ${bos}, once at the start of the text`);
      console.log(`perplexity   ${x.ppl.toFixed(4)}${pm(x.pplSe, 4)}`);
      console.log(`mean NLL     ${x.meanNll.toFixed(6)}${pm(x.meanNllSe, 6)} nats`);
      console.log(
        `scored       ${plural(x.scoredTokens, "token")} in ${plural(x.windowCount, "window")}`,
      );
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
