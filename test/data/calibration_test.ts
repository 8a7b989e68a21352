import assert from "node:assert/strict";
import { drawCalibrationWindows } from "../../src/data/calibration.ts";
import { randU32 } from "../../src/core/prng.ts";

const ids = Array.from({ length: 1000 }, (_, i) => i);

Deno.test("drawCalibrationWindows(): window k starts at randU32(seed, k) mod (len − ctx + 1)", () => {
  const w = drawCalibrationWindows(ids, { samples: 5, ctx: 64, seed: 7 });
  assert.equal(w.length, 5);
  for (let k = 0; k < 5; k++) {
    const s = randU32(7, k) % (1000 - 64 + 1);
    assert.deepEqual(w[k], ids.slice(s, s + 64));
  }
});

Deno.test("drawCalibrationWindows(): a seed names the set; more samples extend it", () => {
  const a = drawCalibrationWindows(ids, { samples: 3, ctx: 16, seed: 1 });
  const b = drawCalibrationWindows(ids, { samples: 6, ctx: 16, seed: 1 });
  const c = drawCalibrationWindows(ids, { samples: 3, ctx: 16, seed: 2 });
  assert.deepEqual(b.slice(0, 3), a);
  assert.notDeepEqual(c, a);
});

Deno.test("drawCalibrationWindows(): a text of exactly one window gives that window", () => {
  const w = drawCalibrationWindows(ids.slice(0, 10), { samples: 2, ctx: 10, seed: 3 });
  assert.deepEqual(w, [ids.slice(0, 10), ids.slice(0, 10)]);
});

Deno.test("drawCalibrationWindows(): bad settings and short texts are one clear error", () => {
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(
      f,
      (e: Error & { code?: string }) => e.code === "bad-argument" && re.test(e.message),
    );
  bad(
    () => drawCalibrationWindows(ids, { samples: 0, ctx: 16, seed: 0 }),
    /samples 0 is not valid/,
  );
  bad(() => drawCalibrationWindows(ids, { samples: 1.5, ctx: 16, seed: 0 }), /samples 1.5/);
  bad(() => drawCalibrationWindows(ids, { samples: 1, ctx: 1, seed: 0 }), /window 1 is not valid/);
  bad(() => drawCalibrationWindows(ids, { samples: 1, ctx: 16, seed: 0.5 }), /seed 0.5/);
  bad(
    () => drawCalibrationWindows(ids.slice(0, 9), { samples: 1, ctx: 10, seed: 0 }, "Text X"),
    /^Text X has 9 tokens; one window of 10 needs 10/,
  );
});
