/**
 * `quantlab generate MODEL --prompt "…"`: text generation from a Hugging Face Llama-family folder
 * (dense or quantized), greedy or temperature/top-p sampling with a seed; the prompt is echoed
 * (dimmed on a terminal) and the new tokens streamed to stdout as they decode; on stderr, the
 * speed (prefill and decode tokens/s; prefill "n/a" for a prompt too short to time) and why it
 * stopped (EOS, --max-tokens, the context length). `--json` prints one object instead.
 *
 * @module
 */
import {
  choiceFlag,
  type Command,
  commandBackend,
  intFlag,
  numberFlag,
  UsageError,
} from "../command.ts";
import { LUT_NUMERICS, setLutNumerics } from "../../lut/cpu.ts";
import { generate } from "../../model/generate.ts";
import {
  loadCausalLM,
  loadTokenizer,
  resolveHalfWeights,
  WEIGHTS_CHOICES,
} from "../../model/loader.ts";
import { StreamDecoder } from "../../model/tokenizer.ts";
import { JSON_FLAG, QUIET_FLAG, WEIGHTS_FLAG } from "../vocabulary.ts";
import { printJson } from "../json_output.ts";
import { warn } from "../warn.ts";
import { plural } from "../text_check.ts";

/** Where streamed text goes (stdout; tests replace `write`). */
export const generateOutput: { write: (text: string) => void } = {
  write: (text: string) => {
    Deno.stdout.writeSync(new TextEncoder().encode(text));
  },
};

/** Prompts shorter than this give no prefill speed: the figure would be a warm-up time. */
export const MIN_TIMED_PROMPT = 16;

/** Why generation stopped, in words: EOS, max tokens, or the context length. */
function stopWords(
  reason: "stop-token" | "length",
  generated: number,
  maxNewTokens: number,
  ctx: number,
): { key: "eos" | "max-tokens" | "context-length"; text: string } {
  if (reason === "stop-token") return { key: "eos", text: "end-of-sequence token" };
  if (generated >= maxNewTokens) return { key: "max-tokens", text: `--max-tokens ${maxNewTokens}` };
  return { key: "context-length", text: `context length ${ctx}` };
}

/** The `generate` command. */
export const generateCommand: Command = {
  name: "generate",
  summary: "generate text from a Llama-family model folder (greedy or sampled)",
  usage: 'quantlab generate MODEL --prompt "…" [--max-tokens 64] [--temperature 0] [--top-p 1] ' +
    "[--seed 0] [--ctx N] [--json]",
  examples: [
    'quantlab generate assets/tiny-llama --prompt "The jury said that" --max-tokens 8',
    'quantlab generate /tmp/ql-higgs --prompt "The jury said that" --max-tokens 8 --temperature 0.8 --seed 3',
    'quantlab generate assets/tiny-llama --prompt "It was" --max-tokens 4 --json',
  ],
  // -p was --prompt before --p became the grid dimension everywhere; it still works here.
  aliases: { "-p": "prompt" },
  flags: {
    prompt: { type: "string", help: "the prompt text" },
    "max-tokens": { type: "string", default: "64", help: "most new tokens" },
    temperature: { type: "string", default: "0", help: "0 = greedy; else sampling temperature" },
    "top-p": { type: "string", default: "1", help: "nucleus sampling mass (0, 1]" },
    seed: { type: "string", default: "0", help: "sampling seed (project PRNG)" },
    ctx: {
      type: "string",
      help: "most tokens, prompt included (default: the model's max_position_embeddings)",
    },
    "ignore-eos": { type: "boolean", help: "do not stop at end-of-sequence tokens" },
    kernel: { type: "string", default: "exact", help: "CPU LUT kernels: exact | fast (8-bit)" },
    ...WEIGHTS_FLAG,
    ...QUIET_FLAG,
    ...JSON_FLAG,
  },
  inputs: (args) => [{ path: args.positionals[0], what: "MODEL" }],
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("generate needs exactly one MODEL folder; see quantlab generate --help");
    }
    const prompt = args.values.prompt;
    if (typeof prompt !== "string") throw new UsageError("--prompt is required");
    const backend = await commandBackend(generateCommand, args);
    setLutNumerics(choiceFlag(args, "kernel", LUT_NUMERICS));
    const weights = choiceFlag(args, "weights", WEIGHTS_CHOICES);
    const maxNewTokens = intFlag(args, "max-tokens", 64, 0, 1 << 20);
    const temperature = numberFlag(args, "temperature", 0, 0, 100);
    const topP = numberFlag(args, "top-p", 1, 1e-9, 1);
    const seed = intFlag(args, "seed", 0, 0, 0xffffffff);
    const json = Boolean(args.values.json);
    const quiet = Boolean(args.values.quiet) || json;

    const tok = await loadTokenizer(dir);
    const { halfWeights } = await resolveHalfWeights(dir, weights);
    const model = await loadCausalLM(dir, backend, { halfWeights });
    try {
      const maxPos = model.config.maxPositionEmbeddings;
      const ctx = args.values.ctx === undefined ? maxPos : intFlag(args, "ctx", maxPos, 1, 1 << 24);
      if (ctx > maxPos) {
        warn(
          "generate",
          `--ctx ${ctx} is beyond the model's context length ${maxPos} ` +
            "(max_position_embeddings); generation stops at " + maxPos,
        );
      }
      const limit = Math.min(ctx, maxPos);
      const ids = tok.encode(prompt);
      if (ids.length === 0) throw new UsageError("--prompt encodes to no tokens; give some text");
      if (ids.length > limit) {
        throw new UsageError(
          `The prompt is ${plural(ids.length, "token")}; the context length is ${limit}: ` +
            "shorten the prompt" + (ctx < maxPos ? " or raise --ctx" : ""),
        );
      }
      if (maxNewTokens === 0) warn("generate", "--max-tokens 0: nothing will be generated");
      const stop = args.values["ignore-eos"]
        ? []
        : [...new Set([...model.config.eosTokenIds, ...tok.eosIds])];
      if (!quiet) {
        console.error(
          `quantlab generate: ${model.config.architecture} on ${model.backend}; prompt ` +
            `${plural(ids.length, "token")} (BOS: ${tok.describeSpecials()}); ` +
            (temperature === 0
              ? "greedy"
              : `temperature ${temperature}, top-p ${topP}, seed ${seed}`),
        );
      }
      if (!json) {
        const dim = Deno.stdout.isTerminal() && !Deno.noColor;
        generateOutput.write(dim ? `\x1b[2m${prompt}\x1b[0m` : prompt);
      }
      const stream = new StreamDecoder(tok);
      let text = "";
      const allowed = Math.min(maxNewTokens, limit - ids.length);
      const r = await generate(model, ids, {
        maxNewTokens: allowed,
        temperature,
        topP,
        seed,
        stopTokens: stop,
        onToken: (id) => {
          const piece = stream.push(id);
          text += piece;
          if (piece && !json) generateOutput.write(piece);
        },
      });
      const tail = stream.flush();
      text += tail;
      if (!json) generateOutput.write(tail + "\n");
      const timed = r.promptTokens >= MIN_TIMED_PROMPT && r.prefillSeconds > 0;
      const prefill = timed ? r.promptTokens / r.prefillSeconds : null;
      const steps = Math.max(0, r.tokens.length - 1); // the first new token comes from the prefill
      const decode = steps > 0 && r.decodeSeconds > 0 ? steps / r.decodeSeconds : null;
      const why = stopWords(r.stopReason, r.tokens.length, maxNewTokens, limit);
      if (json) {
        printJson("generate", {
          model: { path: dir, architecture: model.config.architecture, backend: model.backend },
          prompt,
          promptTokens: r.promptTokens,
          text,
          tokens: r.tokens,
          generatedTokens: r.tokens.length,
          stopReason: why.key,
          ctx: limit,
          sampling: { temperature, topP, seed },
          prefillSeconds: r.prefillSeconds,
          decodeSeconds: r.decodeSeconds,
          prefillTokensPerSecond: prefill,
          decodeTokensPerSecond: decode,
        });
        return;
      }
      const speed = (v: number | null): string => (v === null ? "n/a" : `${v.toFixed(1)} tok/s`);
      if (!quiet) {
        console.error(
          `quantlab generate: ${plural(r.tokens.length, "token")}, stopped at ${why.text}; ` +
            `prefill ${speed(prefill)}` +
            (prefill === null ? ` (prompt under ${MIN_TIMED_PROMPT} tokens)` : "") +
            `, decode ${speed(decode)}`,
        );
      }
    } finally {
      model.dispose();
    }
  },
};
