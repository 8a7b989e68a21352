// This module is browser compatible.
/**
 * The worker side of `pool.ts`: imports the named module, calls the named function on the given
 * arguments and the chunk's range, and posts the result (or the error message) back.
 *
 * @module
 */
interface Job {
  id: number;
  module: string;
  fn: string;
  args: unknown[];
  start: number;
  end: number;
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
scope.onmessage = async (ev: MessageEvent<Job>) => {
  const { id, module, fn, args, start, end } = ev.data;
  try {
    let m = modules.get(module);
    if (!m) {
      m = import(module);
      modules.set(module, m);
    }
    const f = (await m)[fn];
    if (typeof f !== "function") throw new Error(`Module ${module} exports no function "${fn}"`);
    const result = await f(...args, start, end);
    scope.postMessage({ id, ok: true, result });
  } catch (e) {
    scope.postMessage({
      id,
      ok: false,
      error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      code: (e as { code?: string }).code,
    });
  }
};
