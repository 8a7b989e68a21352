import assert from "node:assert/strict";
import { runPerplexityJob } from "../../src/jobs/ppl.ts";
import { readJsonl } from "../../src/io/jsonl_log.ts";
import { LlamaModel } from "../../src/model/llama.ts";
import { llamaConfig } from "../../src/model/config.ts";
import { randomLlamaWeights } from "../../src/model/random.ts";
import { tokens } from "../model/helpers.ts";

const c = llamaConfig({ vocabSize: 60 });
const model = LlamaModel.fromWeights(c, randomLlamaWeights(c, 61));
const ids = tokens(70, 60);
const key = { modelHash: "abc", textSha256: "def", ctx: 16, stride: 8, tokens: 70 };

Deno.test("runPerplexityJob() resumes after a simulated kill with the same result", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const whole = await runPerplexityJob({ model, ids, key, outPath: `${dir}/whole.json` });
    const log = `${dir}/r.json.windows.jsonl`;
    let n = 0;
    await assert.rejects(() =>
      runPerplexityJob({
        model,
        ids,
        key,
        logPath: log,
        outPath: `${dir}/r.json`,
        afterWindow: () => {
          if (++n === 3) throw new Error("killed");
        },
      }), /killed/);
    await Deno.stat(`${dir}/r.json`).then(
      () => assert.fail("no results file before the end"),
      () => {},
    );
    // A kill can also leave half a line behind.
    await Deno.writeTextFile(log, '{"kind":"window","index":3,"be', { append: true });
    let computed = 0;
    const resumed = await runPerplexityJob({
      model,
      ids,
      key,
      logPath: log,
      outPath: `${dir}/r.json`,
      afterWindow: () => void computed++,
    });
    assert.equal(resumed.resumedWindows, 3);
    assert.equal(computed, whole.run.windows.length - 3);
    assert.deepEqual(resumed.run.windows, whole.run.windows);
    assert.equal(resumed.run.ppl, whole.run.ppl);
    const doc = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
    assert.equal(doc.schema, "quantlab.perplexity");
    assert.equal(doc.schemaVersion, 1);
    assert.equal(doc.model.hash, "abc");
    assert.equal(doc.result.ppl, whole.run.ppl);
    assert.equal(doc.windows.length, whole.run.windows.length);
    const lines = await readJsonl(log);
    assert.equal((lines[0] as { kind: string }).kind, "header");
    // A finished log makes a rerun instant.
    const done = await runPerplexityJob({ model, ids, key, logPath: log });
    assert.equal(done.run.computedWindows, 0);
    assert.equal(done.run.ppl, whole.run.ppl);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runPerplexityJob() refuses a log of another run, naming only what differs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = `${dir}/log.jsonl`;
    await runPerplexityJob({ model, ids, key, logPath: log });
    await assert.rejects(
      () => runPerplexityJob({ model, ids, key: { ...key, modelHash: "other" }, logPath: log }),
      (e: unknown) =>
        e instanceof Error && e.message.includes(
          'used other settings: modelHash was "abc", now ' +
            '"other"; add --force',
        ) && !e.message.includes("ctx"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
