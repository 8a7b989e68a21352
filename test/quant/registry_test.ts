import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { QUANT_METHODS } from "../../src/quant/format.ts";
import { availableMethods, getQuantizer, QUANTIZERS } from "../../src/quant/registry.ts";

Deno.test("getQuantizer() returns each registered method under its own name", () => {
  for (const m of availableMethods()) {
    assert.equal(getQuantizer(m).method, m);
    assert.equal(QUANTIZERS[m], getQuantizer(m));
    assert.ok(getQuantizer(m).summary.length > 0);
  }
  assert.ok(availableMethods().includes("higgs"));
  for (const m of availableMethods()) assert.ok(QUANT_METHODS.includes(m));
});

Deno.test("getQuantizer() lists the valid methods for an unknown name", () => {
  for (const bad of ["gptq", "toString", "__proto__", ""]) {
    assert.throws(
      () => getQuantizer(bad),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        e.message.includes(`"${bad}"`) && e.message.includes("higgs"),
    );
  }
});
