/**
 * Results files of experiments: JSON written atomically (temporary file + rename), JSONL logs
 * appended one record per finished unit of work (tolerant of a line cut short by a kill), and the
 * provenance every results file carries (git commit, machine).
 *
 * @module
 */
import { QuantlabError } from "../core/errors.ts";

/**
 * Writes `value` as pretty JSON to `path` atomically: a temporary file in the same folder is
 * renamed over `path`, so readers never see a partial file.
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "./results.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/r.json`, { a: 1 });
 * const back = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
 * await Deno.remove(dir, { recursive: true });
 * if (back.a !== 1) throw new Error("unexpected");
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new QuantlabError("bad-file", `Cannot write ${path}: ${(e as Error).message}`);
  }
}

/**
 * Appends one JSON record as a line to `path` (created if missing).
 *
 * @example
 * ```ts
 * import { appendJsonl, readJsonl } from "./results.ts";
 * const dir = await Deno.makeTempDir();
 * await appendJsonl(`${dir}/log.jsonl`, { i: 1 });
 * const recs = await readJsonl(`${dir}/log.jsonl`);
 * await Deno.remove(dir, { recursive: true });
 * if (recs.length !== 1) throw new Error("unexpected");
 * ```
 */
export async function appendJsonl(path: string, record: unknown): Promise<void> {
  try {
    await Deno.writeTextFile(path, JSON.stringify(record) + "\n", { append: true, create: true });
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
 * import { readJsonl } from "./results.ts";
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
 * import { appendJsonl, readJsonl, terminateLastLine } from "./results.ts";
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
 * The git commit of the repository containing `dir` (read from `.git`, no subprocess), or null.
 *
 * @example
 * ```ts
 * import { gitCommit } from "./results.ts";
 * const c = await gitCommit(".");
 * if (c !== null && !/^[0-9a-f]{40}$/.test(c)) throw new Error("unexpected");
 * ```
 */
export async function gitCommit(dir = "."): Promise<string | null> {
  try {
    let d = await Deno.realPath(dir);
    for (let i = 0; i < 32; i++) {
      const git = `${d}/.git`;
      const st = await Deno.stat(git).catch(() => null);
      if (st?.isDirectory) {
        const head = (await Deno.readTextFile(`${git}/HEAD`)).trim();
        if (!head.startsWith("ref: ")) return /^[0-9a-f]{40}$/.test(head) ? head : null;
        const ref = head.slice(5);
        const loose = await Deno.readTextFile(`${git}/${ref}`).catch(() => null);
        if (loose) return loose.trim();
        const packed = await Deno.readTextFile(`${git}/packed-refs`).catch(() => "");
        for (const line of packed.split("\n")) {
          const [sha, name] = line.split(" ");
          if (name === ref && sha) return sha;
        }
        return null;
      }
      const up = d.replace(/\/[^/]*$/, "");
      if (up === d || up === "") return null;
      d = up;
    }
  } catch {
    return null;
  }
  return null;
}

/**
 * Where a result was computed: OS, CPU count, Deno version, and the backend description.
 *
 * @example
 * ```ts
 * import { machineInfo } from "./results.ts";
 * if (typeof machineInfo("cpu").cpus !== "number") throw new Error("unexpected");
 * ```
 */
export function machineInfo(backend: string): Record<string, string | number> {
  return {
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency ?? 1,
    deno: Deno.version.deno,
    backend,
  };
}

/**
 * Hex SHA-256 of bytes or a string.
 *
 * @example
 * ```ts
 * import { sha256 } from "./results.ts";
 * if ((await sha256("")).slice(0, 8) !== "e3b0c442") throw new Error("unexpected");
 * ```
 */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const h = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Opens the JSONL log of a resumable run: a new log gets a header line `{kind: "header", schema,
 * schemaVersion, key}`; an existing one must start with the same schema version and a key whose
 * every field (compared as JSON) equals `key`, else a `bad-argument` error says so. Returns the
 * records after the header (a half-written last line from a killed run is dropped and the file
 * ends in a newline again).
 *
 * @example
 * ```ts
 * import { openRunLog } from "./results.ts";
 * const dir = await Deno.makeTempDir();
 * const head = { schema: "demo", schemaVersion: 1, key: { a: 1 } };
 * await openRunLog(`${dir}/log.jsonl`, head);
 * const again = await openRunLog(`${dir}/log.jsonl`, head);
 * await Deno.remove(dir, { recursive: true });
 * if (again.length !== 0) throw new Error();
 * ```
 */
export async function openRunLog(
  path: string,
  header: { schema: string; schemaVersion: number; key: object },
): Promise<Record<string, unknown>[]> {
  const records = (await readJsonl(path)) as Record<string, unknown>[];
  await terminateLastLine(path);
  const first = records[0];
  if (!first) {
    await appendJsonl(path, { kind: "header", ...header });
    return [];
  }
  const got = first.key as Record<string, unknown> | undefined;
  const same = first.kind === "header" && first.schemaVersion === header.schemaVersion &&
    typeof got === "object" && got !== null &&
    Object.entries(header.key).every(([k, v]) => JSON.stringify(got[k]) === JSON.stringify(v));
  if (!same) {
    throw new QuantlabError(
      "bad-argument",
      `Log ${path} belongs to another run (${Object.keys(header.key).join(", ")} differ); ` +
        "delete it or choose another output path",
    );
  }
  return records.slice(1);
}
