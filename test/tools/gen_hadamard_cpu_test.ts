import assert from "node:assert/strict";
import { planPasses } from "../../tools/gen_hadamard_cpu.ts";

Deno.test("planPasses() covers every bit of the block exactly once, ≤ 3 bits a pass", () => {
  for (let L = 1; L <= 15; L++) {
    const plan = planPasses(L);
    let next = 0;
    for (const [r, b] of plan) {
      assert.equal(b, next);
      assert.ok(r >= 1 && r <= 3);
      next += r;
    }
    assert.equal(next, L);
  }
});
