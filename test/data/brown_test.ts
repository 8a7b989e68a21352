import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { QuantlabError } from "../../src/core/errors.ts";
import {
  BROWN_ASSETS_URL,
  brownSampleText,
  brownSplitOf,
  detokenizeBrownLine,
  loadBrown,
  loadBrownManifest,
} from "../../src/data/brown.ts";

Deno.test("detokenizeBrownLine() drops tags and re-attaches punctuation, quotes and brackets", () => {
  const cases: [string, string][] = [
    ["The/at jury/nn said/vbd ./.", "The jury said."],
    ["``/`` No/at evidence/nn ''/'' ,/, he/pps said/vbd ;/. ok/uh", '"No evidence", he said; ok'],
    ["a/at (/( b/nn )/) c/nn ?/.", "a (b) c?"],
    ["1/2/cd mile/nn --/-- far/rb !/.", "1/2 mile -- far!"],
    ["Atlanta's/np$ '/' 60/cd", "Atlanta's' 60"],
    ["   ", ""],
  ];
  for (const [tagged, want] of cases) assert.equal(detokenizeBrownLine(tagged), want, tagged);
  assert.equal(brownSampleText("\n\n\tA/at b/nn ./.\n\n\n\tC/at d/nn ./.\n"), "A b.\nC d.");
});

Deno.test("the corpus splits are disjoint, cover the 500 samples and every genre", async () => {
  const m = await loadBrownManifest();
  const all = [...m.splits.train.samples, ...m.splits.valid.samples, ...m.splits.test.samples];
  assert.equal(all.length, 500);
  assert.equal(new Set(all).size, 500);
  for (const split of ["train", "valid", "test"] as const) {
    for (const s of m.splits[split].samples) assert.equal(brownSplitOf(s), split, s);
  }
  const genres = (xs: string[]) => new Set(xs.map((s) => s[1]));
  assert.equal(genres(m.splits.train.samples).size, 15);
  assert.ok(genres(m.splits.valid.samples).size >= 14 && genres(m.splits.test.samples).size >= 12);
  assert.throws(() => brownSplitOf("cz01"), /"cz01" is not a Brown sample name/);
});

Deno.test("loadBrown() returns the plain text of each split, as the manifest describes", async () => {
  const m = await loadBrownManifest();
  let chars = 0;
  for (const split of ["train", "valid", "test"] as const) {
    const text = await loadBrown(split);
    assert.equal(text.length, m.splits[split].chars);
    assert.equal(text.split("\n").filter((l) => l).length, m.splits[split].lines);
    // No Form C tags left: a word followed by /tag (e.g. "jury/nn") would be one.
    const tags = text.match(/[A-Za-z]\/(?:nn|at|in|jj|vbd|np)\b/g) ?? [];
    assert.ok(tags.length < 5, `${split}: ${tags.slice(0, 5)}`);
    // Samples are separated by one blank line.
    assert.equal(text.split("\n\n").length, m.splits[split].samples.length);
    chars += text.length;
  }
  // ~1.16 M words of text (about 5.97 M characters).
  assert.ok(chars > 5.5e6 && chars < 6.5e6, `${chars}`);
  assert.match(
    await loadBrown("train"),
    /^The Fulton County Grand Jury said Friday an investigation/,
  );
});

Deno.test("loadBrown() refuses a text that does not match its manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const m = await loadBrownManifest();
    await Deno.writeTextFile(`${dir}/brown.json`, JSON.stringify(m));
    await Deno.writeFile(
      `${dir}/${m.splits.valid.file}`,
      gzipSync(new TextEncoder().encode("tampered\n")),
    );
    await assert.rejects(
      () => loadBrown("valid", new URL(`file://${dir}/`)),
      (e: unknown) => e instanceof QuantlabError && /does not match its manifest/.test(e.message),
    );
    await assert.rejects(
      () => loadBrown("test", new URL(`file://${dir}/`)),
      (e: unknown) => e instanceof QuantlabError && /is missing|cannot be read/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(BROWN_ASSETS_URL.href.endsWith("/assets/corpus/"));
});
