// This module is browser compatible.
/**
 * Duplicate-key detection for JSON text. `JSON.parse` silently keeps the last of two equal keys;
 * file formats whose headers are JSON (safetensors, checkpoint indexes) reject duplicates instead,
 * so two readers can never see different contents in one file.
 *
 * @module
 */

/**
 * The first key that occurs twice in one object of the JSON text `text` (at any depth), or
 * `null` when every object's keys are unique. `text` must already be valid JSON (check it with
 * `JSON.parse` first); keys are compared after unescaping, so `"a"` and `"\u0061"` are equal.
 *
 * @example
 * ```ts
 * import { findDuplicateKey } from "./safetensors_json.ts";
 * if (findDuplicateKey('{"a": 1, "b": {"a": 2}}') !== null) throw new Error("unexpected");
 * if (findDuplicateKey('{"a": 1, "\\u0061": 2}') !== "a") throw new Error("unexpected");
 * ```
 */
export function findDuplicateKey(text: string): string | null {
  // One entry per open container: the keys seen so far for objects, null for arrays.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote, skipping escapes.
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22 || j >= n) {
          break;
        } else {
          j++;
        }
      }
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = escaped ? JSON.parse(text.slice(i, j + 1)) as string : text.slice(i + 1, j);
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return null;
}
