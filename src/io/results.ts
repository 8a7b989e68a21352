/**
 * The provenance every results file of an experiment carries (git commit, machine, content
 * hashes). The files themselves are written with `writeJsonAtomic` (`atomic.ts`) and logged with
 * the resumable JSONL log (`jsonl_log.ts`).
 *
 * @module
 */

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
