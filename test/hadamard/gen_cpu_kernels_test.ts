import assert from "node:assert/strict";
import { generateCpuKernels, planPasses } from "../../src/hadamard/gen_cpu_kernels.ts";

Deno.test("cpu_kernels.ts is the formatted output of its generator", async () => {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "fmt",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      "--ext=ts",
      "-",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(generateCpuKernels()));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const committed = await Deno.readTextFile(
    new URL("../../src/hadamard/cpu_kernels.ts", import.meta.url),
  );
  assert.equal(
    new TextDecoder().decode(out.stdout),
    committed,
    "run `deno run -A src/hadamard/gen_cpu_kernels.ts` to regenerate",
  );
});

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
