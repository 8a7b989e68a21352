/**
 * Safe outputs: what a command may do to an existing output, and how an output folder is moved
 * into place. An {@linkcode OutputMode} says what the user asked for: `"new"` (the default) wants
 * the output absent (or an empty folder); `"force"` replaces it, but only once the new output is
 * complete; `"resume"` continues an unfinished run with the same settings (the job checks them).
 *
 * A folder output is assembled in a work folder beside it (`OUT.quantlab-work/`, see
 * {@linkcode workFolderOf}) and renamed into place by {@linkcode publishOutput} at the very end,
 * so a failed or killed run never leaves a folder at `OUT` that loads as a half checkpoint. A
 * single-file output gets the same guarantee from the atomic writers (`atomic.ts`).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { ioError } from "./safetensors.ts";
import { tempPathFor } from "./atomic.ts";
import { q } from "./paths.ts";

/** What to do with an existing output: refuse it, replace it, or continue its run. */
export type OutputMode = "new" | "force" | "resume";

/** The output modes, as the CLI spells them (`--force`, `--resume`; none = "new"). */
export const OUTPUT_MODES: readonly OutputMode[] = ["new", "force", "resume"];

/** `path` without trailing slashes (`"/"` stays). */
function trimSlashes(path: string): string {
  const t = path.replace(/\/+$/, "");
  return t === "" ? path.slice(0, 1) : t;
}

/**
 * The work folder of an output: `OUT.quantlab-work`, beside it (same folder, so the final rename
 * stays on one file system).
 *
 * @example
 * ```ts
 * import { workFolderOf } from "./output_guard.ts";
 * if (workFolderOf("runs/q/") !== "runs/q.quantlab-work") throw new Error();
 * ```
 */
export function workFolderOf(out: string): string {
  return `${trimSlashes(out)}.quantlab-work`;
}

/** What lies at an output path. */
export type OutputState = "absent" | "empty-folder" | "folder" | "file";

/**
 * What lies at `path`: nothing, an empty folder, a folder with entries, or a file (anything else
 * that is not a folder counts as a file).
 *
 * @example
 * ```ts
 * import { outputState } from "./output_guard.ts";
 * const dir = await Deno.makeTempDir();
 * const s = [await outputState(dir), await outputState(`${dir}/x`)];
 * await Deno.remove(dir);
 * if (s.join() !== "empty-folder,absent") throw new Error(s.join());
 * ```
 */
export async function outputState(path: string): Promise<OutputState> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "absent";
    throw ioError(e, path, "inspect");
  }
  if (!info.isDirectory) return "file";
  try {
    for await (const _ of Deno.readDir(path)) return "folder";
  } catch (e) {
    throw ioError(e, path, "list");
  }
  return "empty-folder";
}

/** One path a run would write, and how to name it in an error. */
export interface OutputPath {
  /** The path. */
  path: string;
  /** How the error names it, e.g. `--out` or `the measurement log`. */
  what: string;
}

/**
 * In mode `"new"`, a `bad-argument` error (exit 2) for the first of `outputs` that exists (an
 * empty folder does not count), naming `--force` and, when the command can resume, `--resume`.
 * Other modes pass.
 *
 * @example
 * ```ts
 * import { refuseExistingOutputs } from "./output_guard.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/r.json`, "{}");
 * const out = { path: `${dir}/r.json`, what: "--out" };
 * const msg = await refuseExistingOutputs([out], "new", { resumable: true }).catch((e) => e.message);
 * await refuseExistingOutputs([out], "force", { resumable: true }); // passes
 * await Deno.remove(dir, { recursive: true });
 * if (!/--force.*--resume/.test(msg)) throw new Error(msg);
 * ```
 */
export async function refuseExistingOutputs(
  outputs: readonly OutputPath[],
  mode: OutputMode,
  opts: { resumable: boolean },
): Promise<void> {
  if (mode !== "new") return;
  for (const { path, what } of outputs) {
    const state = await outputState(path);
    if (state === "absent" || state === "empty-folder") continue;
    const name = what === "--out" ? `--out ${q(path)}` : `${what} ${q(path)}`;
    throw new QuantlabError(
      "bad-argument",
      `${name} already exists${state === "folder" ? " and is not empty" : ""}; add --force to ` +
        "replace it" + (opts.resumable ? " or --resume to continue its run" : "") +
        ", or choose another --out",
    );
  }
}

/** The real path of `path`, or null when it does not exist. */
async function realOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw ioError(e, path, "inspect");
  }
}

/**
 * A `bad-argument` error when the output `out` is one of `inputs` or a folder holding one of
 * them (replacing it would destroy what the run reads); links are followed.
 *
 * @example
 * ```ts
 * import { refuseOutputOverInput } from "./output_guard.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/m.safetensors`, "");
 * const msg = await refuseOutputOverInput(dir, [`${dir}/m.safetensors`]).catch((e) => e.message);
 * await refuseOutputOverInput(`${dir}/q`, [`${dir}/m.safetensors`]); // passes
 * await Deno.remove(dir, { recursive: true });
 * if (!msg.includes("its own input")) throw new Error(msg);
 * ```
 */
export async function refuseOutputOverInput(out: string, inputs: readonly string[]): Promise<void> {
  const target = await realOrNull(out);
  if (target === null) return;
  for (const input of inputs) {
    const real = await realOrNull(input);
    if (real === null) continue;
    if (real === target || real.startsWith(target.endsWith("/") ? target : `${target}/`)) {
      throw new QuantlabError(
        "bad-argument",
        `--out ${q(out)} ${real === target ? "is" : "holds"} ${q(input)}, which this run reads; ` +
          "writing there would destroy its own input: choose another --out",
      );
    }
  }
}

/**
 * Moves a complete output `staged` (file or folder) to `out`. With nothing at `out` (or an empty
 * folder) this is one rename. An existing output is renamed aside first, the new one renamed in,
 * then the old one removed, so `out` holds the old output or the new one at every moment; if the
 * second rename fails, the old output is put back.
 *
 * @example
 * ```ts
 * import { publishOutput } from "./output_guard.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/out`);
 * await Deno.writeTextFile(`${dir}/out/old.txt`, "old");
 * await Deno.mkdir(`${dir}/staged`);
 * await Deno.writeTextFile(`${dir}/staged/new.txt`, "new");
 * await publishOutput(`${dir}/staged`, `${dir}/out`);
 * const names = [...Deno.readDirSync(dir)].map((e) => e.name).join();
 * const files = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name).join();
 * await Deno.remove(dir, { recursive: true });
 * if (names !== "out" || files !== "new.txt") throw new Error(`${names} ${files}`);
 * ```
 */
export async function publishOutput(staged: string, out: string): Promise<void> {
  const target = trimSlashes(out);
  const state = await outputState(target);
  const stagedIsFolder = (await Deno.stat(staged).catch((e) => {
    throw ioError(e, staged, "inspect");
  })).isDirectory;
  if (state === "empty-folder") {
    await Deno.remove(target).catch((e) => {
      throw ioError(e, target, "replace the empty folder");
    });
  }
  if (state === "absent" || state === "empty-folder" || (state === "file" && !stagedIsFolder)) {
    // One rename: a file replaces a file atomically.
    await Deno.rename(staged, target).catch((e) => {
      throw ioError(e, target, "move the finished output to");
    });
    return;
  }
  const aside = tempPathFor(`${target}.quantlab-old`);
  await Deno.rename(target, aside).catch((e) => {
    throw ioError(e, target, "move the old output aside from");
  });
  try {
    await Deno.rename(staged, target);
  } catch (e) {
    await Deno.rename(aside, target).catch(() => {});
    throw ioError(e, target, "move the finished output to");
  }
  await Deno.remove(aside, { recursive: true }).catch((e) => {
    throw ioError(e, aside, "remove the replaced output");
  });
}
