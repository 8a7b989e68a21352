/**
 * Every generated file is committed exactly as its generator writes it today (the convention of
 * `tools/gen.ts`: run `deno task gen` after changing a generator).
 */
import assert from "node:assert/strict";
import { GENERATORS } from "../../tools/gen.ts";

const ROOT = new URL("../../", import.meta.url);

for (const gen of GENERATORS) {
  Deno.test(`the outputs of ${gen.script} equal a fresh generation`, async () => {
    const files = await gen.generate();
    assert.ok(files.length > 0, `${gen.script} generates nothing`);
    for (const f of files) {
      assert.match(f.path, /(^|\/)gen\//, `${f.path}: generated files live in a gen/ folder`);
      assert.match(
        f.text.slice(0, 400).replace(/\n( \*|\/\/) /g, " "),
        new RegExp(`[Gg]enerated by ${gen.script.replace(".", "\\.")}[\\s\\S]*do not edit`),
        `${f.path}: the header names ${gen.script} and says "do not edit"`,
      );
      const committed = await Deno.readTextFile(new URL(f.path, ROOT)).catch(() => "(missing)");
      assert.equal(committed, f.text, `${f.path} is stale: run \`deno task gen\``);
    }
  });
}

Deno.test("every tools/gen_*.ts generator is listed in tools/gen.ts", () => {
  const scripts = [...Deno.readDirSync(new URL("tools/", ROOT))]
    .map((e) => `tools/${e.name}`)
    .filter((n) => /^tools\/gen_[a-z0-9_]+\.ts$/.test(n))
    .sort();
  assert.deepEqual(scripts, GENERATORS.map((g) => g.script).sort());
});
