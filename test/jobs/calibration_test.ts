import assert from "node:assert/strict";
import { loadCalibration } from "../../src/jobs/calibration.ts";
import { loadTokenizer } from "../../src/model/loader.ts";
import { drawCalibrationWindows } from "../../src/data/calibration.ts";
import { sha256 } from "../../src/io/results.ts";

const MODEL = "assets/tiny-llama";
const TEXT = "The Fulton County Grand Jury said Friday an investigation of recent primary " +
  "election produced no evidence that any irregularities took place. ";

Deno.test("loadCalibration(): the model's tokens, drawn with the seed, and a record of it", async () => {
  const text = new TextEncoder().encode(TEXT.repeat(10));
  const c = await loadCalibration(MODEL, { source: "x.txt", text, samples: 4, ctx: 32, seed: 5 });
  const ids = (await loadTokenizer(MODEL)).encode(TEXT.repeat(10));
  assert.deepEqual(c.windows, drawCalibrationWindows(ids, { samples: 4, ctx: 32, seed: 5 }));
  assert.deepEqual(c.record, {
    source: "x.txt",
    textSha256: await sha256(text),
    textTokens: ids.length,
    samples: 4,
    ctx: 32,
    seed: 5,
  });
});

Deno.test("loadCalibration(): a text shorter than one window names the source and counts", async () => {
  const text = new TextEncoder().encode("The jury said.");
  const n = (await loadTokenizer(MODEL)).encode("The jury said.").length;
  await assert.rejects(
    () => loadCalibration(MODEL, { source: "short.txt", text, samples: 1, ctx: 64, seed: 0 }),
    (e: Error & { code?: string }) =>
      e.code === "bad-argument" &&
      e.message === `The calibration text "short.txt" has ${n} tokens; one window of 64 ` +
          "needs 64: give a longer text or a shorter window",
  );
});

Deno.test("loadCalibration(): a model folder without tokenizer.json is one not-found line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${MODEL}/config.json`, `${dir}/config.json`);
    await assert.rejects(
      () =>
        loadCalibration(dir, {
          source: "brown:train",
          text: new TextEncoder().encode(TEXT),
          samples: 1,
          ctx: 8,
          seed: 0,
        }),
      (e: Error & { code?: string }) =>
        e.code === "not-found" &&
        /has no tokenizer\.json; the calibration text "brown:train"/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
