/**
 * The GPTQ flags of `quantlab quantize --method gptq` (`--grid`, `--calib`, `--calib-samples`,
 * `--calib-ctx`, `--calib-seed`, `--damp`, `--act-order`, `--block`): their help, their checks
 * against the data-free flags, the job options they make, and the lines the command prints about
 * a GPTQ run.
 *
 * @module
 */
import { type FlagSpec, intFlag, numberFlag, type ParsedArgs, UsageError } from "./command.ts";
import type { ProgressFactory } from "../core/progress.ts";
import { formatGridSpec, parseGridSpec } from "../quant/grid_spec.ts";
import {
  gptqCheckpoint,
  type GptqCheckpointOptions,
  type GptqCheckpointSummary,
} from "../jobs/gptq_checkpoint.ts";
import { progressBars } from "./progress.ts";
import { readTextArg, TEXT_CORPORA } from "./text_source.ts";
import type { OutputMode } from "../io/output_guard.ts";
import { textWarnings } from "./text_check.ts";
import { warn } from "./warn.ts";

/** The flags (no defaults in the spec, so a flag given without `--method gptq` is caught). */
export const GPTQ_FLAGS: Record<string, FlagSpec> = {
  grid: {
    type: "string",
    help: "GPTQ: the format of the codes, METHOD[:KEY=VALUE,…] (e.g. higgs:p=2,bits=3, " +
      "rtn:bits=4,group=128, nf4)",
  },
  calib: {
    type: "string",
    help: `GPTQ: calibration text, ${TEXT_CORPORA} or a UTF-8 file (default brown:train)`,
  },
  "calib-samples": { type: "string", help: "GPTQ: calibration windows (default 128)" },
  "calib-ctx": { type: "string", help: "GPTQ: tokens per calibration window (default 256)" },
  "calib-seed": { type: "string", help: "GPTQ: seed of the window offsets (default 0)" },
  damp: { type: "string", help: "GPTQ: dampening, a fraction of mean(diag H) (default 0.01)" },
  "act-order": { type: "boolean", help: "GPTQ: quantize columns in descending diag H" },
  block: { type: "string", help: "GPTQ: columns per lazy-update block (default 128)" },
};

/** Data-free flags that `--method gptq` refuses (the format comes from --grid). */
const FORMAT_FLAGS = [
  "bits",
  "p",
  "n",
  "hadamard",
  "group",
  "axis",
  "seed",
  "scale-dtype",
  "table-dtype",
  "scale-rule",
  "round-zero",
  "iters",
  "symmetric",
  "clip-search",
  "double-quant",
  "extra",
];
const OTHER_FLAGS = ["plan", "tensor", "include-lm-head", "shard", "shard-from-env", "shards"];

const given = (args: ParsedArgs, f: string): boolean => {
  const v = args.values[f];
  return v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0);
};

/**
 * Refuses (a {@linkcode UsageError}) GPTQ flags without `--method gptq`, and data-free format
 * flags, `--plan`, `--tensor`, `--include-lm-head` or `--backend webgpu` with it.
 *
 * @example
 * ```ts
 * import { checkGptqFlags } from "./gptq_flags.ts";
 * let msg = "";
 * try { checkGptqFlags({ values: { calib: "x.txt" }, positionals: [] }, "nf4"); }
 * catch (e) { msg = (e as Error).message; }
 * if (msg !== "--calib applies to --method gptq only") throw new Error(msg);
 * ```
 */
export function checkGptqFlags(args: ParsedArgs, method: string): void {
  if (method !== "gptq") {
    for (const f of Object.keys(GPTQ_FLAGS)) {
      if (given(args, f)) throw new UsageError(`--${f} applies to --method gptq only`);
    }
    return;
  }
  for (const f of FORMAT_FLAGS) {
    if (given(args, f)) {
      throw new UsageError(
        `--${f} does not apply to --method gptq; give the format with --grid, ` +
          "e.g. --grid higgs:p=2,bits=3",
      );
    }
  }
  for (const f of OTHER_FLAGS) {
    if (given(args, f)) {
      throw new UsageError(
        `--${f} does not apply to --method gptq (it quantizes every decoder projection)`,
      );
    }
  }
  if (args.values.backend === "webgpu") {
    throw new UsageError("--method gptq runs on the CPU; use --backend cpu or auto");
  }
  if (!given(args, "grid")) {
    throw new UsageError(
      "--method gptq needs --grid, the format of the codes, e.g. --grid higgs:p=2,bits=3",
    );
  }
}

/**
 * The job options of a `--method gptq` command line (reads the calibration text; warns about a
 * text that does not look like text).
 */
async function gptqOptionsFromArgs(
  args: ParsedArgs,
  progress: ProgressFactory,
): Promise<GptqCheckpointOptions> {
  const grid = parseGridSpec(String(args.values.grid));
  const samples = intFlag(args, "calib-samples", 128, 1, 1 << 20);
  const ctx = intFlag(args, "calib-ctx", 256, 2, 1 << 20);
  const seed = intFlag(args, "calib-seed", 0, 0, 0xffffffff);
  const percdamp = numberFlag(args, "damp", 0.01, 0, 100);
  const blockSize = intFlag(args, "block", 128, 1, 1 << 16);
  const source = typeof args.values.calib === "string" ? args.values.calib : "brown:train";
  const text = await readTextArg(source);
  for (const w of textWarnings(text, source)) warn("quantize", w);
  return {
    grid,
    calibration: { source, text, samples, ctx, seed },
    percdamp,
    actOrder: Boolean(args.values["act-order"]),
    blockSize,
    progress,
  };
}

/** ‖(W − Ŵ)X‖² / ‖WX‖² over all projections, GPTQ and data-free, and where GPTQ is lower. */
function outputErrors(s: GptqCheckpointSummary) {
  let e = 0, f = 0, energy = 0, lower = 0;
  for (const p of s.projections) {
    e += p.error;
    f += p.dataFreeError;
    energy += p.energy;
    if (p.error < p.dataFreeError) lower++;
  }
  return {
    gptq: energy > 0 ? e / energy : 0,
    dataFree: energy > 0 ? f / energy : 0,
    lowerOn: lower,
    projections: s.projections.length,
  };
}

/** A finished GPTQ run of `quantlab quantize`: its summary and what the command prints. */
export interface GptqRun {
  /** The job's summary. */
  summary: GptqCheckpointSummary;
  /** The `gptq` member of `--json` output. */
  json(): Record<string, unknown>;
  /** The lines printed after the common summary. */
  lines(): string[];
}

/**
 * Runs `quantlab quantize MODEL --out OUT --method gptq …` (flags checked by checkGptqFlags;
 * `mode` from `--force` / `--resume`).
 */
export async function runGptq(
  args: ParsedArgs,
  input: string,
  out: string,
  mode: OutputMode,
): Promise<GptqRun> {
  const o = await gptqOptionsFromArgs(args, progressBars(Boolean(args.values.quiet)));
  const s = await gptqCheckpoint(input, out, { ...o, mode });
  const c = s.calibration;
  const e = outputErrors(s);
  const grid = formatGridSpec(o.grid);
  return {
    summary: s,
    json: () => ({
      grid,
      damp: o.percdamp,
      actOrder: o.actOrder,
      blockSize: o.blockSize,
      calibration: c,
      layers: s.layers,
      outputError: e,
    }),
    lines: () => [
      `gptq         ${grid}, damp ${o.percdamp}, block ${o.blockSize}` +
      `${o.actOrder ? ", act-order" : ""}; ${s.layers.quantized} layers` +
      (s.layers.resumed ? ` (+${s.layers.resumed} from an earlier run)` : ""),
      `calibration  ${c.samples} windows × ${c.ctx} tokens of ${c.source} (${c.textTokens} ` +
      `tokens, seed ${c.seed})`,
      ...(e.projections > 0
        ? [
          `output error ${e.gptq.toFixed(5)} vs data-free ${e.dataFree.toFixed(5)} ` +
          `(‖(W−Ŵ)X‖²/‖WX‖² on the calibration inputs; lower on ${e.lowerOn} of ` +
          `${e.projections} projections)`,
        ]
        : []),
    ],
  };
}
