import assert from "node:assert/strict";
import { absmaxRtn, relativeError, runDemo } from "../../src/experiments/demo.ts";
import { decodeRotated } from "../../src/quant/decode.ts";
import { fillNormal } from "../../src/core/prng.ts";

Deno.test("absmaxRtn() error falls about 4× per added bit on Gaussian data", () => {
  const w = fillNormal(new Float32Array(64 * 1024), 3);
  const e = [2, 3, 4, 8].map((b) => relativeError(w, decodeRotated(absmaxRtn(w, 64, 1024, b, 64))));
  assert.ok(e[0]! > e[1]! && e[1]! > e[2]! && e[2]! > e[3]!);
  assert.ok(e[1]! / e[2]! > 3 && e[1]! / e[2]! < 6, `ratio ${e[1]! / e[2]!}`);
  // int8 absmax g64: step = 2·max/254 ≈ 0.019, error ≈ step²/12 ≈ 3e-5.
  assert.ok(e[3]! > 1e-5 && e[3]! < 1e-4, `int8 error ${e[3]}`);
});

Deno.test("absmaxRtn() keeps all-zero groups exactly zero", () => {
  const w = new Float32Array(128);
  w[70] = 1;
  const what = decodeRotated(absmaxRtn(w, 1, 128, 4, 64));
  assert.equal(what.slice(0, 64).every((v) => v === 0), true);
  assert.ok(Math.abs(what[70]! - 1) < 1e-3);
});

Deno.test("runDemo() reports bits per weight including scales", async () => {
  const rows = await runDemo({ rows: 4, cols: 256, seed: 2 });
  const int4 = rows.find((r) => r.method.includes("int4"))!;
  // 4 + 16/64 (f16 scale) + 32/64 (f32 zero) + table 16·32/(4·256) bits.
  assert.ok(Math.abs(int4.bitsPerWeight - (4 + 0.25 + 0.5 + 0.5)) < 1e-9, `${int4.bitsPerWeight}`);
});
