import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/main.ts";
import { helpText } from "../../src/cli/command.ts";

Deno.test("docs/cli.md holds every command's --help text as the CLI prints it", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/cli.md", import.meta.url));
  for (const cmd of COMMANDS) {
    // The page shows the summary as a sentence, then the rest of the help in a code block.
    const [summary, , ...rest] = helpText(cmd).split("\n");
    assert.ok(doc.includes(`\n## ${cmd.name}\n\n${summary}.\n`), `${cmd.name}: summary`);
    assert.ok(
      doc.includes("```\n" + rest.join("\n") + "\n```"),
      `docs/cli.md is out of date for ${cmd.name}; regenerate it from quantlab ${cmd.name} --help`,
    );
  }
});
