// The README is the front door and CI runs the test command it shows: these tests keep its first
// two commands, run its library example, and check that every relative link in README.md and
// docs/*.md points to a file (and a heading) that exists.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const README = new URL("README.md", ROOT);

/** The fenced code blocks of a Markdown text, with their info string. */
function codeBlocks(md: string): { lang: string; code: string }[] {
  const out: { lang: string; code: string }[] = [];
  const re = /^```(\S*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
  for (const m of md.matchAll(re)) out.push({ lang: m[1] ?? "", code: m[2] ?? "" });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchors(md: string): Set<string> {
  const prose = md.replace(/^```[\s\S]*?^```\s*$/gm, "");
  return new Set([...prose.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] ?? "")));
}

Deno.test("README's first two commands are ./quantlab demo, then ./quantlab test", async () => {
  const md = await Deno.readTextFile(README);
  const first = codeBlocks(md).find((b) => b.lang === "sh");
  assert.ok(first, "README.md has no sh code block");
  const commands = first.code.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter((l) =>
    l !== ""
  );
  assert.deepEqual(commands.slice(0, 2), ["./quantlab demo", "./quantlab test"]);
});

Deno.test("README's library example runs and prints what the README says", async () => {
  const md = await Deno.readTextFile(README);
  const example = codeBlocks(md).find((b) => b.lang === "ts");
  assert.ok(example, "README.md has no ts code block");
  assert.match(example.code, /from "\.\/mod\.ts"/);
  const source = example.code.replaceAll(
    '"./mod.ts"',
    JSON.stringify(new URL("mod.ts", ROOT).href),
  );
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await import(`data:application/typescript,${encodeURIComponent(source)}`);
  } finally {
    console.log = log;
  }
  assert.equal(lines.length, 4);
  // The README quotes the first line of the output, and the numbers of the others.
  assert.ok(md.includes(`\`${lines[0]}\``), `README.md does not quote "${lines[0]}"`);
  for (const line of lines.slice(1)) {
    const [, bits, t2] = line.match(/^\w+ ([\d.]+) bits\/weight, t² = ([\d.]+)$/) ?? [];
    assert.ok(bits && t2, `unexpected output line "${line}"`);
    assert.ok(md.includes(`(${bits}, ${t2})`), `README.md does not quote "${line}"`);
  }
});

Deno.test("every relative link in README.md and docs/ resolves to a file and heading", async () => {
  const files = [README];
  for (const e of Deno.readDirSync(new URL("docs/", ROOT))) {
    if (e.isFile && e.name.endsWith(".md")) files.push(new URL(`docs/${e.name}`, ROOT));
  }
  const broken: string[] = [];
  for (const file of files) {
    const md = await Deno.readTextFile(file);
    const prose = md.replace(/^```[\s\S]*?^```\s*$/gm, "");
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1] ?? "";
      if (/^[a-z]+:/i.test(link)) continue;
      const [path = "", anchor] = link.split("#");
      const target = path === "" ? file : new URL(path, file);
      const where = `${file.pathname.slice(ROOT.pathname.length)}: ${link}`;
      let text: string | null = null;
      try {
        const stat = await Deno.stat(target);
        if (stat.isFile && target.pathname.endsWith(".md")) text = await Deno.readTextFile(target);
      } catch {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (anchor !== undefined && text !== null && !anchors(text).has(anchor)) {
        broken.push(`${where} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
