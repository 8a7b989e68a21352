import assert from "node:assert/strict";
import { getGpu, loadShader } from "../../src/gpu/device.ts";
import { gpuTest } from "./helpers.ts";
import { selectBackend } from "../../src/gpu/backend.ts";
import { QuantlabError } from "../../src/core/errors.ts";

gpuTest("getGpu() reports the adapter and whether it is a software fallback", (gpu) => {
  assert.ok(gpu.description.length > 0);
  if (/llvmpipe|lavapipe|swiftshader/i.test(gpu.description)) assert.equal(gpu.isFallback, true);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
});

gpuTest("a WGSL compile error becomes a QuantlabError naming the kernel", async (gpu) => {
  const buf = gpu.storage(16);
  await assert.rejects(
    async () => {
      const p = gpu.pipeline(
        "broken_kernel",
        "@compute @workgroup_size(1) fn main() { let x = ; }",
      );
      await gpu.run("broken_kernel", p, [buf], [1]);
    },
    (e: unknown) => e instanceof Error && /broken_kernel/.test(e.message),
  );
  buf.destroy();
});

gpuTest("a binding mismatch is a gpu QuantlabError naming the kernel", async (gpu) => {
  const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
    @group(0) @binding(1) var<storage, read_write> y: array<f32>;
    @compute @workgroup_size(1) fn main() { y[0] = x[0]; }`;
  const buf = gpu.storage(16);
  await assert.rejects(
    () => gpu.run("two_buffers", gpu.pipeline("two_buffers", code), [buf], [1]),
    (e: unknown) => e instanceof QuantlabError && e.code === "gpu" && /two_buffers/.test(e.message),
  );
  buf.destroy();
});

gpuTest("pipeline() caches by key and override constants", async (gpu) => {
  const code = `override K: u32 = 1u;
    @group(0) @binding(0) var<storage, read_write> x: array<u32>;
    @compute @workgroup_size(1) fn main() { x[0] = K; }`;
  const a = gpu.pipeline("k", code, { K: 3 });
  assert.equal(gpu.pipeline("k", code, { K: 3 }), a);
  const b = gpu.pipeline("k", code, { K: 5 });
  assert.notEqual(a, b);
  const buf = gpu.storage(4);
  await gpu.run("k", b, [buf], [1]);
  assert.equal(new Uint32Array(await gpu.read(buf))[0], 5);
  buf.destroy();
});

gpuTest("time() measures a dispatch and bindingRanges() splits large buffers", async (gpu) => {
  const code = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
    @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
      if (g.x < arrayLength(&x)) { x[g.x] += 1.0; } }`;
  const buf = gpu.storage(new Float32Array(256));
  const ms = await gpu.time("inc", [{
    pipeline: gpu.pipeline("inc", code),
    buffers: [buf],
    workgroups: [4],
  }], 3);
  assert.ok(ms >= 0 && Number.isFinite(ms));
  const max = gpu.limits.maxStorageBufferBindingSize;
  const ranges = gpu.bindingRanges(max * 2 + 1000);
  assert.equal(ranges.length, 3);
  assert.equal(ranges.reduce((a, r) => a + r.size, 0), max * 2 + 1000);
  for (const r of ranges) assert.ok(r.size <= max && r.offset % 256 === 0);
  buf.destroy();
});

Deno.test("selectBackend() picks the CPU for auto on a fallback adapter and rejects bad names", async () => {
  const gpu = await getGpu();
  const auto = await selectBackend("auto");
  assert.equal(auto.kind, gpu && !gpu.isFallback ? "webgpu" : "cpu");
  assert.equal((await selectBackend("cpu")).kind, "cpu");
  if (gpu) assert.equal((await selectBackend("webgpu")).kind, "webgpu");
  await assert.rejects(
    () => selectBackend("cuda" as "cpu"),
    /Backend "cuda" is not valid; use one of auto, cpu, webgpu/,
  );
});

Deno.test("loadShader() names a missing shader", async () => {
  await assert.rejects(
    () => loadShader("no_such_kernel"),
    /Shader "no_such_kernel" could not be read|Shader "no_such_kernel" not found/,
  );
});
