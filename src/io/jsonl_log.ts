/**
 * The resumable JSONL log: one JSON record per line, appended as each unit of work finishes, read
 * back tolerantly (a line cut short by a kill is skipped, and ended before the next append), and
 * a header line that ties the log to one run's configuration. Every resumable job (perplexity,
 * sensitivity, linearity, quantize a checkpoint) logs through this module.
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";
import { describeKeyDifferences } from "./run_key.ts";

/**
 * Appends one JSON record as a line to `path` (created if missing); `sync` waits until the line
 * is on disk (for logs a resumed run trusts).
 *
 * @example
 * ```ts
 * import { appendJsonl, readJsonl } from "./jsonl_log.ts";
 * const dir = await Deno.makeTempDir();
 * await appendJsonl(`${dir}/log.jsonl`, { i: 1 });
 * const recs = await readJsonl(`${dir}/log.jsonl`);
 * await Deno.remove(dir, { recursive: true });
 * if (recs.length !== 1) throw new Error("unexpected");
 * ```
 */
export async function appendJsonl(
  path: string,
  record: unknown,
  opts: { sync?: boolean } = {},
): Promise<void> {
  try {
    const f = await Deno.open(path, { append: true, create: true });
    try {
      const bytes = new TextEncoder().encode(JSON.stringify(record) + "\n");
      for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
      if (opts.sync) await f.syncData();
    } finally {
      f.close();
    }
  } catch (e) {
    throw new QuantlabError("bad-file", `Cannot append to ${path}: ${(e as Error).message}`);
  }
}

/**
 * The records of a JSONL file (empty when it does not exist). Lines that do not parse — the last
 * line of a log cut short by a kill — are skipped.
 *
 * @example
 * ```ts
 * import { readJsonl } from "./jsonl_log.ts";
 * if ((await readJsonl("/no/such/file.jsonl")).length !== 0) throw new Error("unexpected");
 * ```
 */
export async function readJsonl(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new QuantlabError("bad-file", `Cannot read ${path}: ${(e as Error).message}`);
  }
  const out: unknown[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A partial line from an interrupted write.
    }
  }
  return out;
}

/**
 * Ends a cut-short last line of `path` with a newline, so records appended after a kill start on
 * a line of their own (nothing happens when the file is missing or ends with a newline).
 *
 * @example
 * ```ts
 * import { appendJsonl, readJsonl, terminateLastLine } from "./jsonl_log.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/log.jsonl`, '{"i":1}\n{"i":');
 * await terminateLastLine(`${dir}/log.jsonl`);
 * await appendJsonl(`${dir}/log.jsonl`, { i: 2 });
 * const recs = await readJsonl(`${dir}/log.jsonl`);
 * await Deno.remove(dir, { recursive: true });
 * if (recs.length !== 2) throw new Error("unexpected");
 * ```
 */
export async function terminateLastLine(path: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true, write: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new QuantlabError("bad-file", `Cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    const size = (await f.stat()).size;
    if (size === 0) return;
    const last = new Uint8Array(1);
    await f.seek(size - 1, Deno.SeekMode.Start);
    await f.read(last);
    if (last[0] !== 0x0a) {
      await f.seek(0, Deno.SeekMode.End);
      await f.write(new Uint8Array([0x0a]));
    }
  } finally {
    f.close();
  }
}

/**
 * Opens the JSONL log of a resumable run: a new log gets a header line `{kind: "header", schema,
 * schemaVersion, key}`; an existing one must start with the same schema, schema version and a key
 * equal to `key` field for field (both ways: a field only one of them has differs too), else a
 * `bad-argument` error names each field that differs with both values. Returns the records after
 * the header (a half-written last line from a killed run is dropped and the file ends in a
 * newline again). `what` names the run in errors (default: the log's path).
 *
 * @example
 * ```ts
 * import { openRunLog } from "./jsonl_log.ts";
 * const dir = await Deno.makeTempDir();
 * const head = { schema: "demo", schemaVersion: 1, key: { a: 1, b: 2 } };
 * await openRunLog(`${dir}/log.jsonl`, head);
 * const again = await openRunLog(`${dir}/log.jsonl`, head);
 * const msg = await openRunLog(`${dir}/log.jsonl`, { ...head, key: { a: 1, b: 3 } })
 *   .catch((e) => e.message);
 * await Deno.remove(dir, { recursive: true });
 * if (again.length !== 0 || !msg.includes("b was 2, now 3") || msg.includes("a was")) {
 *   throw new Error(msg);
 * }
 * ```
 */
export async function openRunLog(
  path: string,
  header: { schema: string; schemaVersion: number; key: object },
  what = `The run logged in ${JSON.stringify(path)}`,
): Promise<Record<string, unknown>[]> {
  const records = (await readJsonl(path)) as Record<string, unknown>[];
  await terminateLastLine(path);
  const first = records[0];
  if (!first) {
    await appendJsonl(path, { kind: "header", ...header });
    return [];
  }
  const advice = "; add --force to start over, or choose another --out";
  if (first.kind !== "header" || first.schema !== header.schema) {
    throw new QuantlabError(
      "bad-argument",
      `${what} is not a ${header.schema} run (its first line is not its header)${advice}`,
    );
  }
  if (first.schemaVersion !== header.schemaVersion) {
    throw new QuantlabError(
      "bad-argument",
      `${what} was logged in version ${JSON.stringify(first.schemaVersion)} of its format; this ` +
        `build writes version ${header.schemaVersion} and cannot continue it${advice}`,
    );
  }
  const differences = describeKeyDifferences(first.key, header.key);
  if (differences) {
    throw new QuantlabError("bad-argument", `${what} used other settings: ${differences}${advice}`);
  }
  return records.slice(1);
}
