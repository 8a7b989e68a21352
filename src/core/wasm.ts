// This module is browser compatible.
/**
 * The plumbing shared by the project's WebAssembly SIMD kernels (Hadamard, LUT matmul, Llama
 * element-wise ops): each kernel's WAT lives in a build script, is assembled with WABT (npm
 * `wabt@1.0.39`) and committed as a base64 TypeScript module, which the runtime compiles once.
 *
 * @module
 */

/**
 * Decodes a base64 WebAssembly module and compiles it; null when the engine rejects it (no SIMD,
 * say), so callers fall back to their TypeScript loops.
 *
 * @example
 * ```ts
 * import { compileBase64Wasm } from "./wasm.ts";
 * // The empty module: magic number and version 1.
 * if (!compileBase64Wasm("AGFzbQEAAAA=")) throw new Error();
 * if (compileBase64Wasm("AAAA") !== null) throw new Error();
 * ```
 */
export function compileBase64Wasm(b64: string): WebAssembly.Module | null {
  try {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    return null;
  }
}

/**
 * Assembles WebAssembly text with WABT (npm `wabt@1.0.39`; build scripts and their tests only) and
 * checks that the engine accepts the result. `features` are WABT's flags (`simd`, `threads`,
 * `bulk_memory`, …).
 */
export async function assembleWat(
  name: string,
  wat: string,
  features: Record<string, boolean>,
): Promise<Uint8Array<ArrayBuffer>> {
  // A computed specifier keeps `deno check` from resolving the npm package.
  const spec = "npm:wabt@1.0.39";
  const wabt = await (await import(spec)).default();
  const mod = wabt.parseWat(name, wat, features);
  try {
    mod.resolveNames();
    // The engine's WebAssembly.validate below is the check (WABT's own rejects shared memories).
    const { buffer } = mod.toBinary({}) as { buffer: Uint8Array<ArrayBuffer> };
    if (!WebAssembly.validate(buffer)) throw new Error(`WABT produced an invalid module (${name})`);
    return buffer;
  } finally {
    mod.destroy();
  }
}

/**
 * The source of a generated `*_wasm_bytes.ts` module: `doc` (the module doc's lines, each starting
 * with " * "), then `export const NAME: string` holding the bytes in base64, 90 characters a line.
 *
 * @example
 * ```ts
 * import { wasmBytesSource } from "./wasm.ts";
 * const src = wasmBytesSource("X_BASE64", " * Test.", new Uint8Array([0, 97]));
 * if (!src.includes('export const X_BASE64: string =\n  "AGE=";')) throw new Error(src);
 * ```
 */
export function wasmBytesSource(name: string, doc: string, bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 90) lines.push(`  "${b64.slice(i, i + 90)}"`);
  return `// This module is browser compatible.
/**
${doc}
 *
 * @module
 */

/** The module's bytes, base64 (${bytes.length} bytes). */
export const ${name}: string =
${lines.join(" +\n")};
`;
}
