// This module is browser compatible.
/**
 * Plain-text tables for CLI output.
 *
 * @module
 */

/**
 * Formats rows as an aligned text table (numbers right-aligned).
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * const t = formatTable(["method", "bits"], [["nf4", "4.25"]]);
 * if (!t.includes("nf4")) throw new Error();
 * ```
 */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) =>
    rows.every((r) => /^[-+]?[\d.]+(e[-+]?\d+)?%?$|^$/.test(r[i] ?? ""))
  );
  const fmt = (r: string[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
      .trimEnd();
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(fmt)].join("\n");
}
