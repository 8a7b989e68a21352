/**
 * Rewrites each command's help block in `docs/cli.md` from the CLI itself (the block that
 * `test/cli/docs_test.ts` compares), so that a changed flag needs one command:
 *
 * ```sh
 * ./quantlab deno run --allow-read --allow-write tools/sync_cli_docs.ts
 * ```
 *
 * A command with no `## name` section yet gets one appended (summary sentence and block).
 *
 * @module
 */
import { helpText } from "../src/cli/command.ts";
import { COMMANDS } from "../src/cli/main.ts";

const url = new URL("../docs/cli.md", import.meta.url);
let doc = await Deno.readTextFile(url);
for (const cmd of COMMANDS) {
  const [summary, , ...rest] = helpText(cmd).split("\n");
  const block = "```\n" + rest.join("\n") + "\n```";
  const head = `\n## ${cmd.name}\n`;
  const at = doc.indexOf(head);
  if (at < 0) {
    doc += `${head}\n${summary}.\n\n${block}\n`;
    continue;
  }
  const next = doc.indexOf("\n## ", at + head.length);
  const end = next < 0 ? doc.length : next;
  const section = doc.slice(at, end);
  const b0 = section.indexOf("```\nUsage:");
  const b1 = b0 < 0 ? -1 : section.indexOf("\n```", b0 + 3);
  const body = b0 < 0
    ? `${section.trimEnd()}\n\n${block}\n`
    : section.slice(0, b0) + block + section.slice(b1 + 4);
  const summaryLine = /\n## [^\n]+\n\n[^\n]*\n/;
  doc = doc.slice(0, at) + body.replace(summaryLine, `${head}\n${summary}.\n`) + doc.slice(end);
}
await Deno.writeTextFile(url, doc);
