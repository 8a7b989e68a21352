// quantize --shard I/N then `quantlab merge OUT` writes byte for byte the folder a single run
// writes; each shard reads from the source only the tensors it owns (to quantize; every shard
// hashes the whole input for the run key); shards and the merge follow the output rules (OUT and
// a shard's own files new unless force / resume, nothing at OUT until the merge renames it in); a
// killed or mismatched shard is named, and rerunning only that shard completes the merge.
import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { SafetensorsFile, writeSafetensors } from "../../src/io/safetensors.ts";
import { writeSharded } from "../../src/io/sharded.ts";
import { mergeShards } from "../../src/jobs/merge.ts";
import {
  quantizeCheckpoint,
  type QuantizeCheckpointOptions,
} from "../../src/jobs/quantize_checkpoint.ts";
import type { QuantizeShardManifest } from "../../src/jobs/quantize_shard.ts";
import { runCli } from "../cli/run_cli.ts";

const TINY = "assets/tiny-llama";
const RTN: QuantizeCheckpointOptions = { method: "rtn", options: { bits: 4 } };

/** Every file under `dir` (relative path → bytes), hidden ones included. */
async function files(dir: string, prefix = ""): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await files(dir, rel)) out.set(k, v); }
    else out.set(rel, await Deno.readFile(`${dir}/${rel}`));
  }
  return out;
}

async function assertSameFolder(got: string, want: string): Promise<void> {
  const [a, b] = [await files(got), await files(want)];
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), `${got}: file names`);
  for (const [name, bytes] of b) assert.deepEqual(a.get(name), bytes, `${got}/${name} differs`);
}

/** Bytes of each tensor of the source files (name → bytes). */
async function tensorBytes(paths: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of paths) {
    const f = await SafetensorsFile.open(p);
    for (const n of f.names()) out.set(n, f.info(n).byteLength);
    f.close();
  }
  return out;
}

/**
 * Runs every shard of `count`; checks the tensors each owns (every tensor once, quantized or
 * kept as it is: each shard writes its own into the shared output files) and the bytes each read.
 */
async function runShards(
  input: string,
  sources: string[],
  out: string,
  count: number,
  opts: QuantizeCheckpointOptions = RTN,
): Promise<void> {
  const sizes = await tensorBytes(sources);
  const seen = new Set<string>();
  let quantized = 0, described = 0;
  for (let index = 1; index <= count; index++) {
    const s = await quantizeCheckpoint(input, out, { ...opts, shard: { index, count } });
    // Nothing at OUT until the merge: the shards work beside it.
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    const m: QuantizeShardManifest = JSON.parse(
      await Deno.readTextFile(`${out}.quantlab-work/shard-${index}-of-${count}.json`),
    );
    const mine = Object.keys(m.tensors);
    for (const t of mine) assert.ok(!seen.has(t), `${t} owned twice`), seen.add(t);
    // A shard reads its own tensors, each once, and nothing else.
    const own = mine.reduce((a, t) => a + sizes.get(t)!, 0);
    assert.equal(s.sourceBytesRead, own, `shard ${index}/${count}: bytes read`);
    assert.equal(m.sourceBytesRead, own);
    quantized += s.quantized;
    described += Object.values(m.tensors).filter((r) => r.descriptor).length;
  }
  assert.equal(seen.size, sizes.size);
  assert.equal(described, quantized);
}

Deno.test("quantize --shard I/N merged is byte-identical to a single run for N = 1, 2, 3, 7; shards read only their tensors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-qshards-" });
  try {
    const single = await quantizeCheckpoint(TINY, `${dir}/single`, RTN);
    const sizes = await tensorBytes([`${TINY}/model.safetensors`]);
    const sourceBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
    assert.equal(single.quantized, 28); // 4 layers × 7 projections
    for (const n of [1, 2, 3, 7]) {
      const out = `${dir}/q${n}`;
      await runShards(TINY, [`${TINY}/model.safetensors`], out, n);
      const m = await mergeShards(out);
      assert.equal(m.kind, "quantize");
      assert.equal(m.units, 28);
      // Every source tensor read once in all (the 28 projections, 4 × (4·256² + 3·256·768)
      // weights of 2 bytes, are 6815744 of them).
      assert.equal(m.quantize!.sourceBytesRead.reduce((a, b) => a + b, 0), sourceBytes);
      assert.equal(m.quantize!.summary.quantized, 0);
      await assertSameFolder(out, `${dir}/single`);
      // The work folder (parts, manifests) is gone, as after a single run.
      await assert.rejects(Deno.stat(`${out}.quantlab-work`), Deno.errors.NotFound);
    }

    // A source in several files with an index: the merged index and files match too.
    const src = await SafetensorsFile.open(`${TINY}/model.safetensors`);
    const tensors = new Map();
    for (const n of src.names()) tensors.set(n, await src.read(n));
    src.close();
    const multi = await writeSharded(`${dir}/multi`, tensors, 3 << 20);
    assert.ok(multi.files.length >= 3);
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${TINY}/${f}`, `${dir}/multi/${f}`);
    }
    await quantizeCheckpoint(`${dir}/multi`, `${dir}/multi-single`, RTN);
    await runShards(`${dir}/multi`, multi.files, `${dir}/multi-3`, 3);
    await mergeShards(`${dir}/multi-3`);
    await assertSameFolder(`${dir}/multi-3`, `${dir}/multi-single`);
    assert.ok((await files(`${dir}/multi-3`)).has("model.safetensors.index.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const rejects = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (e: unknown) => e instanceof QuantlabError && re.test(e.message));

Deno.test("quantize shards: a missing, killed or mismatched shard is named; rerunning only it completes the merge", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-qshards-" });
  try {
    await quantizeCheckpoint(TINY, `${dir}/single`, RTN);
    const out = `${dir}/q`;
    await rejects(mergeShards(out), /Nothing to merge at ".*\/q": no shard files/);
    await quantizeCheckpoint(TINY, out, { ...RTN, shard: { index: 1, count: 3 } });
    await rejects(
      mergeShards(out),
      /Shard 2\/3 of ".*\/q" is missing; run quantize with --shard 2\/3/,
    );

    // Shard 2 killed after its third tensor: no manifest, its log cut inside a line.
    let done = 0;
    const kill = () => {
      if (++done === 3) throw new Error("killed");
    };
    await assert.rejects(
      quantizeCheckpoint(TINY, out, { ...RTN, shard: { index: 2, count: 3 }, onTensorDone: kill }),
      /killed/,
    );
    const log = `${out}.quantlab-work/shard-2-of-3/progress.jsonl`;
    await Deno.writeTextFile(log, '{"tensor":"model.layers.', { append: true });
    await quantizeCheckpoint(TINY, out, { ...RTN, shard: { index: 3, count: 3 } });
    await rejects(
      mergeShards(out),
      /Shard 2\/3 of ".*\/q" has not finished \(3 tensors done\); rerun quantize with --shard 2\/3 --resume: it continues/,
    );
    // Its rerun must say --resume (or --force): its folder exists; the others' do not matter.
    await rejects(
      quantizeCheckpoint(TINY, out, { ...RTN, shard: { index: 2, count: 3 } }),
      /the work folder of shard 2\/3 ".*shard-2-of-3" already exists .*--force .*--resume/,
    );
    const again = await quantizeCheckpoint(TINY, out, {
      ...RTN,
      shard: { index: 2, count: 3 },
      mode: "resume",
    });
    assert.equal(again.resumed, 3);

    // The shared output file was lost after the shards finished: the merge names every shard
    // that wrote to it; each rerun with --resume redoes exactly its own tensors (a new birth id).
    const run = [...Deno.readDirSync(`${out}.quantlab-work`)].find((e) =>
      e.isDirectory && e.name.startsWith("run-") && !e.name.endsWith(".births")
    )!.name;
    await Deno.remove(`${out}.quantlab-work/${run}/model.safetensors`);
    await rejects(
      mergeShards(out),
      /Shards 1\/3, 2\/3, 3\/3 of ".*\/q" lost tensors written to ".*model\.safetensors" \(the file was removed or damaged\); rerun quantize with --shard 1\/3 --resume \(and the others\)/,
    );
    for (let index = 1; index <= 3; index++) {
      const own = JSON.parse(
        await Deno.readTextFile(`${out}.quantlab-work/shard-${index}-of-3.json`),
      ) as QuantizeShardManifest;
      const redo = await quantizeCheckpoint(TINY, out, {
        ...RTN,
        shard: { index, count: 3 },
        mode: "resume",
      });
      assert.equal(redo.resumed, 0);
      assert.equal(redo.quantized + redo.copied, Object.keys(own.tensors).length);
      if (index === 1) {
        await rejects(mergeShards(out), /Shards 2\/3, 3\/3 of ".*\/q" lost/);
      }
    }
    // A resumed shard with other settings is refused by its run key, naming the setting.
    await rejects(
      quantizeCheckpoint(TINY, out, {
        method: "rtn",
        options: { bits: 3 },
        shard: { index: 1, count: 3 },
        mode: "resume",
      }),
      /shard-1-of-3.* used other settings: settings\.bits was 4, now 3/,
    );
    await mergeShards(out);
    await assertSameFolder(out, `${dir}/single`);
    // OUT exists now: a shard or a merge into it needs --force (a shard says --resume too).
    await rejects(
      quantizeCheckpoint(TINY, out, { ...RTN, shard: { index: 1, count: 3 } }),
      /--out ".*\/q" already exists and is not empty; add --force .* or --resume/,
    );
    // --resume of a shard whose run was merged: nothing to do, its tensors count as resumed.
    const merged = await quantizeCheckpoint(TINY, out, {
      ...RTN,
      shard: { index: 3, count: 3 },
      mode: "resume",
    });
    assert.equal(merged.quantized, 0);
    assert.ok(merged.resumed > 0);
    await assert.rejects(Deno.stat(`${out}.quantlab-work`), Deno.errors.NotFound);
    // Forced shards over an existing OUT: the merge replaces it only with force, whole.
    await Deno.writeTextFile(`${out}/stale.txt`, "old");
    for (let index = 1; index <= 2; index++) {
      await quantizeCheckpoint(TINY, out, { ...RTN, shard: { index, count: 2 }, mode: "force" });
    }
    await rejects(mergeShards(out), /--out ".*\/q" already exists and is not empty; add --force/);
    assert.ok((await Deno.stat(`${out}/stale.txt`)).isFile);
    await mergeShards(out, { force: true });
    await assertSameFolder(out, `${dir}/single`);

    // A shard made with other options than the others.
    const mixed = `${dir}/mixed`;
    await quantizeCheckpoint(TINY, mixed, { ...RTN, shard: { index: 1, count: 2 } });
    await quantizeCheckpoint(TINY, mixed, {
      method: "rtn",
      options: { bits: 3 },
      shard: { index: 2, count: 2 },
    });
    await rejects(
      mergeShards(mixed),
      /Shard 2\/2 of ".*\/mixed" was made by another run than shard 1\/2 \(settings\.bits was 4, now 3\); rerun it with shard 1's command line and --shard 2\/2 --force/,
    );
    // Shards of two splits side by side.
    await quantizeCheckpoint(TINY, mixed, { ...RTN, shard: { index: 1, count: 3 } });
    await rejects(mergeShards(mixed), /holds shards of 2 different splits \(of 2, of 3\)/);

    // The CLI: --shard with --json is refused in one line (exit 2); a shard prints what is next.
    const r = await runCli(["quantize", TINY, "-o", `${dir}/c`, "--shard", "1/2", "--json"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--json does not go with --shard/);
    const c = await runCli([
      "quantize",
      TINY,
      "-o",
      `${dir}/c`,
      "--method",
      "rtn",
      "--shard",
      "1/2",
      "-q",
    ]);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /shard +1\/2: quantized 12 tensors, read 4\.\d\d MiB of source tensors/);
    assert.match(c.out, /next +quantlab merge .*\/c \(once all 2 shards are done\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("quantlab merge trusts the shards' content hashes but refuses an input whose size changed since they ran", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ql-qshards-size-" });
  try {
    for (
      const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"]
    ) {
      await Deno.copyFile(`${TINY}/${f}`, `${dir}/${f}`);
    }
    const out = `${dir}/q2`;
    await runShards(dir, [`${dir}/model.safetensors`], out, 2);
    // The same tensors rewritten with metadata: a valid file of another size.
    const src = await SafetensorsFile.open(`${dir}/model.safetensors`);
    const tensors = new Map();
    for (const n of src.names()) tensors.set(n, await src.read(n));
    src.close();
    await writeSafetensors(`${dir}/model.safetensors`, Object.fromEntries(tensors), { note: "x" });
    await rejects(mergeShards(out), /model\.safetensors.* changed since they ran/);
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
