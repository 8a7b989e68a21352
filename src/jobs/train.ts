/**
 * The project's tiny Llama, trained on the embedded Brown corpus with the project tokenizer
 * (`assets/tokenizer/brown_bpe4096`): a resumable job. Batches are B windows of T consecutive
 * tokens of the train split, window order reshuffled each epoch (seeded). `data` adds the State of
 * the Union addresses: the windows then tile the train splits' tokens concatenated (Brown first),
 * so each corpus is drawn in proportion to its size; Brown's valid split stays the yardstick, and
 * each other corpus's valid loss is logged beside it (`sotuValidLoss`). Every `checkpointEvery`
 * steps the parameters and AdamW state go to `<out>/train_state.bin` (atomically; format in
 * `train_state.ts`) and each step's loss and gradient norm to `<out>/train_log.jsonl`; a rerun
 * continues from the checkpoint (a checkpoint of the first trainer, version 1, too: it keeps that
 * run's recipe, weight decay 0.1 without clipping). The valid split's loss is measured every
 * `evalEvery` steps and at the end. The recipe is AdamW (β 0.9/0.95, decoupled weight decay on
 * the matrices), linear warmup then cosine decay to 10 % of the peak, global-norm gradient
 * clipping. The result is a Hugging Face folder (`config.json`, BF16 `model.safetensors`,
 * tokenizer files) plus `training.json`, which records every setting.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { randU32 } from "../core/prng.ts";
import { CORPORA, type CorpusName, loadCorpus } from "../data/corpus.ts";
import { BROWN_TOKENIZER_URL, BROWN_VOCAB_SIZE } from "../data/brown_tokenizer.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { appendJsonl, readJsonl } from "../io/jsonl_log.ts";
import { gitCommit, machineInfo } from "../io/results.ts";
import { type LlamaConfig, llamaConfig, TINY_LLAMA_SHAPE } from "../model/config.ts";
import { loadTokenizer, writeHfFolder } from "../model/loader.ts";
import { llamaTensors } from "../model/random.ts";
import { loadBlas } from "../cpu/blas.ts";
import { AdamW, cosineSchedule } from "../train/adamw.ts";
import { clipGradNorm } from "../train/grad_clip.ts";
import { initTrainingWeights, LlamaTrainer } from "../train/llama_train.ts";
import { readTrainState, type TrainState, writeTrainState } from "../io/train_state.ts";

/** Options of {@linkcode trainTinyLlama}. */
export interface TrainOptions {
  /** Output folder. */
  out: string;
  /** Optimizer steps (default 1000). */
  steps?: number;
  /** Sequences per batch (default 8). */
  batch?: number;
  /** Tokens per sequence (default 256). */
  ctx?: number;
  /** Peak learning rate (default 3e-3), after `warmup` steps (default 50); cosine to 10 %. */
  lr?: number;
  /** Warmup steps. */
  warmup?: number;
  /** Seed of the initialization and the batch order (default 1). */
  seed?: number;
  /** Steps between checkpoints (default 25). */
  checkpointEvery?: number;
  /** Steps between validation losses (default 100). */
  evalEvery?: number;
  /** Validation windows (default 32). */
  evalWindows?: number;
  /** Decoupled weight decay of the matrices (default 0.1). */
  weightDecay?: number;
  /** Global gradient-norm clip (default 1; 0 = none). */
  gradClip?: number;
  /** The corpora whose train splits are trained on (default `["brown"]`; any order, no repeats). */
  data?: CorpusName[];
  /** Model shape (default {@linkcode TINY_LLAMA_SHAPE}, tied embeddings). */
  shape?: Partial<LlamaConfig>;
  /** Start over, ignoring a checkpoint and log in `out` (the CLI's `--force`); default: resume. */
  fresh?: boolean;
  /** Called after every step. */
  onStep?: (
    s: { step: number; loss: number; lr: number; gradNorm: number; tokensPerSecond: number },
  ) => void;
  /** Called after every validation: Brown's valid loss, and those of the other corpora trained on. */
  onEval?: (s: { step: number; validLoss: number; otherValid: Record<string, number> }) => void;
}

/** What a finished run reports. */
export interface TrainResult {
  /** The model folder. */
  out: string;
  /** Steps done in total (this run and earlier ones). */
  steps: number;
  /** Steps resumed from a checkpoint. */
  resumedSteps: number;
  /** Mean loss of the last 20 steps (from the log; NaN if it holds none). */
  trainLoss: number;
  /** Validation loss (nats/token) and perplexity at the end. */
  validLoss: number;
  /** exp(validLoss). */
  validPpl: number;
  /** The valid loss of each other corpus trained on (`{ sotu: … }`; empty for Brown alone). */
  otherValidLoss: Record<string, number>;
}

// Tokenizing a train split takes seconds: once per process.
const idsCache = new Map<string, Promise<number[]>>();
function corpusIds(corpus: CorpusName, split: "train" | "valid"): Promise<number[]> {
  let p = idsCache.get(`${corpus}:${split}`);
  if (!p) {
    p = (async () => {
      const tok = await loadTokenizer(BROWN_TOKENIZER_URL.pathname);
      return tok.encode(await loadCorpus(corpus, split), { addSpecialTokens: false });
    })();
    idsCache.set(`${corpus}:${split}`, p);
  }
  return p;
}

/** The corpora of `data` in the canonical order (Brown first), refusing repeats and none. */
function trainCorpora(data: CorpusName[]): CorpusName[] {
  const set = new Set(data);
  if (set.size !== data.length || set.size === 0) {
    throw new QuantlabError(
      "bad-argument",
      `Training data "${data.join(",")}" must name each corpus once (valid: ${CORPORA.join(", ")})`,
    );
  }
  return CORPORA.filter((c) => set.has(c));
}

/** The top-level fields in which two resume keys (JSON objects) differ, e.g. " (data differs)". */
function keyDiff(saved: string, key: string): string {
  try {
    const [a, b] = [JSON.parse(saved), JSON.parse(key)];
    const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])]
      .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    return fields.length ? ` (${fields.join(", ")} differ${fields.length === 1 ? "s" : ""})` : "";
  } catch {
    return "";
  }
}

/** Mean loss over `n` windows of T tokens of `ids` (no gradient). */
function evaluate(t: LlamaTrainer, ids: number[], T: number, n: number): number {
  const windows = Math.min(n, Math.floor(ids.length / T));
  let sum = 0;
  for (let i = 0; i < windows; i += 4) {
    const b = Math.min(4, windows - i);
    sum += t.loss(ids.slice(i * T, (i + b) * T), b, T) * b;
  }
  return sum / windows;
}

/** {@linkcode TrainOptions} with the defaults filled in, checked. */
interface TrainSettings {
  steps: number;
  /** Sequences per batch. */
  B: number;
  /** Tokens per sequence. */
  T: number;
  /** Peak learning rate. */
  peak: number;
  warmup: number;
  seed: number;
  /** Steps between checkpoints. */
  every: number;
  evalEvery: number;
  evalWindows: number;
  weightDecay: number;
  gradClip: number;
}

/** The options with their defaults; `bad-argument` naming a value that is not valid. */
function trainSettings(opts: TrainOptions): TrainSettings {
  const steps = opts.steps ?? 1000, B = opts.batch ?? 8, T = opts.ctx ?? 256;
  const weightDecay = opts.weightDecay ?? 0.1, gradClip = opts.gradClip ?? 1;
  for (const [name, v] of [["steps", steps], ["batch", B], ["ctx", T]] as const) {
    if (!Number.isInteger(v) || v < 1 || (name === "ctx" && v < 2)) {
      throw new QuantlabError("bad-argument", `Training ${name} ${v} is not a positive integer`);
    }
  }
  for (const [name, v] of [["weight decay", weightDecay], ["gradient clip", gradClip]] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new QuantlabError("bad-argument", `Training ${name} ${v} is not a finite number ≥ 0`);
    }
  }
  return {
    steps,
    B,
    T,
    peak: opts.lr ?? 3e-3,
    warmup: opts.warmup ?? 50,
    seed: opts.seed ?? 1,
    every: opts.checkpointEvery ?? 25,
    evalEvery: opts.evalEvery ?? 100,
    evalWindows: opts.evalWindows ?? 32,
    weightDecay,
    gradClip,
  };
}

/** The token streams of a run: the train splits concatenated, Brown's and the others' valid splits. */
interface TrainData {
  /** The corpora trained on, Brown first. */
  data: CorpusName[];
  /** Brown alone (the run keeps the resume key and record it had before `data` existed). */
  brownOnly: boolean;
  /** The corpora other than Brown, whose valid losses are logged beside Brown's. */
  others: CorpusName[];
  /** Each corpus's train split, in the order of `data`. */
  parts: number[][];
  trainIds: number[];
  validIds: number[];
  /** The valid split of each of `others`. */
  otherValidIds: number[][];
}

/** Tokenizes (once per process) the splits a run on `requested` reads. */
async function trainData(requested: CorpusName[]): Promise<TrainData> {
  const data = trainCorpora(requested);
  const others = data.filter((d) => d !== "brown");
  const [parts, validIds, otherValidIds] = await Promise.all([
    Promise.all(data.map((d) => corpusIds(d, "train"))),
    corpusIds("brown", "valid"),
    Promise.all(others.map((d) => corpusIds(d, "valid"))),
  ]);
  return {
    data,
    brownOnly: data.length === 1 && data[0] === "brown",
    others,
    parts,
    trainIds: parts.length === 1 ? parts[0]! : parts.flat(),
    validIds,
    otherValidIds,
  };
}

/** 1 for the parameters weight decay applies to (the matrices), 0 for the norms. */
function decayMask(trainer: LlamaTrainer): Uint8Array {
  const mask = new Uint8Array(trainer.params.length).fill(1);
  const base = trainer.params.byteOffset;
  const clear = (a: Float32Array) =>
    mask.fill(0, (a.byteOffset - base) / 4, (a.byteOffset - base) / 4 + a.length);
  clear(trainer.weights.norm);
  for (const l of trainer.weights.layers) {
    clear(l.inputNorm);
    clear(l.postNorm);
  }
  return mask;
}

/** Where a run starts: a checkpoint of the same run (if any), and the key and recipe it keeps. */
interface ResumePoint {
  saved: TrainState | null;
  version: 1 | 2;
  key: string;
  /** The clip in force (0 for a version-1 checkpoint, which trained without). */
  gradClip: number;
}

/**
 * Reads the checkpoint at `statePath` unless `fresh` (then empties the log: the old run's steps are
 * not this one's) and refuses one of another run, naming the settings that differ.
 */
async function resumePoint(
  statePath: string,
  logPath: string,
  params: number,
  s: TrainSettings,
  c: LlamaConfig,
  d: Pick<TrainData, "data" | "brownOnly">,
  opts: Pick<TrainOptions, "fresh" | "gradClip">,
): Promise<ResumePoint> {
  const { B, T, peak, warmup, seed, steps, weightDecay, gradClip } = s;
  const run = { c, B, T, peak, warmup, seed, steps };
  // Brown alone keeps the key it had before `data` existed, so those checkpoints still resume.
  const key = JSON.stringify({
    version: 2,
    ...run,
    weightDecay,
    gradClip,
    ...(d.brownOnly ? {} : { data: d.data }),
  });
  const saved = opts.fresh ? null : await readTrainState(statePath, params);
  if (opts.fresh) await writeFileAtomic(logPath, "");
  const otherRun = (why: string) =>
    new QuantlabError(
      "bad-argument",
      `${statePath} belongs to another training run${why}; delete it or choose another --out`,
    );
  if (saved?.version === 1) {
    // The first trainer's run: weight decay 0.1, no clipping, and its key format.
    if (!d.brownOnly) throw otherRun(" (data differs: a version-1 checkpoint trained on brown)");
    if (saved.key !== JSON.stringify(run)) throw otherRun(keyDiff(saved.key, JSON.stringify(run)));
    if (weightDecay !== 0.1 || (opts.gradClip ?? 0) !== 0) {
      throw otherRun(
        " (a version-1 checkpoint: weight decay 0.1 without gradient clipping; resume it without " +
          "--weight-decay and --grad-clip)",
      );
    }
    return { saved, version: 1, key: saved.key, gradClip: 0 };
  }
  if (saved !== null && saved.key !== key) throw otherRun(keyDiff(saved.key, key));
  return { saved, version: 2, key, gradClip };
}

/** The order of the train windows in `epoch`: a permutation seeded by the run's seed and the epoch. */
function windowOrder(windows: number, seed: number, epoch: number): Uint32Array {
  const p = new Uint32Array(windows).map((_, i) => i);
  for (let i = windows - 1; i > 0; i--) {
    const j = randU32(seed + 1000 * (epoch + 1), i) % (i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/**
 * Trains (or resumes) the tiny Llama on Brown and writes the model folder (see the module doc).
 *
 * @example A few steps of a very small model
 * ```ts
 * import { trainTinyLlama } from "./train.ts";
 * const out = await Deno.makeTempDir();
 * const r = await trainTinyLlama({ out, steps: 2, batch: 1, ctx: 16, evalWindows: 2,
 *   shape: { hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 2, intermediateSize: 32 } });
 * await Deno.remove(out, { recursive: true });
 * if (!(r.validLoss > 0)) throw new Error();
 * ```
 */
export async function trainTinyLlama(opts: TrainOptions): Promise<TrainResult> {
  const s = trainSettings(opts);
  const { steps, B, T, peak, warmup, seed, every, evalEvery, evalWindows } = s;
  const c = llamaConfig({
    ...TINY_LLAMA_SHAPE,
    tieWordEmbeddings: true,
    ...(opts.shape ?? {}),
    vocabSize: BROWN_VOCAB_SIZE,
    bosTokenId: BROWN_VOCAB_SIZE - 2,
    eosTokenIds: [BROWN_VOCAB_SIZE - 1],
  });
  const d = await trainData(opts.data ?? ["brown"]);
  const { trainIds, validIds, others, otherValidIds } = d;
  const windows = Math.floor(trainIds.length / T);
  if (windows < B) {
    throw new QuantlabError("bad-argument", `The train split holds ${windows} windows of ${T}`);
  }
  const trainer = new LlamaTrainer(c, initTrainingWeights(c, seed));
  const mask = decayMask(trainer);
  await Deno.mkdir(opts.out, { recursive: true });
  const statePath = `${opts.out}/train_state.bin`;
  const logPath = `${opts.out}/train_log.jsonl`;
  const { saved, version, key, gradClip } = await resumePoint(
    statePath,
    logPath,
    trainer.params.length,
    s,
    c,
    d,
    opts,
  );
  const opt = new AdamW(trainer.params.length, { decayMask: mask, weightDecay: s.weightDecay });
  let start = 0;
  if (saved !== null) {
    trainer.params.set(saved.params);
    opt.load(saved.m, saved.v, saved.step);
    start = saved.step;
  }
  const save = (step: number) => {
    const { m, v } = opt.state();
    return writeTrainState(statePath, { version, step, key, params: trainer.params, m, v });
  };
  // Each other corpus's valid loss, logged as `<corpus>ValidLoss`.
  const validateOthers = (): Record<string, number> =>
    Object.fromEntries(
      others.map((d, i) => [d, evaluate(trainer, otherValidIds[i]!, T, evalWindows)]),
    );
  const otherValidLog = (v: Record<string, number>) =>
    Object.fromEntries(Object.entries(v).map(([d, l]) => [`${d}ValidLoss`, l]));
  let perm = windowOrder(windows, seed, Math.floor((start * B) / windows));
  await trimLog(logPath, start);
  const t0 = performance.now();
  const batch = new Int32Array(B * T);
  for (let step = start; step < steps; step++) {
    const epoch = Math.floor((step * B) / windows);
    if (step > start && Math.floor(((step - 1) * B) / windows) !== epoch) {
      perm = windowOrder(windows, seed, epoch);
    }
    for (let b = 0; b < B; b++) {
      const w = perm[(step * B + b) % windows]!;
      for (let i = 0; i < T; i++) batch[b * T + i] = trainIds[w * T + i]!;
    }
    const ts = performance.now();
    const loss = trainer.forwardBackward(batch, B, T);
    const gradNorm = clipGradNorm(trainer.grads, gradClip);
    const lr = cosineSchedule(step, steps, warmup, peak);
    opt.step(trainer.params, trainer.grads, lr);
    const tps = (B * T) / ((performance.now() - ts) / 1000);
    await appendJsonl(logPath, { step: step + 1, loss, lr, gradNorm, tokensPerSecond: tps });
    opts.onStep?.({ step: step + 1, loss, lr, gradNorm, tokensPerSecond: tps });
    if ((step + 1) % evalEvery === 0 && step + 1 < steps) {
      const validLoss = evaluate(trainer, validIds, T, evalWindows);
      const otherValid = validateOthers();
      await appendJsonl(logPath, { step: step + 1, validLoss, ...otherValidLog(otherValid) });
      opts.onEval?.({ step: step + 1, validLoss, otherValid });
    }
    if ((step + 1) % every === 0 || step + 1 === steps) await save(step + 1);
  }
  const validLoss = evaluate(trainer, validIds, T, evalWindows);
  const otherValid = validateOthers();
  opts.onEval?.({ step: steps, validLoss, otherValid });
  const recent = await recentLosses(logPath, steps);
  await writeModelFolder(opts.out, c, trainer);
  const result: TrainResult = {
    out: opts.out,
    steps,
    resumedSteps: start,
    trainLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN,
    validLoss,
    validPpl: Math.exp(validLoss),
    otherValidLoss: otherValid,
  };
  await writeJsonAtomic(`${opts.out}/training.json`, {
    schema: "quantlab.training",
    schemaVersion: 1,
    createdAt: new Date().toISOString(),
    git: await gitCommit("."),
    machine: machineInfo("cpu"),
    config: recipeRecord({ ...s, gradClip }, version, trainer.kernels),
    data: dataRecord(d),
    model: c,
    result: { ...result, secondsThisRun: (performance.now() - t0) / 1000 },
  });
  return result;
}

/**
 * Keeps the log's records up to the checkpoint's `step`: a killed run logged steps after its last
 * checkpoint, which this run redoes, so without this the record would hold them twice (and a half
 * line a kill left is dropped too).
 */
async function trimLog(logPath: string, step: number): Promise<void> {
  const logged = (await readJsonl(logPath)) as { step?: unknown }[];
  const kept = logged.filter((r) => typeof r.step !== "number" || r.step <= step);
  await writeFileAtomic(logPath, kept.map((r) => JSON.stringify(r) + "\n").join(""));
}

/** The train losses of the last 20 steps, from the log (so a resumed run reports them too). */
async function recentLosses(logPath: string, steps: number): Promise<number[]> {
  const logged = (await readJsonl(logPath)) as { step?: number; loss?: number }[];
  const last = new Map<number, number>();
  for (const r of logged) if (typeof r.loss === "number") last.set(r.step!, r.loss);
  return [...last].filter(([s]) => s > steps - 20).map(([, l]) => l);
}

/** The Hugging Face folder: `config.json`, BF16 `model.safetensors`, the Brown tokenizer's files. */
async function writeModelFolder(out: string, c: LlamaConfig, trainer: LlamaTrainer): Promise<void> {
  await writeHfFolder(out, c, llamaTensors(c, trainer.weights, "BF16"), {
    tokenizer: JSON.parse(await Deno.readTextFile(`${BROWN_TOKENIZER_URL.pathname}tokenizer.json`)),
    tokenizerConfig: JSON.parse(
      await Deno.readTextFile(`${BROWN_TOKENIZER_URL.pathname}tokenizer_config.json`),
    ),
  });
}

/** `training.json`'s "config": every setting of the recipe (with the clip actually in force). */
function recipeRecord(
  s: TrainSettings,
  version: 1 | 2,
  kernels: LlamaTrainer["kernels"],
): Record<string, unknown> {
  return {
    steps: s.steps,
    batch: s.B,
    ctx: s.T,
    lr: s.peak,
    warmup: s.warmup,
    schedule: "linear warmup, cosine to 10 % of lr",
    seed: s.seed,
    optimizer: "AdamW",
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: s.weightDecay,
    weightDecayOn: "matrices (embedding, projections, untied LM head), not norms",
    gradClip: s.gradClip,
    evalEvery: s.evalEvery,
    evalWindows: s.evalWindows,
    checkpointEvery: s.every,
    stateVersion: version,
    blasThreads: loadBlas()?.getThreads() ?? null,
    kernels,
  };
}

/** `training.json`'s "data": the corpora and their token counts. */
function dataRecord(d: TrainData): Record<string, unknown> {
  return {
    corpus: d.brownOnly
      ? "Brown (assets/corpus), train split"
      : `${d.data.join(" + ")} (assets/corpus), train splits concatenated; valid: brown`,
    corpora: d.data,
    trainTokensPerCorpus: Object.fromEntries(d.data.map((c, i) => [c, d.parts[i]!.length])),
    trainTokens: d.trainIds.length,
    validTokens: d.validIds.length,
    otherValidTokens: Object.fromEntries(d.others.map((c, i) => [c, d.otherValidIds[i]!.length])),
    tokenizer: "assets/tokenizer/brown_bpe4096",
  };
}
