import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { fromF16, toF16 } from "../../src/core/dtype.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { gpu, gpuCase } from "../gpu/helpers.ts";
import type { HadamardOptions } from "../../src/hadamard/common.ts";
import { fwhtReference } from "../../src/hadamard/reference.ts";
import { hadamard } from "../../src/hadamard/fwht.ts";
import { encodeHadamard, hadamardGpu, type HadamardGpuOptions } from "../../src/hadamard/gpu.ts";

// llvmpipe is slow (and compiles each pipeline in ~1 s): shapes stay small, ≲ 1e6 elements in all.

function maxRelErr(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / (scale || 1);
}

async function cpu(x: Float32Array, rows: number, cols: number, opts: HadamardOptions) {
  return (await hadamard(x.slice(), rows, cols, opts)).data;
}

Deno.test({
  ...gpuCase("hadamardGpu() equals the CPU transform on random shapes, randomized and not"),
  async fn() {
    const cases: [number, number, number, HadamardGpuOptions][] = [
      [1, 2, 2, { blockSize: 2 }],
      [3, 7, 7, { blockSize: 2, seed: 1 }], // padded (copy kernel)
      [5, 16 * 33, 16 * 33, { blockSize: 16, seed: 8 }], // many blocks per row
      [5, 16 * 33, 16 * 33, { blockSize: 16, seed: 8, inverse: true }],
      [7, 300, 300, { blockSize: 256, seed: 3, inverse: true, normalization: "unnormalized" }],
      [1, 1024, 1024, { blockSize: 1024, normalization: "unnormalized" }],
      [3, 4096, 4096, { blockSize: 4096, seed: 12 }],
      [2, 32768, 32768, { blockSize: 32768 }], // workgroup pass + strided pass
      [1, 32768, 32768, { blockSize: 32768, seed: 4, inverse: true }],
      [2, 32768, 32768, { blockSize: 32768, seed: 4, kernel: "r8" }],
      [3, 300, 300, { blockSize: 256, seed: 3, kernel: "r8", rThreads: 256 }], // padded
    ];
    for (const [rows, cols, , opts] of cases) {
      const x = fillNormal(new Float32Array(rows * cols), rows * 7 + cols);
      const r = await hadamardGpu(gpu!, x, rows, cols, opts);
      const want = await cpu(x, rows, cols, opts);
      const err = maxRelErr(r.data, want);
      assert.ok(err < 2e-6, `[${rows}, ${cols}] ${JSON.stringify(opts)}: ${err}`);
      assert.equal(r.cols, Math.ceil(cols / opts.blockSize) * opts.blockSize);
      assert.equal(r.padded, cols % opts.blockSize !== 0);
    }
  },
});

Deno.test({
  ...gpuCase(
    "hadamardGpu() v4, r8, r16 and scalar workgroup kernels equal the reference, every block size",
  ),
  async fn() {
    // Block sizes 4 … 4096 cover every split of the vec4 bits into radix-8/4/2 rounds; odd row
    // counts, a partial last tile, padding (copy variant) and signs on either side.
    for (let log = 2; log <= 12; log++) {
      const n = 2 ** log;
      const rows = log % 2 ? 3 : 1;
      const cols = log <= 6 ? n * 5 - (log % 3 === 0 ? 3 : 0) : n;
      const x = fillNormal(new Float32Array(rows * cols), 100 + log);
      const opts = { blockSize: n, seed: log, inverse: log % 2 === 0 };
      const want = fwhtReference(x, rows, cols, opts).data;
      const variants: HadamardGpuOptions[] = [
        { ...opts },
        { ...opts, kernel: "scalar" },
        { ...opts, v4Threads: 64 },
        { ...opts, vec4Io: false },
        { ...opts, kernel: "r8" },
        { ...opts, kernel: "r8", vec4Io: false },
      ];
      // r16 compiles slowly on llvmpipe (~1 s a pipeline): the sizes that give it one, two and
      // three stages, with and without the exchange stage.
      if ([2, 5, 8, 10, 12].includes(log)) variants.push({ ...opts, kernel: "r16" });
      if (log === 8 || log === 10) variants.push({ ...opts, kernel: "r16", rCoalesce: false });
      for (const o of variants) {
        const r = await hadamardGpu(gpu!, x, rows, cols, o);
        const err = maxRelErr(r.data, want);
        assert.ok(err < 2e-6, `n = ${n}, [${rows}, ${cols}], ${JSON.stringify(o)}: ${err}`);
      }
    }
  },
});

Deno.test({
  ...gpuCase("hadamardGpu() multi-pass, split-binding and 2-D grid paths equal the reference"),
  async fn() {
    const cases: [number, number, HadamardGpuOptions][] = [
      // Blocks of 256 as a workgroup pass of 8 and strided passes of 3 and 2 bits.
      [6, 512, { blockSize: 256, maxWorkgroupBlock: 8, seed: 5 }],
      [6, 500, { blockSize: 256, maxWorkgroupBlock: 8, seed: 5, inverse: true }],
      // Rows split over several bindings (offsets aligned to 256 bytes).
      [40, 192, { blockSize: 64, maxBindingBytes: 8192, seed: 1 }],
      [40, 100, { blockSize: 64, maxBindingBytes: 8192 }],
      // At most 4 workgroups per grid dimension: a 2-D grid with spare workgroups.
      [100, 256, { blockSize: 16, maxGridDimension: 4, seed: 2 }],
      [3, 4096, { blockSize: 4096, maxWorkgroupBlock: 8, maxGridDimension: 4 }],
      // The r8 kernels: radix-8 strided vec4 passes (3 + 2 bits), split bindings, a 2-D grid.
      [6, 512, { blockSize: 256, maxWorkgroupBlock: 8, seed: 5, kernel: "r8" }],
      [5, 500, { blockSize: 256, maxWorkgroupBlock: 4, inverse: true, kernel: "r8" }],
      [40, 192, { blockSize: 64, maxBindingBytes: 8192, seed: 1, kernel: "r8" }],
      [3, 4096, { blockSize: 4096, maxWorkgroupBlock: 8, maxGridDimension: 4, kernel: "r8" }],
      [3, 8192, { blockSize: 8192, maxWorkgroupBlock: 1024, seed: 2, kernel: "r16" }],
    ];
    for (const [rows, cols, opts] of cases) {
      const x = fillNormal(new Float32Array(rows * cols), rows + cols);
      const r = await hadamardGpu(gpu!, x, rows, cols, opts);
      const err = maxRelErr(r.data, fwhtReference(x, rows, cols, opts).data);
      assert.ok(err < 2e-6, `[${rows}, ${cols}] ${JSON.stringify(opts)}: ${err}`);
    }
  },
});

Deno.test({
  ...gpuCase("encodeHadamard() chains forward and inverse on the GPU without a readback"),
  async fn() {
    const g = gpu!;
    const rows = 4;
    const cols = 200;
    const x = fillNormal(new Float32Array(rows * cols), 9);
    const src = g.storage(x);
    const dst = g.storage(rows * 256 * 4);
    const opts = { blockSize: 128, seed: 77 };
    try {
      const fwd = await encodeHadamard(g, src, dst, rows, cols, opts); // zero-pads to 256
      const inv = await encodeHadamard(g, dst, dst, rows, 256, { ...opts, inverse: true });
      await g.runMany("hadamard-roundtrip", [...fwd, ...inv]);
      const back = new Float32Array(await g.read(dst));
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < 256; c++) {
          const want = c < cols ? x[r * cols + c]! : 0;
          assert.ok(Math.abs(back[r * 256 + c]! - want) < 1e-5, `(${r}, ${c})`);
        }
      }
      // Buffer in, buffer out: in place when no padding is needed.
      const r = await hadamardGpu(g, dst, rows, 256, opts);
      assert.equal(r.data, dst);
      const want = fwhtReference(x, rows, cols, opts).data;
      assert.ok(maxRelErr(new Float32Array(await g.read(dst)), want) < 2e-6);
      // Buffer in, new buffer out when padding is needed.
      const p = await hadamardGpu(g, src, rows, cols, opts);
      assert.ok(p.padded && p.data !== src && p.cols === 256);
      assert.ok(maxRelErr(new Float32Array(await g.read(p.data)), want) < 2e-6);
      p.data.destroy();
      await assert.rejects(
        () => encodeHadamard(g, src, src, rows, cols, opts),
        (e: unknown) => e instanceof QuantlabError && /separate destination/.test(e.message),
      );
      await assert.rejects(
        () => encodeHadamard(g, src, g.storage(16), rows, cols, opts),
        (e: unknown) =>
          e instanceof QuantlabError && /destination buffer holds 16 bytes/.test(e.message),
      );
    } finally {
      src.destroy();
      dst.destroy();
    }
  },
});

Deno.test({
  ...gpuCase("hadamardGpu() with f16 storage matches the CPU transform of the f16-rounded input"),
  async fn() {
    if (!gpu!.hasF16) {
      console.log(`gpu_test: ${gpu!.description} has no shader-f16; f16 storage test skipped`);
      return;
    }
    for (
      const [rows, cols, opts] of [
        [4, 256, { blockSize: 128, seed: 6 }],
        [2, 8192, { blockSize: 8192, inverse: true }],
      ] as [number, number, HadamardGpuOptions][]
    ) {
      const x = fillNormal(new Float32Array(rows * cols), 3);
      const want = await cpu(fromF16(toF16(x)), rows, cols, opts);
      // vec4<f16> loads and stores (v4, r8), and element by element.
      const variants: Partial<HadamardGpuOptions>[] = [{}, { kernel: "r8" }, { vec4Io: false }];
      for (const v of variants) {
        const r = await hadamardGpu(gpu!, x, rows, cols, { ...opts, ...v, storage: "f16" });
        const err = maxRelErr(r.data, want);
        assert.ok(err < 2e-3, `f16 [${rows}, ${cols}] ${JSON.stringify(v)}: ${err}`);
      }
    }
  },
});

Deno.test({
  ...gpuCase("hadamardGpu() refuses NaN input and bad block sizes with a QuantlabError"),
  async fn() {
    const x = new Float32Array(64);
    x[37] = NaN;
    await assert.rejects(
      () => hadamardGpu(gpu!, x, 2, 32, { blockSize: 16 }),
      (e: unknown) =>
        e instanceof QuantlabError && /NaN at index 37 \(row 1, column 5\)/.test(e.message),
    );
    await assert.rejects(
      () => hadamardGpu(gpu!, new Float32Array(96), 1, 96, { blockSize: 96 }),
      (e: unknown) => e instanceof QuantlabError && /96 is not a power of two/.test(e.message),
    );
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => hadamardGpu(gpu!, new Float32Array(64), 1, 64, { blockSize: 64, kernel: "x" as any }),
      (e: unknown) => e instanceof QuantlabError && /kernel "x" is not valid/.test(e.message),
    );
    await assert.rejects(
      () =>
        hadamardGpu(gpu!, new Float32Array(64), 1, 64, {
          blockSize: 64,
          kernel: "r16",
          rThreads: 96,
        }),
      (e: unknown) => e instanceof QuantlabError && /rThreads 96 is not valid/.test(e.message),
    );
    await assert.rejects(
      () => hadamardGpu(gpu!, new Float32Array(96), 1, 96, { blockSize: 128, strict: true }),
      (e: unknown) => e instanceof QuantlabError && /does not divide 96 columns/.test(e.message),
    );
  },
});
