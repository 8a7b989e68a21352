/**
 * `quantlab generate MODEL --prompt "…"`: text generation from a Hugging Face Llama-family folder
 * (dense or quantized), greedy or temperature/top-p sampling with a seed, tokens streamed to
 * stdout as they decode, speed (prefill and decode tokens/s) on stderr.
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
import { loadCausalLM, loadTokenizer } from "../../model/loader.ts";
import { StreamDecoder } from "../../model/tokenizer.ts";

/** Where streamed text goes (stdout; tests replace `write`). */
export const generateOutput: { write: (text: string) => void } = {
  write: (text: string) => {
    Deno.stdout.writeSync(new TextEncoder().encode(text));
  },
};

/** The `generate` command. */
export const generateCommand: Command = {
  name: "generate",
  summary: "generate text from a Llama-family model folder (greedy or sampled)",
  usage: 'quantlab generate MODEL --prompt "…" [--max-tokens 64] [--temperature 0] [--top-p 1] ' +
    "[--seed 0]",
  flags: {
    prompt: { type: "string", short: "p", help: "the prompt text" },
    "max-tokens": { type: "string", default: "64", help: "most new tokens" },
    temperature: { type: "string", default: "0", help: "0 = greedy; else sampling temperature" },
    "top-p": { type: "string", default: "1", help: "nucleus sampling mass (0, 1]" },
    seed: { type: "string", default: "0", help: "sampling seed (project PRNG)" },
    "ignore-eos": { type: "boolean", help: "do not stop at end-of-sequence tokens" },
    kernel: { type: "string", default: "exact", help: "CPU LUT kernels: exact | fast (8-bit)" },
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir || args.positionals.length > 1) {
      throw new UsageError("generate needs exactly one MODEL folder; see quantlab generate --help");
    }
    const prompt = args.values.prompt;
    if (typeof prompt !== "string") throw new UsageError("--prompt is required");
    const backend = await commandBackend(generateCommand, args);
    setLutNumerics(choiceFlag(args, "kernel", LUT_NUMERICS));
    const maxNewTokens = intFlag(args, "max-tokens", 64, 0, 1 << 20);
    const temperature = numberFlag(args, "temperature", 0, 0, 100);
    const topP = numberFlag(args, "top-p", 1, 1e-9, 1);
    const seed = intFlag(args, "seed", 0, 0, 0xffffffff);

    const tok = await loadTokenizer(dir);
    const model = await loadCausalLM(dir, backend);
    try {
      const ids = tok.encode(prompt);
      if (ids.length === 0) throw new UsageError("--prompt encodes to no tokens");
      const stop = args.values["ignore-eos"]
        ? []
        : [...new Set([...model.config.eosTokenIds, ...tok.eosIds])];
      console.error(
        `quantlab generate: ${model.config.architecture} on ${model.backend}; prompt ` +
          `${ids.length} tokens (BOS: ${tok.describeSpecials()}); ` +
          (temperature === 0
            ? "greedy"
            : `temperature ${temperature}, top-p ${topP}, seed ${seed}`),
      );
      const stream = new StreamDecoder(tok);
      const r = await generate(model, ids, {
        maxNewTokens,
        temperature,
        topP,
        seed,
        stopTokens: stop,
        onToken: (id) => {
          const piece = stream.push(id);
          if (piece) generateOutput.write(piece);
        },
      });
      generateOutput.write(stream.flush() + "\n");
      const prefill = r.prefillSeconds > 0 ? r.promptTokens / r.prefillSeconds : 0;
      const steps = Math.max(0, r.tokens.length - 1); // the first new token comes from the prefill
      const decode = r.decodeSeconds > 0 ? steps / r.decodeSeconds : 0;
      console.error(
        `quantlab generate: ${r.tokens.length} tokens (${r.stopReason}); prefill ` +
          `${prefill.toFixed(1)} tok/s, decode ${decode.toFixed(1)} tok/s`,
      );
    } finally {
      model.dispose();
    }
  },
};
