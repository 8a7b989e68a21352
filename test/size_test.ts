/**
 * Size limits of hand-written `src/` code (see `docs/architecture.md`, "Size limits"): no file over
 * 600 lines and no function over 150 lines unless a `// long: <reason>` comment sits just above
 * it. Generated code (`src/<layer>/gen/`) is exempt. Functions are found with the TypeScript
 * compiler's parser, so strings, regexes, comments and type annotations cannot fool the count.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import ts from "typescript";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/** Most lines a hand-written `src/` file may have. */
const MAX_FILE_LINES = 600;
/** Most lines a function (from the line of its header to its closing brace) may span. */
const MAX_FUNCTION_LINES = 150;
/** The comment that lets one function run longer: `// long: <reason>`. */
const LONG_REASON = /^\/\/\s*long:\s*\S/;

/**
 * Files allowed over {@linkcode MAX_FILE_LINES} for now, with why. An entry that is no longer over
 * the limit fails the test below, so the list only shrinks.
 */
const PENDING_FILES: Readonly<Record<string, string>> = {};

/** Functions (`path name`) allowed over {@linkcode MAX_FUNCTION_LINES} for now, with why. */
const PENDING_FUNCTIONS: Readonly<Record<string, string>> = {};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "gen") out.push(...sourceFiles(path));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Lines of a text as `wc -l` counts them (a final newline ends the last line). */
function lineCount(text: string): number {
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

/** The declaration whose leading comments belong to a function (`const f = () => …` → the const). */
function anchorOf(node: ts.Node): ts.Node {
  let n = node;
  while (
    n.parent && !ts.isSourceFile(n.parent) && !ts.isBlock(n.parent) &&
    !ts.isClassElement(n) && !ts.isStatement(n) && !ts.isPropertyAssignment(n) &&
    !ts.isCallExpression(n.parent)
  ) n = n.parent;
  return n;
}

function hasLongReason(text: string, node: ts.Node): boolean {
  const anchor = anchorOf(node);
  const ranges = ts.getLeadingCommentRanges(text, anchor.getFullStart()) ?? [];
  return ranges.some((r) => LONG_REASON.test(text.slice(r.pos, r.end)));
}

/** `name:line (n lines)` for every function of a module over the limit without a reason. */
export function longFunctions(
  path: string,
  text: string,
  max = MAX_FUNCTION_LINES,
  pending: Readonly<Record<string, string>> = PENDING_FUNCTIONS,
): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = line(node.getStart(sf));
      const n = line(node.body.getEnd()) - first + 1;
      if (n > max && !hasLongReason(text, node)) {
        const named = node.name ?? (ts.isVariableDeclaration(node.parent) ||
            ts.isPropertyAssignment(node.parent)
          ? node.parent.name
          : undefined);
        const name = named && (ts.isIdentifier(named) || ts.isPrivateIdentifier(named))
          ? named.text
          : "(anonymous)";
        if (!(`${path} ${name}` in pending)) out.push(`${path}:${first} ${name} (${n} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const FILES = sourceFiles("src");

Deno.test(`no hand-written src/ file is over ${MAX_FILE_LINES} lines`, () => {
  const bad = FILES
    .filter((f) => !(f in PENDING_FILES))
    .map((f) => [f, lineCount(Deno.readTextFileSync(join(ROOT, f)))] as const)
    .filter(([, n]) => n > MAX_FILE_LINES)
    .map(([f, n]) => `${f} (${n} lines)`);
  assert.deepEqual(bad, [], "split these files by concept (docs/architecture.md)");
});

Deno.test(`no src/ function is over ${MAX_FUNCTION_LINES} lines without a "// long:" reason`, () => {
  const bad = FILES.flatMap((f) => longFunctions(f, Deno.readTextFileSync(join(ROOT, f))));
  assert.deepEqual(bad, [], "split these functions, or say why not in a // long: comment");
});

Deno.test("every pending exception is still over its limit (remove the ones that are not)", () => {
  const stale = Object.keys(PENDING_FILES)
    .filter((f) => lineCount(Deno.readTextFileSync(join(ROOT, f))) <= MAX_FILE_LINES);
  for (const key of Object.keys(PENDING_FUNCTIONS)) {
    const path = key.split(" ")[0]!;
    const found = longFunctions(
      path,
      Deno.readTextFileSync(join(ROOT, path)),
      MAX_FUNCTION_LINES,
      {},
    )
      .some((l) => `${l.split(":")[0]} ${l.split(" ")[1]}` === key);
    if (!found) stale.push(key);
  }
  assert.deepEqual(stale, []);
});

Deno.test("the function-length check counts header to closing brace and honours // long:", () => {
  const body = (n: number) => Array.from({ length: n - 2 }, (_, i) => `  x += ${i};`).join("\n");
  // A function of exactly n lines: header, n - 2 body lines, closing brace.
  const fn = (name: string, n: number) => `function ${name}(x: number): number {\n${body(n)}\n}\n`;
  const src = [
    fn("fits", 5),
    "/** Docs. */\n" + fn("tooLong", 6),
    "/** Docs. */\n// long: one unrolled sequence\n" + fn("excused", 6),
    "export const arrow = (x: number) => {\n" + body(6) + "\n};\n",
    "class C {\n  // long: a reason\n  m(x: number) {\n" + body(6) + "\n  }\n" +
    "  n(x: number) {\n  const s = `{{{`; // braces in a string\n" + body(5) + "\n  }\n}\n",
    "run(() => {\n" + body(6) + "\n});\n",
  ].join("");
  assert.deepEqual(longFunctions("t.ts", src, 5, {}), [
    "t.ts:7 tooLong (6 lines)",
    "t.ts:21 arrow (6 lines)",
    "t.ts:35 n (6 lines)",
    "t.ts:42 (anonymous) (6 lines)",
  ]);
});
