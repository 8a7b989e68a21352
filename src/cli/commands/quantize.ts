/**
 * `quantlab quantize MODEL --method higgs --bits 4 --p 2 --out OUT`: quantizes a Hugging Face
 * checkpoint folder (single or sharded safetensors) or any `.safetensors` file into a portable
 * quantized checkpoint (see `src/io/quantized_checkpoint.ts`), streaming and resumable.
 *
 * @module
 */
import {
  choiceFlag,
  type Command,
  commandBackend,
  type FlagSpec,
  intFlag,
  numberFlag,
  outputMode,
  type ParsedArgs,
  UsageError,
} from "../command.ts";
import type { QuantOptions } from "../../quant/quantizer.ts";
import { availableMethods } from "../../quant/registry.ts";
import { quantizeCheckpoint } from "../../jobs/quantize_checkpoint.ts";
import { progressBars } from "../progress.ts";
import { QuantlabError } from "../../core/errors.ts";
import { inspectCheckpoint } from "../../io/inspect.ts";
import { openCheckpoint } from "../../io/sharded.ts";
import { ALLOCATION_SCHEMA } from "./allocate.ts";
import { JSON_FLAG, outFlag, outputModeFlags, QUIET_FLAG } from "../vocabulary.ts";
import { printJson } from "../json_output.ts";
import { warn } from "../warn.ts";
import { ignoredFlagWarnings, userWordsMethodError } from "../method_flags.ts";
import { HADAMARD_HELP, hadamardFlagText, parseHadamardFlag } from "../hadamard_flag.ts";
import { refuseWithShard, SHARD_FLAGS, shardFromArgs } from "../shard_flags.ts";
import { printQuantizeShard } from "../shard_report.ts";
import { checkGptqFlags, GPTQ_FLAGS, type GptqRun, runGptq } from "../gptq_flags.ts";
import { textInput } from "../text_source.ts";

/** Flags shared by commands that take quantization options. */
export const QUANT_FLAGS: Record<string, FlagSpec> = {
  // The methods come from the registry, so a new method needs no edit here.
  method: { type: "string", default: "higgs", help: availableMethods().join(" | ") },
  bits: {
    type: "string",
    help: "bits per weight (default 4; HIGGS: per coordinate, grid n = 2^(p·bits))",
  },
  p: { type: "string", help: "HIGGS grid dimension (default 2)" },
  n: { type: "string", help: "HIGGS grid size (overrides --bits)" },
  hadamard: { type: "string", help: HADAMARD_HELP },
  group: {
    type: "string",
    help: "weights per scale; 'row' = one per row (default 64; HIGGS: the Hadamard block)",
  },
  axis: { type: "string", help: "group axis: 1 = input dim (default), 0 = output dim" },
  seed: { type: "string", help: "random-sign seed of the rotation (none = plain Hadamard)" },
  "scale-dtype": { type: "string", help: "F16 | F32 (default F16)" },
  "table-dtype": { type: "string", help: "HIGGS table precision: F16 | F32 (default F16)" },
  "scale-rule": {
    type: "string",
    help: "HIGGS scales: rms (the paper's) | unbiased (error orthogonal to W)",
  },
  "round-zero": { type: "boolean", help: "HQQ: round the zero point" },
  iters: { type: "string", help: "HQQ: optimisation iterations (default 20)" },
  symmetric: { type: "boolean", help: "RTN: symmetric (absmax) levels" },
  "clip-search": { type: "boolean", help: "RTN: search the clipping ratio" },
  "double-quant": { type: "boolean", help: "NF4/AF4/FP4: 8-bit meta-quantized scales" },
  extra: { type: "string", multiple: true, help: "method option KEY=VALUE (repeatable)" },
};

/**
 * Reads the quantization flags into `QuantOptions` (method-specific ones go to `extra`).
 *
 * @example
 * ```ts
 * import { quantOptionsFromArgs, QUANT_FLAGS } from "./quantize.ts";
 * import { parseCommandArgs } from "../command.ts";
 * const o = quantOptionsFromArgs(parseCommandArgs(QUANT_FLAGS, ["--bits", "4", "--seed", "7"]));
 * if (o.bits !== 4 || o.seed !== 7) throw new Error();
 * ```
 */
export function quantOptionsFromArgs(args: ParsedArgs): QuantOptions {
  const v = args.values;
  const o: QuantOptions = {};
  if (v.bits !== undefined) o.bits = numberFlag(args, "bits", 4, 0.5, 16);
  if (v.p !== undefined) o.p = intFlag(args, "p", 2, 1, 16);
  if (v.n !== undefined) o.gridSize = intFlag(args, "n", 256, 2, 65536);
  if (v.hadamard !== undefined) Object.assign(o, parseHadamardFlag(String(v.hadamard)));
  if (v.group !== undefined) {
    o.groupSize = v.group === "row" || v.group === "none"
      ? null
      : intFlag(args, "group", 64, 1, 2 ** 30);
  }
  if (v.axis !== undefined) o.axis = intFlag(args, "axis", 1, 0, 1) as 0 | 1;
  if (v.seed !== undefined) o.seed = intFlag(args, "seed", 0, 0, 0xffffffff);
  if (v["scale-dtype"] !== undefined) {
    o.scaleDtype = choiceFlag(args, "scale-dtype", ["F16", "F32"] as const);
  }
  const extra: Record<string, string | number | boolean> = {};
  if (v["table-dtype"] !== undefined) {
    extra.tableDtype = choiceFlag(args, "table-dtype", ["F16", "F32"]);
  }
  if (v["scale-rule"] !== undefined) {
    extra.scaleRule = choiceFlag(args, "scale-rule", ["rms", "unbiased"]);
  }
  if (v["round-zero"]) extra.roundZero = true;
  if (v.iters !== undefined) extra.iters = intFlag(args, "iters", 20, 0, 100000);
  if (v.symmetric) extra.symmetric = true;
  if (v["clip-search"]) extra.clipSearch = true;
  if (v["double-quant"]) extra.doubleQuant = true;
  const list = v.extra === undefined ? [] : Array.isArray(v.extra) ? v.extra : [String(v.extra)];
  for (const kv of list) {
    const m = /^([A-Za-z_][\w-]*)=(.*)$/.exec(kv);
    if (!m) throw new UsageError(`--extra ${kv} is not valid; use KEY=VALUE`);
    const raw = m[2]!;
    extra[m[1]!] = raw === "true"
      ? true
      : raw === "false"
      ? false
      : raw !== "" && Number.isFinite(Number(raw))
      ? Number(raw)
      : raw;
  }
  if (Object.keys(extra).length > 0) o.extra = extra;
  return o;
}

/**
 * The per-tensor options of an allocation plan (`quantlab allocate --out`); sets
 * `options.hadamard` to the plan's block size (the one its costs assumed).
 */
async function readPlan(
  path: string,
  method: string,
  options: QuantOptions,
): Promise<Record<string, QuantOptions>> {
  let plan;
  try {
    plan = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new QuantlabError("bad-file", `Cannot read plan ${path}: ${(e as Error).message}`);
  }
  if (plan?.schema !== ALLOCATION_SCHEMA || typeof plan.tensors !== "object") {
    throw new QuantlabError(
      "bad-file",
      `${path} is not an allocation plan (schema ${JSON.stringify(plan?.schema)}); ` +
        "make one with quantlab allocate",
    );
  }
  if (method !== plan.method) {
    throw new UsageError(`The plan is for --method ${plan.method}; got --method ${method}`);
  }
  // Plans before `auto` hold a number; later ones "auto" (+ hadamardMax) or a number.
  const planned = parseHadamardFlag(
    plan.hadamard === undefined
      ? "auto"
      : plan.hadamard === "auto" && plan.hadamardMax !== undefined
      ? `max=${plan.hadamardMax}`
      : String(plan.hadamard),
  );
  const given = { hadamard: options.hadamard, hadamardMax: options.hadamardMax };
  const givenAny = given.hadamard !== undefined || given.hadamardMax !== undefined;
  if (givenAny && hadamardFlagText(given) !== hadamardFlagText(planned)) {
    throw new UsageError(
      `The plan's costs assume --hadamard ${hadamardFlagText(planned)}; got --hadamard ${
        hadamardFlagText(given)
      }`,
    );
  }
  delete options.hadamard;
  delete options.hadamardMax;
  Object.assign(options, planned);
  return plan.tensors as Record<string, QuantOptions>;
}

/** Sum of a checkpoint's safetensors file sizes in bytes. */
async function checkpointBytes(path: string): Promise<number> {
  const ck = await openCheckpoint(path);
  try {
    let n = 0;
    for (const f of ck.files) n += (await Deno.stat(f)).size;
    return n;
  } finally {
    ck.close();
  }
}

/** True when `input` is a folder whose config ties the LM head to the embedding. */
async function tiedEmbeddings(input: string): Promise<boolean> {
  try {
    const c = JSON.parse(await Deno.readTextFile(`${input}/config.json`));
    return c?.tie_word_embeddings === true;
  } catch {
    return false;
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** The `quantize` command. */
export const quantizeCommand: Command = {
  name: "quantize",
  summary: "quantize a checkpoint folder or .safetensors file (HIGGS, HQQ, NF4, RTN, GPTQ, …)",
  usage: "quantlab quantize MODEL_DIR|FILE.safetensors --out OUT [--force | --resume] " +
    "[--method higgs --bits 4 --p 2 …] [--plan plan.json] [--shard I/N]\n" +
    "       quantlab quantize MODEL_DIR --out OUT --method gptq --grid SPEC " +
    "[--calib brown:train --calib-samples 128 --calib-ctx 256 …]",
  examples: [
    "quantlab quantize assets/tiny-llama -o /tmp/ql-higgs --method higgs --bits 4 --p 2 --hadamard 256",
    "quantlab quantize assets/tiny-llama -o /tmp/ql-nf4 --method nf4",
    "quantlab quantize assets/tiny-llama -o /tmp/ql-gptq --method gptq --grid higgs:p=2,bits=3 " +
    "--calib brown:valid --calib-samples 8 --calib-ctx 128 --json",
  ],
  flags: {
    ...QUANT_FLAGS,
    method: {
      ...QUANT_FLAGS.method!,
      help: [...availableMethods(), "gptq (with --grid)"].join(" | "),
    },
    ...GPTQ_FLAGS,
    ...outFlag("output folder (or FILE.safetensors for a file input); must be new or empty"),
    ...outputModeFlags({ resumable: true }),
    tensor: { type: "string", multiple: true, help: "quantize only this tensor (repeatable)" },
    plan: { type: "string", help: "per-tensor HIGGS grids from quantlab allocate (plan JSON)" },
    "include-lm-head": { type: "boolean", help: "quantize lm_head too" },
    ...SHARD_FLAGS,
    ...QUIET_FLAG,
    ...JSON_FLAG,
  },
  inputs: (args) => [
    { path: args.positionals[0], what: "MODEL" },
    { path: args.values.plan as string | undefined, what: "--plan" },
    textInput(args, "calib"),
  ],
  async run(args) {
    const input = args.positionals[0];
    if (input === undefined || args.positionals.length > 1) {
      throw new UsageError(
        `Expected one input (a checkpoint folder or .safetensors file); got ${args.positionals.length}`,
      );
    }
    const out = args.values.out;
    if (typeof out !== "string" || out === "") {
      throw new UsageError("--out is required: the output folder or file");
    }
    const mode = outputMode(args);
    const shard = shardFromArgs(args);
    if (shard) {
      refuseWithShard(args, "json", "a shard prints one line; quantlab merge OUT finishes");
    }
    const method = choiceFlag(args, "method", [...availableMethods(), "gptq"]);
    checkGptqFlags(args, method);
    const options = quantOptionsFromArgs(args);
    const plan = typeof args.values.plan === "string"
      ? await readPlan(args.values.plan, method, options)
      : undefined;
    for (const w of ignoredFlagWarnings(args, method)) warn("quantize", w);
    const includeLmHead = Boolean(args.values["include-lm-head"]);
    if (includeLmHead && await tiedEmbeddings(input)) {
      warn(
        "quantize",
        "--include-lm-head is ignored: the model ties lm_head to the embedding " +
          "(tie_word_embeddings), which stays unquantized",
      );
    }
    const backend = await commandBackend(quantizeCommand, args);
    const tensors = (args.values.tensor as string[] | undefined) ?? [];
    const json = Boolean(args.values.json);
    let s;
    let gptq: GptqRun | null = null;
    try {
      if (method === "gptq") gptq = await runGptq(args, input, out, mode);
      s = gptq?.summary ?? await quantizeCheckpoint(input, out, {
        method,
        options,
        backend,
        includeLmHead,
        tensors,
        mode,
        ...(plan ? { perTensor: plan } : {}),
        ...(shard ? { shard } : {}),
        progress: progressBars(Boolean(args.values.quiet)),
      });
    } catch (e) {
      throw userWordsMethodError(e);
    }
    if (s.padding) {
      const p = s.padding;
      warn(
        "quantize",
        `zero padding of ${p.tensors} tensor(s) to whole Hadamard blocks (e.g. ${p.example}) ` +
          `costs ${p.bitsPerWeight.toFixed(4)} bits/weight; --hadamard auto pads nothing`,
      );
    }
    if (shard) return printQuantizeShard(s, shard);
    const inBytes = await checkpointBytes(input);
    const report = await inspectCheckpoint(s.out);
    const bits = report.quantizedSummary?.bits ??
      { codes: 0, padding: 0, scales: 0, table: 0, total: 0 };
    const rate = s.seconds > 0 ? s.totalWeights / s.seconds : 0;
    if (json) {
      printJson("quantize", {
        input: { path: input, bytes: inBytes },
        output: { path: s.out, bytes: report.totalBytes, files: s.files },
        method,
        tensors: { quantized: s.quantized, resumed: s.resumed, copied: s.copied },
        weights: { quantized: s.quantizedWeights, total: s.totalWeights },
        bitsPerWeight: bits,
        compressionRatio: report.totalBytes > 0 ? inBytes / report.totalBytes : null,
        seconds: s.seconds,
        weightsPerSecond: rate,
        ...(gptq ? { gptq: gptq.json() } : {}),
      });
      return;
    }
    const f = (x: number): string => x.toFixed(4);
    console.log(
      `quantized    ${s.quantized} tensors` +
        (s.resumed ? ` (+${s.resumed} from an earlier run)` : "") +
        `, copied ${s.copied} → ${s.out}`,
    );
    console.log(
      `size         ${mib(inBytes)} → ${mib(report.totalBytes)} (${
        (inBytes / Math.max(1, report.totalBytes)).toFixed(2)
      }× smaller)`,
    );
    console.log(
      `bits/weight  ${f(bits.total)} over ${(s.quantizedWeights / 1e6).toFixed(2)}M of ` +
        `${(s.totalWeights / 1e6).toFixed(2)}M weights = codes ${f(bits.codes)} + scales ` +
        `${f(bits.scales)} + table ${f(bits.table)} + padding ${f(bits.padding)}`,
    );
    console.log(`time         ${s.seconds.toFixed(1)} s (${(rate / 1e6).toFixed(2)} M weights/s)`);
    for (const line of gptq?.lines() ?? []) console.log(line);
  },
};
