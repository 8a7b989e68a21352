/**
 * Everything a quantize run (`quantize_checkpoint.ts`) settles before it writes anything: the
 * input and output paths and their checks, the tensors chosen (`quantize_select.ts`), the run key
 * over the hashed inputs (`quantize_inputs.ts`, `quantize_run.ts`), the tensors this process owns
 * (a shard's share, `quantize_shard.ts`) and the planned layout of every output file
 * (`quantize_layout.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import type { DType } from "../core/tensor.ts";
import type { Quantizer, QuantOptions } from "../quant/quantizer.ts";
import { getQuantizer } from "../quant/registry.ts";
import { ioError } from "../io/safetensors.ts";
import { openCheckpoint } from "../io/sharded.ts";
import { resolveModelPath } from "../io/hf_cache.ts";
import { baseName, joinPath, q } from "../io/paths.ts";
import {
  type OutputMode,
  refuseExistingOutputs,
  refuseOutputOverInput,
  workFolderOf,
} from "../io/output_guard.ts";
import {
  mergeOptions,
  methodSettings,
  type QuantizeRunKey,
  quantizeRunKey,
  runIdOf,
} from "./quantize_run.ts";
import { checkInputSizes, checkShapes, hashInputs, readFolderExtras } from "./quantize_inputs.ts";
import { type Shard, shardLabel } from "./shard_plan.ts";
import {
  type QuantizeShardSettings,
  shardManifestPath,
  shardTensors,
  shardWorkFolder,
} from "./quantize_shard.ts";
import { checkSelection, denseTensorsOf, selectTensors } from "./quantize_select.ts";
import { descriptorBudget, type FilePlan, planFile, readSourceHeaders } from "./quantize_layout.ts";
import type { TensorEncoder } from "./quantize_tensor.ts";
import type { QuantizeCheckpointOptions } from "./quantize_options.ts";

/** A quantize run, planned. */
export interface RunPlan {
  /** The input as resolved, and `--out`. */
  input: string;
  out: string;
  inputIsDir: boolean;
  /** Whether the source has an index. */
  indexed: boolean;
  /** Whether the output is one `.safetensors` file. */
  singleOut: boolean;
  /** Source files, and the output files they become. */
  srcFiles: string[];
  outFiles: string[];
  /** The output files in the work folder (set once it is open). */
  stagedFiles: string[];
  /** `OUT.quantlab-work`, and a shard's folder and manifest in it. */
  workDir: string;
  shard?: Shard;
  shardDir?: string;
  manifest?: string;
  /** A folder source's config and files to copy. */
  extras: { config: Record<string, unknown>; copy: string[] } | null;
  /** Every tensor (name, dtype, shape), those quantized, and those this process writes. */
  all: [string, DType, readonly number[]][];
  selected: Set<string>;
  owned: Set<string>;
  /** Quantized tensors this process owns, and tensors of the whole output. */
  ownedQuantized: number;
  total: number;
  method: string;
  options: QuantOptions;
  /** The call's settings (a shard's manifest keeps them for the merge). */
  settings: QuantizeShardSettings;
  key: QuantizeRunKey & { config?: unknown };
  run: string;
  encoder: TensorEncoder;
  /** One plan per output file. */
  plans: FilePlan[];
}

/** Input and output paths, checked: the output never over the input, new unless force/resume. */
async function checkPaths(
  inputPath: string,
  input: string,
  out: string,
  mode: OutputMode,
  shard?: Shard,
) {
  let inputIsDir: boolean;
  try {
    inputIsDir = (await Deno.stat(input)).isDirectory;
  } catch (e) {
    throw ioError(e, input, "open checkpoint");
  }
  const ck = await openCheckpoint(input);
  const srcFiles = [...ck.files];
  const indexed = ck.indexMetadata !== null;
  ck.close();
  if (inputIsDir && out.endsWith(".safetensors")) {
    throw new QuantlabError(
      "bad-argument",
      `Input ${q(inputPath)} is a folder, so the output is a folder too; --out ${q(out)} names ` +
        "a .safetensors file: give --out a folder name",
    );
  }
  const singleOut = !inputIsDir && out.endsWith(".safetensors");
  const outFiles = srcFiles.map((f) => (singleOut ? out : joinPath(out, baseName(f))));
  if (new Set(outFiles).size !== outFiles.length) {
    throw new QuantlabError(
      "bad-argument",
      `Source files of ${q(input)} share a file name; cannot map them to ${q(out)}`,
    );
  }
  // The output: never the input or a folder holding it; absent or empty unless force / resume.
  // A shard checks its own files in the work folder, which the other shards share.
  await refuseOutputOverInput(out, [input, ...srcFiles]);
  const workDir = workFolderOf(out);
  const shardDir = shard ? shardWorkFolder(workDir, shard) : undefined;
  const manifest = shard ? shardManifestPath(workDir, shard) : undefined;
  await refuseExistingOutputs(
    [
      { path: out, what: "--out" },
      ...(shard
        ? [
          { path: shardDir!, what: `the work folder of shard ${shardLabel(shard)}` },
          { path: manifest!, what: `the manifest of shard ${shardLabel(shard)}` },
        ]
        : [{ path: workDir, what: "the work folder of an unfinished run" }]),
    ],
    mode,
    { resumable: true },
  );
  return { input, inputIsDir, srcFiles, indexed, singleOut, outFiles, workDir, shardDir, manifest };
}

/** Plans a run (see the module doc); throws on anything that would fail later. */
export async function planRun(
  inputPath: string,
  out: string,
  opts: QuantizeCheckpointOptions,
  mode: OutputMode,
): Promise<RunPlan> {
  // A Hugging Face cache repository folder reads as the snapshot its refs/main names.
  const input = await resolveModelPath(inputPath);
  const method = opts.method ?? "higgs";
  const quantizer: Quantizer = getQuantizer(method);
  const options = opts.options ?? {};
  const shard = opts.shard;
  const paths = await checkPaths(inputPath, input, out, mode, shard);
  const { inputIsDir, srcFiles } = paths;
  // Headers of every source file: what to quantize. A folder's config and the JSON files it
  // will copy are checked before any work.
  const headers = await readSourceHeaders(srcFiles);
  const extras = inputIsDir ? await readFolderExtras(input) : null;
  const all: [string, DType, readonly number[]][] = [];
  for (const h of headers) for (const [n, i] of h.infos) all.push([n, i.dtype, i.shape]);
  const selected = selectTensors(all, {
    folder: inputIsDir,
    includeLmHead: opts.includeLmHead,
    tensors: opts.tensors,
    dense: extras ? denseTensorsOf(extras.config) : undefined,
  });
  const perTensor = opts.perTensor ?? {};
  checkSelection(selected, all, perTensor, inputPath, inputIsDir);
  // Every chosen tensor's shape against the method, then every input byte: hashed for the run
  // key, the chosen tensors checked for NaN/Inf on the way. The key's settings also validate the
  // options. Nothing has been written so far.
  const chosenInfos = new Map<string, { dtype: DType; shape: readonly number[] }>();
  for (const h of headers) for (const [n, i] of h.infos) if (selected.has(n)) chosenInfos.set(n, i);
  checkShapes(quantizer, options, perTensor, chosenInfos);
  const layout = quantizer.layout;
  if (!layout) {
    throw new QuantlabError(
      "unsupported",
      `Method ${q(method)} cannot say what it stores before quantizing (Quantizer.layout), so ` +
        "it cannot quantize a checkpoint",
    );
  }
  const namesOf = new Map(headers.map((h) => [h.path, h.names]));
  const inputs = opts.trustedInputs
    ? await checkInputSizes(srcFiles, opts.trustedInputs)
    : await hashInputs(srcFiles, selected, (f) => namesOf.get(f)!, opts.progress);
  const key = {
    ...quantizeRunKey(quantizer, options, perTensor, selected, inputs),
    ...(opts.config ? { config: opts.config } : {}),
  };
  const run = await runIdOf(key);
  // The layout of every output file, the same in a single run and in every shard.
  const optionsOf = (name: string) => mergeOptions(options, perTensor[name]);
  const plans = headers.map((h) =>
    planFile(
      h,
      selected,
      (name, rows, cols) => layout.call(quantizer, rows, cols, optionsOf(name), name),
      (name) => descriptorBudget(name, JSON.stringify(methodSettings(quantizer, optionsOf(name)))),
    )
  );
  // A shard writes the tensors it owns; a whole run every one.
  const owned = shard ? shardTensors(headers, shard) : new Set(all.map(([n]) => n));
  return {
    ...paths,
    out,
    stagedFiles: [],
    shard,
    extras,
    all,
    selected,
    owned,
    ownedQuantized: [...owned].filter((n) => selected.has(n)).length,
    total: all.length,
    method,
    options,
    settings: {
      method,
      options,
      ...(opts.perTensor ? { perTensor: opts.perTensor } : {}),
      includeLmHead: opts.includeLmHead ?? false,
      tensors: opts.tensors ?? [],
    },
    key,
    run,
    encoder: {
      quantizer,
      options,
      perTensor,
      ...(opts.backend ? { backend: opts.backend } : {}),
      ...(opts.encode ? { encode: opts.encode } : {}),
    },
    plans,
  };
}
