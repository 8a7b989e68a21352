/**
 * The shape of `src/` (see `docs/architecture.md`): every layer imports only the layers below it,
 * no module imports itself back through a cycle, the file-format layer imports no quantizer, and
 * only the layers that touch files or devices use `Deno.*`.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/**
 * The layers of `src/`, lowest first. A module may import its own folder and any folder of a
 * lower rank; two folders of the same rank never import each other.
 */
const RANK: Readonly<Record<string, number>> = {
  core: 0,
  cpu: 1,
  gpu: 1,
  hadamard: 2,
  grids: 2,
  quant: 3,
  io: 4,
  data: 4,
  lut: 5,
  model: 6,
  train: 7,
  eval: 8,
  jobs: 9,
  cli: 10,
};

/** Folders whose modules may call `Deno.*` (files, FFI, processes, the terminal). */
const DENO_LAYERS = new Set(["cli", "io", "jobs", "cpu"]);

/** The only `src/quant/` modules `src/io/` may import: the stored format, not the methods. */
const IO_QUANT_IMPORTS = new Set([
  "src/quant/format.ts",
  "src/quant/packing.ts",
  "src/quant/meta_quant.ts",
]);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...sourceFiles(path));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The code of a module without its comments (JSDoc examples are not imports). */
function code(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
    .join("\n");
}

/** Relative specifiers a module imports, re-exports or loads dynamically. */
function specifiers(text: string): string[] {
  const c = code(text);
  const out: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of c.matchAll(re)) out.push(m[1]!);
  return out;
}

interface Graph {
  files: string[];
  edges: Map<string, string[]>;
  text: Map<string, string>;
}

function graph(): Graph {
  const files = sourceFiles("src");
  const edges = new Map<string, string[]>();
  const text = new Map<string, string>();
  for (const f of files) {
    const t = Deno.readTextFileSync(join(ROOT, f));
    text.set(f, t);
    const to: string[] = [];
    for (const s of specifiers(t)) {
      if (!s.startsWith(".")) continue; // npm:, node: and import-map names
      to.push(relative(ROOT, normalize(join(ROOT, dirname(f), s))));
    }
    edges.set(f, to);
  }
  return { files, edges, text };
}

const G = graph();
const layerOf = (path: string): string => path.split("/")[1]!;

Deno.test("every folder of src/ is a known layer", () => {
  const unknown = [...new Set(G.files.map(layerOf))].filter((l) => !(l in RANK));
  assert.deepEqual(unknown, [], `add ${unknown.join(", ")} to RANK and to docs/architecture.md`);
});

Deno.test("src/ imports only downward: no module imports a layer above or beside its own", () => {
  const bad: string[] = [];
  for (const [from, tos] of G.edges) {
    for (const to of tos) {
      if (!to.startsWith("src/")) {
        bad.push(`${from} -> ${to} (outside src/)`);
        continue;
      }
      const [a, b] = [layerOf(from), layerOf(to)];
      if (a !== b && !((RANK[b] ?? Infinity) < (RANK[a] ?? -Infinity))) {
        bad.push(`${from} -> ${to} (${a} may not import ${b})`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("src/ has no import cycle between modules", () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const to of G.edges.get(f) ?? []) {
      if (state.get(to) === 1) cycles.push([...stack.slice(stack.indexOf(to)), to].join(" -> "));
      else if (!state.has(to) && G.edges.has(to)) visit(to);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of G.files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

Deno.test("src/io/ imports from src/quant/ only the stored format", () => {
  const bad: string[] = [];
  for (const [from, tos] of G.edges) {
    if (layerOf(from) !== "io") continue;
    for (const to of tos) {
      if (to.startsWith("src/quant/") && !IO_QUANT_IMPORTS.has(to)) bad.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("only cli, io, jobs and cpu use Deno.*; only gpu touches navigator.gpu", () => {
  const bad: string[] = [];
  for (const [f, t] of G.text) {
    const c = code(t);
    // `(globalThis as any).Deno` is the same dependency, reached around the type checker.
    const usesDeno = /\bDeno\.|\bglobalThis\b.{0,40}\bDeno\b/.test(c);
    if (!DENO_LAYERS.has(layerOf(f)) && usesDeno) bad.push(`${f} uses Deno.*`);
    if (layerOf(f) !== "gpu" && /\bnavigator\.gpu\b/.test(c)) bad.push(`${f} uses navigator.gpu`);
  }
  assert.deepEqual(bad, []);
});

Deno.test("the CLI alone turns --backend into a Backend (selectBackend is called only in src/cli/)", () => {
  const bad = [...G.text]
    .filter(([f]) => f !== "src/gpu/backend.ts" && layerOf(f) !== "cli")
    .filter(([, t]) => /\bselectBackend\(/.test(code(t)))
    .map(([f]) => f);
  assert.deepEqual(bad, []);
});
