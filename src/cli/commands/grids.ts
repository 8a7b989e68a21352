/**
 * `quantlab grids`: build, list and check the MSE-optimal Gaussian grids.
 *
 * - `quantlab grids build [--p P --n N] [--all] [--seed K] [--out DIR]` computes grids (exact
 *   Lloyd–Max for p = 1, seeded Monte-Carlo Lloyd for p ≥ 2, on the CPU pool or `--backend webgpu`)
 *   and writes `DIR/p{p}_n{n}.json` plus `DIR/index.json` (default DIR: assets/grids).
 * - `quantlab grids list` prints the shipped grids with their MSE and the HIGGS targets.
 * - `quantlab grids mse --p P --n N [--samples S --seed K]` re-estimates a shipped grid's MSE on
 *   fresh samples, with its standard error.
 *
 * @module
 */
import {
  type Command,
  commandBackend,
  intFlag,
  numberFlag,
  type ParsedArgs,
  UsageError,
} from "../command.ts";
import { progress } from "../progress.ts";
import { writeFileAtomic } from "../../io/atomic.ts";
import { buildGrid, type BuildOptions } from "../../grids/build.ts";
import { type Grid, gridFileName, gridToJson, HIGGS_TARGETS } from "../../grids/grid.ts";
import {
  clearGridCache,
  GRID_ASSETS_URL,
  type GridIndexEntry,
  listGrids,
  loadGrid,
} from "../../grids/load.ts";
import { estimateMse } from "../../grids/parallel.ts";
import { gpuLloydStepper } from "../../grids/lloyd_gpu.ts";

/** The grids `grids build --all` computes (the shipped set). */
export const DEFAULT_GRIDS: readonly (readonly [number, number])[] = [
  ...Array.from({ length: 255 }, (_, k) => [1, k + 2] as const),
  ...[4, 8, 16, 32, 64, 128, 256, 4096].map((n) => [2, n] as const),
  ...[3, 4, 5, 6, 8].map((p) => [p, 256] as const),
];

function fmtTarget(p: number, n: number, mse: number): string {
  const t = HIGGS_TARGETS[`${p},${n}`];
  if (t === undefined) return "";
  const rel = (mse / t - 1) * 100;
  return `target ${t} (${rel >= 0 ? "+" : ""}${rel.toFixed(3)} %)`;
}

async function updateIndex(dir: string, grids: Grid[]): Promise<void> {
  const path = `${dir}/index.json`;
  let list: GridIndexEntry[] = [];
  try {
    list = (JSON.parse(await Deno.readTextFile(path)) as { grids: GridIndexEntry[] }).grids ?? [];
  } catch {
    list = [];
  }
  for (const g of grids) {
    list = list.filter((e) => !(e.p === g.p && e.n === g.n));
    list.push({
      p: g.p,
      n: g.n,
      file: gridFileName(g.p, g.n),
      mse: g.mse,
      mseStdErr: g.mseStdErr,
      method: g.method,
    });
  }
  list.sort((a, b) => a.p - b.p || a.n - b.n);
  const body = list.map((e) => `    ${JSON.stringify(e)}`).join(",\n");
  await writeFileAtomic(
    path,
    `{\n  "version": 1,\n  "command": "quantlab grids build --all",\n  "grids": [\n${body}\n  ]\n}\n`,
  );
}

/** The optimizer flags of `grids build` (unset flags keep buildGrid's defaults). */
function buildTuning(args: ParsedArgs): BuildOptions {
  const opts: BuildOptions = {};
  const ints = [
    ["train-samples", "trainSamples"],
    ["final-samples", "finalSamples"],
    ["final-iterations", "finalIterations"],
    ["restarts", "restarts"],
  ] as const;
  for (const [flag, key] of ints) {
    if (args.values[flag] !== undefined) opts[key] = intFlag(args, flag, 0, 1, 2 ** 30);
  }
  if (args.values.tol !== undefined) opts.tol = numberFlag(args, "tol", 0, 1e-12, 0.1);
  return opts;
}

async function build(args: ParsedArgs): Promise<void> {
  const all = Boolean(args.values.all);
  const pFlag = args.values.p, nFlag = args.values.n;
  let targets: (readonly [number, number])[];
  if (all) {
    if (pFlag !== undefined || nFlag !== undefined) {
      targets = DEFAULT_GRIDS.filter(([p, n]) =>
        (pFlag === undefined || p === intFlag(args, "p", 0, 1, 64)) &&
        (nFlag === undefined || n === intFlag(args, "n", 0, 2, 65536))
      );
    } else targets = [...DEFAULT_GRIDS];
  } else {
    if (pFlag === undefined || nFlag === undefined) {
      throw new UsageError("grids build needs --p P --n N, or --all");
    }
    targets = [[intFlag(args, "p", 1, 1, 64), intFlag(args, "n", 2, 2, 65536)]];
  }
  const seed = intFlag(args, "seed", 1, 0, 2 ** 31);
  const dir = typeof args.values.out === "string"
    ? args.values.out
    : decodeURIComponent(GRID_ASSETS_URL.pathname).replace(/\/$/, "");
  await Deno.mkdir(dir, { recursive: true });
  const backend = await commandBackend(gridsCommand, args);
  const bar = progress("grids build", targets.length);
  const built: Grid[] = [];
  for (const [p, n] of targets) {
    const opts: BuildOptions = { seed, ...buildTuning(args) };
    let last = 0;
    opts.onProgress = (i) => {
      const now = performance.now();
      if (now - last > 2000 && i.phase !== "done") {
        last = now;
        bar.tick(0, `(${p},${n}) ${i.phase} ${i.iteration} mse ${i.mse.toPrecision(5)}`);
      }
    };
    if (p > 1 && backend.kind === "webgpu") {
      opts.stepper = gpuLloydStepper(backend.gpu, p, n);
      opts.backendName = "webgpu";
    }
    const g = await buildGrid(p, n, opts);
    await writeFileAtomic(`${dir}/${gridFileName(p, n)}`, gridToJson(g));
    built.push(g);
    // Keep the index current so an interrupted --all run still leaves a consistent folder.
    await updateIndex(dir, [g]);
    bar.tick(1, `(${p},${n}) mse ${g.mse.toPrecision(6)} ${fmtTarget(p, n, g.mse)}`);
    if (!all || p > 1) {
      console.log(
        `(${p}, ${n}) mse ${g.mse.toPrecision(6)}${
          g.mseStdErr ? ` ± ${g.mseStdErr.toExponential(2)}` : " (exact)"
        }` +
          ` ${fmtTarget(p, n, g.mse)} iterations ${g.iterations} ${g.seconds?.toFixed(1)} s`,
      );
    }
  }
  bar.done(`${built.length} grids written to ${dir}`);
  clearGridCache();
}

async function list(): Promise<void> {
  const grids = await listGrids();
  console.log("   p      n  bits/coord  mse            ± stderr   method           target");
  for (const g of grids) {
    const bits = Math.log2(g.n) / g.p;
    console.log(
      `${String(g.p).padStart(4)} ${String(g.n).padStart(6)}  ${bits.toFixed(3).padStart(10)}  ` +
        `${g.mse.toExponential(6).padEnd(13)}  ${
          (g.mseStdErr ? g.mseStdErr.toExponential(1) : "exact").padEnd(9)
        }  ` +
        `${g.method.padEnd(15)}  ${fmtTarget(g.p, g.n, g.mse)}`,
    );
  }
}

async function mse(args: ParsedArgs): Promise<void> {
  if (args.values.p === undefined || args.values.n === undefined) {
    throw new UsageError("grids mse needs --p P --n N");
  }
  const p = intFlag(args, "p", 1, 1, 64);
  const n = intFlag(args, "n", 2, 2, 65536);
  const samples = intFlag(args, "samples", 1 << 22, 1000, 2 ** 31);
  const seed = intFlag(args, "seed", 12345, 0, 2 ** 31);
  const g = await loadGrid(p, n);
  const t0 = performance.now();
  const r = await estimateMse(g, { samples, seed });
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `(${p}, ${n}) mse ${r.mse.toPrecision(6)} ± ${r.stdErr.toExponential(2)} ` +
      `(${samples} samples, seed ${seed}, ${secs.toFixed(1)} s); stored ${g.mse.toPrecision(6)}` +
      `${g.mseStdErr ? ` ± ${g.mseStdErr.toExponential(2)}` : " (exact)"} ${
        fmtTarget(p, n, r.mse)
      }`,
  );
}

/** The `grids` command. */
export const gridsCommand: Command = {
  name: "grids",
  summary: "build, list and check the MSE-optimal Gaussian grids (HIGGS)",
  usage: "quantlab grids build [--p P --n N] [--all] [--seed K] [--out DIR] [--final-samples S " +
    "--final-iterations I --train-samples S --restarts R --tol T] | list | " +
    "mse --p P --n N [--samples S --seed K]",
  flags: {
    p: { type: "string", help: "vector dimension p" },
    n: { type: "string", help: "grid size n (2 … 65536)" },
    all: { type: "boolean", help: "build: every shipped grid (filtered by --p/--n if given)" },
    seed: {
      type: "string",
      help: "PRNG seed (build: training seed, default 1; mse: default 12345)",
    },
    samples: { type: "string", help: "mse: Monte-Carlo samples (default 4194304)" },
    out: { type: "string", help: "build: output folder (default assets/grids)" },
    "train-samples": { type: "string", help: "build: training samples (default by p, n)" },
    "final-samples": {
      type: "string",
      help: "build: samples of the final Lloyd pass (default clamp(4000·n, 2²⁰, 2²²))",
    },
    "final-iterations": {
      type: "string",
      help: "build: most final-pass steps (default 20 for p = 2, 300 for p ≥ 3)",
    },
    restarts: { type: "string", help: "build: independent training runs, the best kept" },
    tol: {
      type: "string",
      help: "build: relative MSE change that stops Lloyd (default 1e-5 p = 2, 1e-6 p ≥ 3)",
    },
  },
  async run(args: ParsedArgs): Promise<void> {
    const [sub, ...rest] = args.positionals;
    if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}"`);
    if (sub === "build") return await build(args);
    if (sub === "list") return await list();
    if (sub === "mse") return await mse(args);
    throw new UsageError(`Unknown grids subcommand "${sub ?? ""}"; use build, list or mse`);
  },
};
