import assert from "node:assert/strict";
import {
  outputState,
  publishOutput,
  refuseExistingOutputs,
  refuseOutputOverInput,
  workFolderOf,
} from "../../src/io/output_guard.ts";
import { QuantlabError } from "../../src/core/errors.ts";

async function withTemp(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "quantlab-guard-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const names = (dir: string): string[] => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("refuseExistingOutputs(): new wants nothing there (an empty folder is fine); force and resume pass", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/empty`);
    await Deno.mkdir(`${dir}/full`);
    await Deno.writeTextFile(`${dir}/full/x`, "x");
    await Deno.writeTextFile(`${dir}/f.json`, "{}");
    assert.equal(await outputState(`${dir}/none`), "absent");
    assert.equal(await outputState(`${dir}/empty`), "empty-folder");
    assert.equal(await outputState(`${dir}/full`), "folder");
    assert.equal(await outputState(`${dir}/f.json`), "file");
    const one = (path: string, what = "--out") => [{ path, what }];
    await refuseExistingOutputs(one(`${dir}/none`), "new", { resumable: true });
    await refuseExistingOutputs(one(`${dir}/empty`), "new", { resumable: true });
    const bad = (e: unknown, re: RegExp) =>
      e instanceof QuantlabError && e.code === "bad-argument" && re.test(e.message);
    await assert.rejects(
      refuseExistingOutputs(one(`${dir}/full`), "new", { resumable: true }),
      (e) => bad(e, /--out ".*full" already exists and is not empty; add --force .* --resume/),
    );
    await assert.rejects(
      refuseExistingOutputs(one(`${dir}/f.json`, "the resume log"), "new", { resumable: false }),
      (e) => bad(e, /^the resume log ".*f\.json" already exists; add --force to replace it, or/),
    );
    for (const mode of ["force", "resume"] as const) {
      await refuseExistingOutputs(one(`${dir}/full`), mode, { resumable: true });
    }
  });
});

Deno.test("refuseOutputOverInput(): an output that is the input, or a folder around it, is refused", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeTextFile(`${dir}/m/model.safetensors`, "");
    await Deno.symlink(`${dir}/m`, `${dir}/link`);
    const input = [`${dir}/m`, `${dir}/m/model.safetensors`];
    for (const out of [`${dir}/m`, dir, `${dir}/link`, `${dir}/m/model.safetensors`]) {
      await assert.rejects(refuseOutputOverInput(out, input), /its own input/, out);
    }
    await refuseOutputOverInput(`${dir}/q`, input); // absent
    await Deno.mkdir(`${dir}/mm`); // a name that merely starts like the input's folder
    await refuseOutputOverInput(`${dir}/mm`, input);
  });
});

Deno.test("publishOutput() moves a folder or file into place, replacing an old one whole", async () => {
  await withTemp(async (dir) => {
    const stage = async (name: string, file: string) => {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeTextFile(`${dir}/${name}/${file}`, file);
    };
    await stage("s1", "a.txt");
    await publishOutput(`${dir}/s1`, `${dir}/out/`); // absent, trailing slash
    assert.deepEqual(names(`${dir}/out`), ["a.txt"]);
    await stage("s2", "b.txt");
    await publishOutput(`${dir}/s2`, `${dir}/out`); // replaces a folder
    assert.deepEqual(names(`${dir}/out`), ["b.txt"]);
    await Deno.mkdir(`${dir}/empty`);
    await stage("s3", "c.txt");
    await publishOutput(`${dir}/s3`, `${dir}/empty`); // an empty folder
    assert.deepEqual(names(`${dir}/empty`), ["c.txt"]);
    await Deno.writeTextFile(`${dir}/f.bin`, "old");
    await Deno.writeTextFile(`${dir}/new.bin`, "new");
    await publishOutput(`${dir}/new.bin`, `${dir}/f.bin`); // a file over a file
    assert.equal(await Deno.readTextFile(`${dir}/f.bin`), "new");
    assert.deepEqual(names(dir), ["empty", "f.bin", "out"]);
    assert.equal(workFolderOf(`${dir}/out/`), `${dir}/out.quantlab-work`);
  });
});
