/**
 * llama.cpp's prefill and decode speed on one GGUF model, in its own process (its threads stay out
 * of the caller's timings), for `bench/vs_llamacpp.ts`:
 *
 * ```sh
 * deno run --allow-all peers/llamacpp/speed.ts MODEL.gguf '{"ctx":256,"decode":64,"threads":2,"rounds":3,"ids":[...]}'
 * ```
 *
 * - prefill: one window of `ctx` ids from an empty cache, logits at every position (a perplexity
 *   window), `rounds` times after one warm-up;
 * - decode: 8 prompt ids, then `decode` single-token steps, `rounds` times after one warm-up;
 * - tok/s from the median wall time, or from the CPU time over all rounds (`clock`, see
 *   {@linkcode rate});
 * - `nll`: the mean negative log-likelihood of the window's next tokens (to check the model is
 *   the one the caller wrote).
 *
 * Prints one JSON line: `{"prefillTokS", "decodeTokS", "nll"}`. `QUANTIZE IN OUT TYPE THREADS`
 * as arguments instead quantizes IN to OUT (`LlamaCpp.quantize`) and prints nothing.
 *
 * @module
 */
import { processCpuMs } from "../../bench/timing.ts";
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
  /**
   * `wall`: tok/s from the median wall time of the rounds; `cpu`: tokens per second of this
   * process's CPU time summed over the rounds (meaningful at 1 thread on a loaded machine).
   */
  clock: "wall" | "cpu";
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

/**
 * Times `rounds` runs of `fn` after one warm-up and returns tokens per second: `tokens` over the
 * median wall time (`wall`), or all runs' tokens over the process's CPU time (`cpu`: at least
 * `rounds` runs and 1 s of CPU time). `setup`
 * runs before each run, untimed on the wall clock (its CPU time is counted: keep it small).
 */
export async function rate(
  clock: "wall" | "cpu",
  rounds: number,
  tokens: number,
  setup: () => unknown,
  fn: () => unknown,
): Promise<number> {
  await setup();
  await fn();
  const c0 = processCpuMs();
  const wall: number[] = [];
  // On the CPU clock, repeat until ≥ 1 s of CPU time (10 ms ticks: ≤ 1 % granularity).
  while (wall.length < rounds || (clock === "cpu" && processCpuMs() - c0 < 1000)) {
    await setup();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
  }
  if (clock === "cpu") return wall.length * tokens / (processCpuMs() - c0) * 1000;
  wall.sort((a, b) => a - b);
  return tokens / wall[Math.floor(wall.length / 2)]! * 1000;
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
export async function measure(
  libDir: string,
  gguf: string,
  req: SpeedRequest,
): Promise<SpeedResult> {
  const window = req.ids.slice(0, req.ctx);
  const prompt = req.ids.slice(0, 8);
  const llama = LlamaCpp.open(libDir, gguf, {
    maxTokens: Math.max(req.ctx, prompt.length + req.decode),
    threads: req.threads,
  });
  try {
    const prefillTokS = await rate(
      req.clock,
      req.rounds,
      window.length,
      () => llama.clear(),
      () => {
        llama.eval(window, 0, true);
      },
    );
    const nll = meanNll(llama.lastLogits(window.length), window, llama.vocabSize);
    const decodeTokS = await rate(req.clock, req.rounds, req.decode, () => {
      llama.clear();
      llama.eval(prompt, 0, false);
    }, () => {
      for (let t = 0; t < req.decode; t++) {
        llama.eval([req.ids[(8 + t) % req.ids.length]!], prompt.length + t, false);
      }
    });
    return { prefillTokS, decodeTokS, nll };
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
    console.log(JSON.stringify(await measure(lib, a, JSON.parse(b) as SpeedRequest)));
  } else {
    console.error(
      "usage: speed.ts MODEL.gguf REQUEST_JSON | speed.ts QUANTIZE IN OUT TYPE [THREADS]",
    );
    Deno.exit(2);
  }
}
