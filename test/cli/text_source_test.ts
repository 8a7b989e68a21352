import assert from "node:assert/strict";
import { QuantlabError } from "../../src/core/errors.ts";
import { loadSotuManifest } from "../../src/data/sotu.ts";
import { sha256 } from "../../src/io/results.ts";
import { readTextArg, TEXT_CORPORA } from "../../src/cli/text_source.ts";

Deno.test("readTextArg() reads sotu:SPLIT (the State of the Union addresses) like brown:SPLIT", async () => {
  assert.equal(TEXT_CORPORA, "{brown|sotu}:{train|valid|test}");
  const m = await loadSotuManifest();
  for (const split of ["valid", "test"] as const) {
    assert.equal(await sha256(await readTextArg(`sotu:${split}`)), m.splits[split].sha256, split);
  }
  // Not an embedded corpus: read as a file path, which does not exist.
  await assert.rejects(
    () => readTextArg("wiki:test"),
    (e: unknown) =>
      e instanceof QuantlabError && e.code === "not-found" &&
      /Cannot read text file wiki:test: .*\(or use \{brown\|sotu\}:\{train\|valid\|test\}\)/
        .test(e.message),
  );
});
