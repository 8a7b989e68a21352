// Prints "N passed, N failed, N skipped" from a JUnit XML report (deno test --junit-path), then the
// name of every skipped case (each names its reason, e.g. "[skipped: no WebGPU adapter]").
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const unescape = (s: string): string =>
  s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e) => ENTITIES[e]!);
const xml = await Deno.readTextFile(Deno.args[0] ?? "test-results/junit.xml");
let passed = 0;
let failed = 0;
const skipped: string[] = [];
for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = m[3] ?? "";
  if (/<failure\b|<error\b/.test(body)) failed++;
  else if (/<skipped\b/.test(body)) {
    skipped.push(unescape(/\bname="([^"]*)"/.exec(m[1]!)?.[1] ?? "?"));
  } else passed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
for (const name of skipped) console.log(`  skipped: ${name}`);
