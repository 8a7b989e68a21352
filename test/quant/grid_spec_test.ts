import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { formatGridSpec, parseGridSpec } from "../../src/quant/grid_spec.ts";
import { getQuantizer } from "../../src/quant/registry.ts";

Deno.test("parseGridSpec() reads each format's options", () => {
  assert.deepEqual(parseGridSpec("higgs:p=2,bits=3"), { method: "higgs", opts: { p: 2, bits: 3 } });
  assert.deepEqual(parseGridSpec("rtn:bits=4,group=128"), {
    method: "rtn",
    opts: { bits: 4, groupSize: 128 },
  });
  assert.deepEqual(parseGridSpec("nf4:group=64"), { method: "nf4", opts: { groupSize: 64 } });
  assert.deepEqual(parseGridSpec("fp4"), { method: "fp4", opts: {} });
  assert.deepEqual(parseGridSpec(" higgs : n=64, p=2, h=512, seed=none, table=f32, rule=rms "), {
    method: "higgs",
    opts: {
      gridSize: 64,
      p: 2,
      hadamard: 512,
      seed: null,
      extra: { tableDtype: "F32", scaleRule: "rms" },
    },
  });
  assert.deepEqual(parseGridSpec("rtn:bits=3,group=channel,symmetric=true,scale=f32"), {
    method: "rtn",
    opts: { bits: 3, groupSize: null, scaleDtype: "F32", extra: { symmetric: true } },
  });
  assert.deepEqual(parseGridSpec("af4:criterion=mse,doubleQuant=false").opts.extra, {
    criterion: "mse",
    doubleQuant: false,
  });
  assert.deepEqual(parseGridSpec("hqq:bits=3,iters=5,lpNorm=0.7").opts, {
    bits: 3,
    extra: { iters: 5, lpNorm: 0.7 },
  });
});

Deno.test("formatGridSpec() round-trips", () => {
  for (
    const s of [
      "higgs:bits=3,p=2",
      "rtn:bits=4,group=channel,symmetric=true",
      "nf4:group=64",
      "higgs:n=64,h=0,seed=none,table=f32,rule=unbiased",
      "hqq",
    ]
  ) {
    assert.equal(formatGridSpec(parseGridSpec(s)), s);
  }
});

Deno.test("a parsed spec is accepted by its quantizer", async () => {
  const w = Float32Array.from({ length: 2 * 128 }, (_, i) => Math.sin(i));
  for (
    const s of ["higgs:p=2,bits=3,h=128", "rtn:bits=4,group=64,clipSearch=true", "af4:group=64"]
  ) {
    const g = parseGridSpec(s);
    const q = await getQuantizer(g.method).quantize(w, 2, 128, g.opts);
    assert.equal(q.method, g.method);
  }
});

Deno.test("parseGridSpec(): one clear error naming the bad part", () => {
  const cases: [string, RegExp][] = [
    ["", /Grid spec "" names no format; use METHOD\[:KEY=VALUE,…\] with METHOD one of higgs/],
    [":bits=3", /Grid spec ":bits=3": names no format/],
    ["gptq:bits=3", /"gptq" is not a format; use one of higgs, hqq, nf4, af4, fp4, rtn/],
    ["higgs:", /nothing follows "higgs:"/],
    ["higgs:p", /"p" is not KEY=VALUE/],
    ["higgs:p=", /"p=" is not KEY=VALUE/],
    ["rtn:p=2", /"p" is not an option of rtn; use bits, group, scale, symmetric/],
    ["nf4:symmetric=true", /"symmetric" is not an option of nf4/],
    ["higgs:bits=three", /bits=three is not a number/],
    ["rtn:group=12.5", /group=12.5 is not an integer/],
    ["rtn:symmetric=yes", /symmetric=yes is not valid; use true or false/],
    ["rtn:scale=bf16", /scale=bf16 is not valid; use f16 or f32/],
    ["higgs:rule=mean", /rule=mean is not valid; use rms or unbiased/],
    ["higgs:p=2,p=1", /"p" is given twice/],
  ];
  for (const [spec, re] of cases) {
    assert.throws(() => parseGridSpec(spec), (e: unknown) => {
      assert.ok(e instanceof QuantlabError && e.code === "bad-argument", String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
      return true;
    }, spec);
  }
});
