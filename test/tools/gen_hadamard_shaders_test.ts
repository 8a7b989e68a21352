import assert from "node:assert/strict";
import { generateGpuKernels } from "../../tools/gen_hadamard_shaders.ts";

Deno.test("the generated kernels write out every butterfly of every bit", () => {
  const k = generateGpuKernels();
  // r16: 4 bits × 8 pairs in each of its three butterfly sites (stage 0, shared, last).
  assert.equal(k.hadamard_r16!.match(/let s = /g)?.length, 3 * 4 * 8);
  assert.equal(k.hadamard_r8!.match(/let s = /g)?.length, 3 * 3 * 4);
  assert.equal(k.hadamard_r8_strided!.match(/let s = /g)?.length, 3 * 4);
  assert.match(k.hadamard_r16!, /\{ let s = v7 \+ v15; v15 = v7 - v15; v7 = s; \}/);
  // The workgroup-memory layout whose bank behaviour r_plan_test.ts checks (sharedSlot).
  for (const name of ["hadamard_r8", "hadamard_r16"]) {
    assert.match(k[name]!, /return i \^ \(\(i >> 3u\) & 7u\) \^ \(\(i >> 4u\) & 7u\);/);
  }
});
