// Safe outputs of quantizeCheckpoint and dequantizeCheckpoint (issue 17): --force replaces an
// output only when the new one is complete, a killed run leaves nothing at OUT, resume keys hold
// defaults and the whole input's content, a bad weight in the middle stops the run before
// anything is written.
import assert from "node:assert/strict";
import { Tensor } from "../../src/core/tensor.ts";
import { fillNormal } from "../../src/core/prng.ts";
import { QuantlabError } from "../../src/core/errors.ts";
import { SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.ts";
import { QuantizedCheckpoint } from "../../src/io/quantized_checkpoint.ts";
import { dequantizeCheckpoint } from "../../src/jobs/checkpoint_error.ts";
import { quantizeCheckpoint } from "../../src/jobs/quantize_checkpoint.ts";

const w = (rows: number, cols: number, seed: number): Tensor =>
  Tensor.f32([rows, cols], fillNormal(new Float32Array(rows * cols), seed));

async function withTemp(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-out-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const names = (dir: string): string[] => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

const kill = (after: number) => {
  let n = 0;
  return () => {
    if (++n === after) throw new Error("simulated kill");
  };
};

Deno.test("--force keeps the old output whole when the new run fails, and replaces it when it completes", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await writeSafetensors(`${dir}/m/model.safetensors`, {
      "layers.0.a": w(4, 64, 1),
      "layers.0.b": w(4, 64, 2),
    });
    const out = `${dir}/q`;
    await quantizeCheckpoint(`${dir}/m`, out, { method: "nf4" });
    const old = await Deno.readFile(`${out}/model.safetensors`);
    // A killed --force run: the old output is untouched, its work folder stays for --resume.
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m`, out, {
        method: "rtn",
        mode: "force",
        onTensorDone: kill(1),
      }),
      /simulated kill/,
    );
    assert.deepEqual(await Deno.readFile(`${out}/model.safetensors`), old);
    assert.deepEqual(names(dir), ["m", "q", "q.quantlab-work"]);
    // A finished --force run replaces it whole; nothing else is left beside it.
    const s = await quantizeCheckpoint(`${dir}/m`, out, { method: "rtn", mode: "force" });
    assert.equal(s.quantized, 2);
    assert.deepEqual(names(dir), ["m", "q"]);
    const ck = await QuantizedCheckpoint.open(out);
    try {
      assert.equal((await ck.read("layers.0.a")).method, "rtn");
    } finally {
      ck.close();
    }
  });
});

Deno.test("resume refuses a changed setting at its default value, naming it alone; an explicit default resumes", async () => {
  await withTemp(async (dir) => {
    await writeSafetensors(`${dir}/m.safetensors`, { a: w(4, 64, 3), b: w(4, 64, 4) });
    const out = `${dir}/q.safetensors`;
    const run = { method: "rtn", options: { bits: 3 } };
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m.safetensors`, out, { ...run, onTensorDone: kill(1) }),
      /simulated kill/,
    );
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m.safetensors`, out, {
        ...run,
        options: { bits: 3, scaleDtype: "F32" },
        mode: "resume",
      }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        e.message.includes('used other settings: settings.scaleDtype was "F16", now "F32"; add') &&
        !/bits|groupSize|inputs/.test(e.message),
    );
    // The defaults are filled in before comparing: spelling one out is the same run.
    const s = await quantizeCheckpoint(`${dir}/m.safetensors`, out, {
      ...run,
      options: { bits: 3, scaleDtype: "F16", groupSize: 64 },
      mode: "resume",
    });
    assert.equal(s.resumed, 1);
    assert.equal(s.quantized, 1);
  });
});

Deno.test("resume refuses an input whose weights changed in the middle of a 4 MiB file, its size kept", async () => {
  await withTemp(async (dir) => {
    const path = `${dir}/m.safetensors`;
    await writeSafetensors(path, { big: w(1024, 1024, 5), small: w(4, 64, 6) });
    const size = (await Deno.stat(path)).size;
    assert.ok(size > 4 * 2 ** 20);
    const out = `${dir}/q`;
    await assert.rejects(
      quantizeCheckpoint(path, out, {
        method: "nf4",
        tensors: ["small", "big"],
        onTensorDone: kill(1),
      }),
      /simulated kill/,
    );
    // Two finite f32 values in the middle of the file, far from its first and last MiB.
    const f = await Deno.open(path, { read: true, write: true });
    await f.seek(Math.floor(size / 2 / 4) * 4, Deno.SeekMode.Start);
    await f.write(new Uint8Array(new Float32Array([0.25, -0.5]).buffer));
    f.close();
    assert.equal((await Deno.stat(path)).size, size);
    await assert.rejects(
      quantizeCheckpoint(path, out, { method: "nf4", tensors: ["small", "big"], mode: "resume" }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        /inputs\["m\.safetensors"\]\.xxh64 was "xxh64:[0-9a-f]{16}", now "xxh64:[0-9a-f]{16}"/
          .test(e.message) &&
        !e.message.includes(".bytes"),
    );
  });
});

Deno.test("a NaN in a middle tensor stops quantize before it writes anything", async () => {
  await withTemp(async (dir) => {
    const bad = w(8, 64, 8);
    (bad.data as Float32Array)[5 * 64 + 7] = -Infinity;
    await writeSafetensors(`${dir}/m.safetensors`, { a: w(8, 64, 7), b: bad, c: w(8, 64, 9) });
    let quantized = 0;
    await assert.rejects(
      quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q`, {
        method: "nf4",
        onTensorDone: () => void quantized++,
      }),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-value" &&
        /"b" of .* holds -Infinity at index 327 \(row 5, column 7\)/.test(e.message),
    );
    assert.equal(quantized, 0);
    assert.deepEqual(names(dir), ["m.safetensors"]);
  });
});

Deno.test("dequantize refuses an existing --out unless forced, then replaces it", async () => {
  await withTemp(async (dir) => {
    await writeSafetensors(`${dir}/m.safetensors`, { a: w(4, 64, 10) });
    await quantizeCheckpoint(`${dir}/m.safetensors`, `${dir}/q.safetensors`, { method: "nf4" });
    const out = `${dir}/d.safetensors`;
    await Deno.writeTextFile(out, "an older file");
    await assert.rejects(
      dequantizeCheckpoint(`${dir}/q.safetensors`, out),
      (e: unknown) =>
        e instanceof QuantlabError && e.code === "bad-argument" &&
        /already exists; add --force to replace it, or choose/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(out), "an older file");
    await dequantizeCheckpoint(`${dir}/q.safetensors`, out, { mode: "force" });
    const f = await SafetensorsFile.open(out);
    try {
      assert.deepEqual(f.names(), ["a"]);
      assert.equal(f.info("a").dtype, "F32");
    } finally {
      f.close();
    }
    assert.deepEqual(names(dir), ["d.safetensors", "m.safetensors", "q.safetensors"]);
  });
});
