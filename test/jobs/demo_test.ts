import assert from "node:assert/strict";
import { DEMO_METHODS, runDemo } from "../../src/jobs/demo.ts";
import { relativeMse } from "../../src/quant/error_metrics.ts";
import { DEMO_EVAL, DEMO_RECORD_URL, type DemoRecord } from "../../tools/record_eval.ts";

Deno.test("runDemo() reports every method with the error its theory predicts and its record (±3 %)", async () => {
  const rows = await runDemo({ ...DEMO_EVAL });
  assert.equal(rows.length, DEMO_METHODS.length);
  // Regenerated with `./quantlab deno run --allow-all tools/record_eval.ts`.
  const rec: DemoRecord = JSON.parse(await Deno.readTextFile(DEMO_RECORD_URL));
  assert.deepEqual(rec.matrix, DEMO_EVAL);
  assert.deepEqual(rows.map((r) => r.label), rec.rows.map((r) => r.label));
  for (const [i, r] of rows.entries()) {
    const want = rec.rows[i]!;
    assert.ok(
      Math.abs(r.relError / want.relError - 1) <= 0.03,
      `${r.label}: error ${r.relError} vs the recorded ${want.relError}`,
    );
    assert.equal(r.bitsPerWeight, want.bitsPerWeight, r.label);
    if (r.gridMse !== null) {
      // The rotation makes the layer error equal the grid's Gaussian MSE (higgs.md §4).
      assert.ok(
        Math.abs(r.relError / r.gridMse - 1) < 0.03,
        `${r.label}: ${r.relError} vs ${r.gridMse}`,
      );
      // Codes + one f16 scale per 1024-column block + the f16 table amortized over the matrix.
      const [, p, n] = r.label.match(/\((\d+),(\d+)\)/)!.map(Number) as [number, number, number];
      const expected = Math.log2(n) / p + 16 / 1024 + (n * p * 16) / (64 * 4096);
      assert.ok(Math.abs(r.bitsPerWeight - expected) < 1e-9, `${r.label}: ${r.bitsPerWeight}`);
    }
  }
  const by = (label: string) => rows.find((r) => r.label === label)!;
  // NF4 g64 on N(0,1): MSE 0.0084623 (higgs.md §3) at 4.25 bits; HIGGS (2,256) beats it with fewer bits.
  assert.ok(Math.abs(by("nf4 g64").relError / 0.0084623 - 1) < 0.03);
  assert.equal(by("nf4 g64").bitsPerWeight, 4.25 + (16 * 32) / (64 * 4096));
  assert.ok(by("higgs (2,256) h1024").relError < by("nf4 g64").relError);
  assert.ok(by("higgs (2,256) h1024").bitsPerWeight < by("nf4 g64").bitsPerWeight);
});

Deno.test("the demo's error metric is ‖W−Ŵ‖²/‖W‖²", () => {
  assert.equal(relativeMse(new Float32Array([3, 4]), new Float32Array([3, 0])), 16 / 25);
  assert.equal(relativeMse(new Float32Array([0, 0]), new Float32Array([0, 0])), 0);
});

Deno.test("the demo's perplexity table pairs each method with its bit class's HIGGS reference", async () => {
  const { runTinyPplTable } = await import("../../src/jobs/tiny_ppl.ts");
  const { pairedCompare } = await import("../../src/eval/paired.ts");
  const rows = await runTinyPplTable({
    methods: [
      { label: "rtn int4 g64", method: "rtn", options: { bits: 4, groupSize: 64 }, bitClass: 4 },
      { label: "higgs", method: "higgs", options: { p: 2, bits: 4, hadamard: 256 }, bitClass: 4 },
      { label: "nf4 g64", method: "nf4", options: { groupSize: 64 }, bitClass: 4 },
    ],
    windows: 3,
  });
  assert.deepEqual(rows.map((r) => r.vsReference?.reference ?? null), [null, null, null, "higgs"]);
  const higgs = rows[2]!, nf4 = rows[3]!;
  // Paired on the same windows: the difference of the two perplexities, and z recomputed from the
  // two rows' per-window NLLs (not from the dense model's).
  assert.ok(Math.abs(nf4.vsReference!.deltaPpl - (nf4.ppl - higgs.ppl)) < 1e-9 * nf4.ppl);
  const z = pairedCompare(higgs.windowNll, nf4.windowNll).z!;
  assert.ok(Number.isFinite(z) && z !== 0);
  assert.equal(nf4.vsReference!.z, z);
  assert.notEqual(pairedCompare(rows[0]!.windowNll, nf4.windowNll).z, z);
});
