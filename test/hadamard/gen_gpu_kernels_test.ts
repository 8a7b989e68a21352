import assert from "node:assert/strict";
import { generateGpuKernels } from "../../src/hadamard/gen_gpu_kernels.ts";

Deno.test("the register-blocked Hadamard shaders are the output of their generator", async () => {
  for (const [name, text] of Object.entries(generateGpuKernels())) {
    const committed = await Deno.readTextFile(
      new URL(`../../shaders/${name}.wgsl`, import.meta.url),
    );
    assert.equal(
      committed,
      text,
      `shaders/${name}.wgsl: run \`deno run -A src/hadamard/gen_gpu_kernels.ts\` to regenerate`,
    );
  }
});

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
