/**
 * What the code generators share: the shape of a generated file, formatting with the project's
 * `deno fmt` settings, and writing the files (see `tools/gen.ts` for the convention).
 *
 * @module
 */

/** One generated file: its path from the repository root and its full text. */
export interface GeneratedFile {
  /** Path from the repository root, e.g. `src/hadamard/gen/cpu_kernels.ts`. */
  path: string;
  /** The file's text, exactly as committed. */
  text: string;
}

/** A generator: its script and what it generates. */
export interface Generator {
  /** The generator script, from the repository root. */
  script: string;
  /** Generates the files it owns. */
  generate(): Promise<GeneratedFile[]>;
}

/** The repository root. */
export const ROOT: URL = new URL("../", import.meta.url);

/**
 * Formats TypeScript `text` with the project's `deno fmt` settings (generators emit plain text;
 * the committed file is the formatted one).
 */
export async function formatTs(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", new URL("deno.json", ROOT).pathname, "--ext=ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** Writes the files of `gen` and says so on stdout. */
export async function writeGenerated(gen: Generator): Promise<void> {
  for (const f of await gen.generate()) {
    const url = new URL(f.path, ROOT);
    await Deno.mkdir(new URL("./", url), { recursive: true });
    await Deno.writeTextFile(url, f.text);
    console.log(`wrote ${f.path} (${gen.script})`);
  }
}
