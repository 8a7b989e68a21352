/**
 * llama.cpp's prefill and decode speed on one GGUF model, in its own process (its threads stay out
 * of the caller's timings), for `bench/vs_llamacpp.ts`:
 *
 * ```sh
 * deno run --allow-all peers/llamacpp/speed.ts MODEL.gguf '{"ctx":256,"decode":64,"threads":2,"rounds":3,"ids":[...]}'
 * ```
 *
 * - prefill: one window of `ctx` ids from an empty cache, logits at every position (a perplexity
 *   window); tok/s = ctx / the median time over `rounds` (after one warm-up);
 * - decode: 8 prompt ids, then `decode` single-token steps; tok/s = decode / the median total;
 * - `nll`: the mean negative log-likelihood of the window's next tokens (to check the model is
 *   the one the caller wrote).
 *
 * Prints one JSON line: `{"prefillTokS", "decodeTokS", "nll"}`. `QUANTIZE IN OUT TYPE THREADS`
 * as arguments instead quantizes IN to OUT (`LlamaCpp.quantize`) and prints nothing.
 *
 * @module
 */
import { LlamaCpp, llamaCppLibDir, type LlamaFtype } from "./ffi.ts";

/** What the caller asks for. */
export interface SpeedRequest {
  /** Prefill window length. */
  ctx: number;
  /** Decode steps. */
  decode: number;
  /** CPU threads. */
  threads: number;
  /** Timed repetitions (median). */
  rounds: number;
  /** Token ids: at least `ctx`, the window; the first 8 are the decode prompt. */
  ids: number[];
}

/** What the script prints. */
export interface SpeedResult {
  /** Prefill tokens per second. */
  prefillTokS: number;
  /** Decode tokens per second. */
  decodeTokS: number;
  /** Mean NLL of the window (nats per token). */
  nll: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Mean NLL of ids[1..] from row-major logits of ids[0..n−1]. */
function meanNll(logits: Float32Array, ids: number[], vocab: number): number {
  let tot = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let z = 0;
    for (const v of row) z += Math.exp(v - m);
    tot += m + Math.log(z) - row[ids[t + 1]!]!;
  }
  return tot / (ids.length - 1);
}

/** Times `req` on the model at `gguf` (see the module doc). */
export function measure(libDir: string, gguf: string, req: SpeedRequest): SpeedResult {
  const window = req.ids.slice(0, req.ctx);
  const prompt = req.ids.slice(0, 8);
  const llama = LlamaCpp.open(libDir, gguf, {
    maxTokens: Math.max(req.ctx, prompt.length + req.decode),
    threads: req.threads,
  });
  try {
    const prefill: number[] = [];
    for (let r = 0; r <= req.rounds; r++) {
      llama.clear();
      const t0 = performance.now();
      llama.eval(window, 0, true);
      if (r > 0) prefill.push(performance.now() - t0); // round 0 warms up
    }
    const nll = meanNll(llama.lastLogits(window.length), window, llama.vocabSize);
    const decode: number[] = [];
    for (let r = 0; r <= req.rounds; r++) {
      llama.clear();
      llama.eval(prompt, 0, false);
      const t0 = performance.now();
      for (let t = 0; t < req.decode; t++) {
        llama.eval([req.ids[(8 + t) % req.ids.length]!], prompt.length + t, false);
      }
      if (r > 0) decode.push(performance.now() - t0);
    }
    return {
      prefillTokS: window.length / median(prefill) * 1000,
      decodeTokS: req.decode / median(decode) * 1000,
      nll,
    };
  } finally {
    llama.close();
  }
}

if (import.meta.main) {
  const lib = llamaCppLibDir(new URL("../../", import.meta.url));
  const [a, b, c, d, e] = Deno.args;
  if (a === "QUANTIZE" && b && c && d) {
    LlamaCpp.quantize(lib, b, c, d as LlamaFtype, Number(e ?? 2));
  } else if (a && b) {
    console.log(JSON.stringify(measure(lib, a, JSON.parse(b) as SpeedRequest)));
  } else {
    console.error(
      "usage: speed.ts MODEL.gguf REQUEST_JSON | speed.ts QUANTIZE IN OUT TYPE [THREADS]",
    );
    Deno.exit(2);
  }
}
