/**
 * Run keys: the settings and input hashes that identify a resumable run (a JSONL log's header, a
 * quantize work folder). A rerun resumes only when its key equals the saved one field for field;
 * {@linkcode keyDifferences} names the fields that differ, with both values, for the refusal.
 *
 * @module
 */
import { isObj } from "./paths.ts";

const IDENT = /^[A-Za-z_$][\w$]*$/;

function show(v: unknown): string {
  if (v === undefined) return "absent";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function walk(saved: unknown, now: unknown, path: string, out: string[]): void {
  if (isObj(saved) && isObj(now)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
    for (const k of keys) {
      const sub = IDENT.test(k) ? (path ? `${path}.${k}` : k) : `${path}[${JSON.stringify(k)}]`;
      walk(saved[k], now[k], sub, out);
    }
    return;
  }
  if (JSON.stringify(saved) !== JSON.stringify(now)) {
    out.push(`${path || "key"} was ${show(saved)}, now ${show(now)}`);
  }
}

/**
 * The fields where run key `now` differs from the `saved` one, each as "path was A, now B"
 * (nested objects by dotted path, values as JSON, "absent" for a missing field); empty when they
 * are equal. Fields equal in both are never named.
 *
 * @example
 * ```ts
 * import { keyDifferences } from "./run_key.ts";
 * const d = keyDifferences({ ctx: 8, draws: 1, m: { h: "a" } }, { ctx: 8, draws: 4, m: { h: "b" } });
 * if (d.join("; ") !== 'draws was 1, now 4; m.h was "a", now "b"') throw new Error(d.join("; "));
 * ```
 */
export function keyDifferences(saved: unknown, now: unknown): string[] {
  const out: string[] = [];
  walk(saved, now, "", out);
  return out;
}

/**
 * The differences of {@linkcode keyDifferences} as one phrase: the first `limit` joined by "; ",
 * then "and N more".
 *
 * @example
 * ```ts
 * import { describeKeyDifferences } from "./run_key.ts";
 * const s = describeKeyDifferences({ a: 1, b: 2, c: 3 }, { a: 0, b: 0, c: 0 }, 2);
 * if (s !== "a was 1, now 0; b was 2, now 0; and 1 more") throw new Error(s);
 * ```
 */
export function describeKeyDifferences(saved: unknown, now: unknown, limit = 6): string {
  const d = keyDifferences(saved, now);
  const shown = d.slice(0, limit).join("; ");
  return d.length > limit ? `${shown}; and ${d.length - limit} more` : shown;
}
