/**
 * Generator of `src/hadamard/gen/cpu_kernels.ts`, the unrolled butterfly kernels of the CPU fast Walsh–Hadamard
 * transform. Run `deno task gen` after changing it; a test checks
 * that the committed file equals the generator's output.
 *
 * Why generated: V8 runs a butterfly at about the speed of its typed-array accesses, so the kernels
 * keep 2–8 values in locals (radix-2/4/8), hold the block in a Float64Array scratch between passes
 * (no f32↔f64 conversion per pass), use literal strides, and every call site calls one function
 * (monomorphic). Writing ~60 such functions by hand would be error-prone.
 *
 * Plan for a block of n = 2^L: the bits of the index are split into chunks of ≤ 3 bits (radix ≤ 8),
 * lowest first. The first chunk is done while loading the f32 data (contiguous groups, random signs
 * and the NaN check fused in), the last while storing it back (scale and inverse signs fused in),
 * the others in the f64 scratch. Blocks larger than 2^12 do their low 12 bits in L1-sized
 * sub-blocks first, then the high bits over the whole block (in L2).
 *
 * @module
 */
import { SUB_LOG } from "../src/hadamard/common.ts";
import { formatTs, type GeneratedFile, writeGenerated } from "./generated.ts";

export { SUB_LOG };

/** Largest supported log2 block size. */
export const MAX_LOG = 15;

/** Splits `bits` into chunks of at most 3 bits, as even as possible, larger chunks first. */
export function splitBits(bits: number): number[] {
  const passes = Math.ceil(bits / 3);
  const out: number[] = [];
  let rem = bits;
  for (let i = 0; i < passes; i++) {
    const c = Math.ceil(rem / (passes - i));
    out.push(c);
    rem -= c;
  }
  return out;
}

/**
 * The passes of a block of 2^L: `[radixLog, strideLog]` in order; the first is the load and the
 * last the store (a single chunk is loaded, then copied out).
 *
 * @example
 * ```ts
 * import { planPasses } from "./gen_hadamard_cpu.ts";
 * if (JSON.stringify(planPasses(10)) !== "[[3,0],[3,3],[2,6],[2,8]]") throw new Error();
 * ```
 */
export function planPasses(L: number): [number, number][] {
  const low = Math.min(L, SUB_LOG);
  const chunks = [...splitBits(low), ...splitBits(L - low)];
  const out: [number, number][] = [];
  let b = 0;
  for (const c of chunks) {
    out.push([c, b]);
    b += c;
  }
  return out;
}

function butterfly(R: number, ind: string): { lines: string[]; out: string[] } {
  const lines: string[] = [];
  let names = Array.from({ length: R }, (_, k) => `a${k}`);
  let stage = 0;
  for (let h = 1; h < R; h <<= 1) {
    const p = "bcd"[stage++]!;
    const next = names.slice();
    for (let k = 0; k < R; k++) {
      if ((k & h) !== 0) continue;
      lines.push(`${ind}const ${p}${k} = ${names[k]} + ${names[k + h]};`);
      lines.push(`${ind}const ${p}${k + h} = ${names[k]} - ${names[k + h]};`);
      next[k] = `${p}${k}`;
      next[k + h] = `${p}${k + h}`;
    }
    names = next;
  }
  return { lines, out: names };
}

const plus = (base: string, off: number | string): string => off === 0 ? base : `${base} + ${off}`;

function load(R: number, signed: boolean): string {
  const ind = "    ";
  const b = butterfly(R, ind);
  const sig = signed
    ? `x: Float32Array,\n  xo: number,\n  t: Float64Array,\n  to: number,\n  len: number,\n  sg: Float64Array,\n  c0: number,\n  cols: number,\n`
    : `x: Float32Array,\n  xo: number,\n  t: Float64Array,\n  to: number,\n  len: number,\n`;
  const loads = Array.from(
    { length: R },
    (_, k) => `${ind}const a${k} = x[${plus("i", k)}]!${signed ? ` * sg[${plus("c", k)}]!` : ""};`,
  );
  return `/** Loads x[xo, xo+len) into t[to, …) with radix-${R} butterflies on bits 0–${
    Math.log2(R) - 1
  }${
    signed ? ", after multiplying by the signs sg[column]" : ""
  }; returns the index of the first non-finite input or −1. */
export function load${R}${signed ? "s" : ""}(
  ${sig.trimStart()}): number {
${signed ? "  let c = c0;\n" : ""}  for (let j = 0; j < len; j += ${R}) {
    const i = xo + j;
${loads.join("\n")}
${b.lines.join("\n")}
    if (${b.out[0]} - ${b.out[0]} !== 0) {
      const bad = firstNonFinite(x, i, ${R});
      if (bad >= 0) return bad;
    }
    const o = to + j;
${b.out.map((v, k) => `${ind}t[${plus("o", k)}] = ${v};`).join("\n")}
${signed ? `    c += ${R};\n    if (c === cols) c = 0;\n` : ""}  }
  return -1;
}
`;
}

function mid(R: number, s: number): string {
  const ind = "      ";
  const b = butterfly(R, ind);
  return `/** Radix-${R} butterflies at stride ${s} on t[to, to+len). */
export function mid${R}_${s}(t: Float64Array, to: number, len: number): void {
  for (let hi = to; hi < to + len; hi += ${R * s}) {
    for (let j = hi; j < hi + ${s}; j++) {
${Array.from({ length: R }, (_, k) => `${ind}const a${k} = t[${plus("j", k * s)}]!;`).join("\n")}
${b.lines.join("\n")}
${b.out.map((v, k) => `${ind}t[${plus("j", k * s)}] = ${v};`).join("\n")}
    }
  }
}
`;
}

function store(R: number, s: number): string {
  const ind = "      ";
  const b = butterfly(R, ind);
  return `/** Radix-${R} butterflies at stride ${s} on t[0, len), stored times sc into x[xo, …). */
export function store${R}_${s}(
  t: Float64Array,
  x: Float32Array,
  xo: number,
  len: number,
  sc: number,
): void {
  for (let hi = 0; hi < len; hi += ${R * s}) {
    for (let j = hi; j < hi + ${s}; j++) {
${Array.from({ length: R }, (_, k) => `${ind}const a${k} = t[${plus("j", k * s)}]!;`).join("\n")}
${b.lines.join("\n")}
      const i = xo + j;
${b.out.map((v, k) => `${ind}x[${plus("i", k * s)}] = ${v} * sc;`).join("\n")}
    }
  }
}
`;
}

function storeSigned(R: number): string {
  const ind = "      ";
  const b = butterfly(R, ind);
  return `/** Like store${R}_s at any stride s (R·s = the block size), times the signs sg[column]. */
export function store${R}s(
  t: Float64Array,
  x: Float32Array,
  xo: number,
  len: number,
  s: number,
  sc: number,
  sg: Float64Array,
  c0: number,
  cols: number,
): void {
  let ch = c0;
  for (let hi = 0; hi < len; hi += ${R} * s) {
    for (let j = hi; j < hi + s; j++) {
${
    Array.from({ length: R }, (_, k) => `${ind}const a${k} = t[${plus("j", k ? `${k} * s` : 0)}]!;`)
      .join("\n")
  }
${b.lines.join("\n")}
      const i = xo + j;
      const c = ch + j - hi;
${
    b.out.map((v, k) => {
      const o = k ? `${k} * s` : 0;
      return `${ind}x[${plus("i", o)}] = ${v} * sc * sg[${plus("c", o)}]!;`;
    }).join("\n")
  }
    }
    ch += ${R} * s;
    if (ch === cols) ch = 0;
  }
}
`;
}

/** The span function of blocks of 2^L (see the module doc of `cpu_kernels.ts`). */
function span(L: number): string {
  const plan = planPasses(L);
  const lines: string[] = [];
  const R0 = 1 << plan[0]![0];
  const loadCall = (xo: string, to: string, c0: string): string[] => [
    `const bad = mode === 1`,
    `  ? load${R0}s(x, ${xo}, t, ${to}, LEN, sg, ${c0}, cols)`,
    `  : load${R0}(x, ${xo}, t, ${to}, LEN);`,
    `if (bad >= 0) return bad;`,
  ];
  const low = Math.min(L, SUB_LOG);
  const lowPasses = plan.filter(([, b]) => b < low);
  const highPasses = plan.filter(([, b]) => b >= low);
  const last = plan[plan.length - 1]!;
  const single = plan.length === 1;
  if (L > SUB_LOG) {
    lines.push(`for (let sb = 0; sb < len; sb += ${1 << SUB_LOG}) {`);
    for (const l of loadCall("xo + sb", "sb", "c0 + sb")) {
      lines.push("  " + l.replace("LEN", String(1 << SUB_LOG)));
    }
    for (const [r, b] of lowPasses.slice(1)) {
      lines.push(`  mid${1 << r}_${1 << b}(t, sb, ${1 << SUB_LOG});`);
    }
    lines.push("}");
    for (const [r, b] of highPasses.slice(0, -1)) lines.push(`mid${1 << r}_${1 << b}(t, 0, len);`);
  } else {
    for (const l of loadCall("xo", "0", "c0")) lines.push(l.replace("LEN", "len"));
    for (const [r, b] of plan.slice(1, -1)) lines.push(`mid${1 << r}_${1 << b}(t, 0, len);`);
  }
  if (single) {
    lines.push(`if (mode === 2) copyOutSigned(t, x, xo, len, sc, sg, c0, cols);`);
    lines.push(`else copyOut(t, x, xo, len, sc);`);
  } else {
    const [r, b] = last;
    lines.push(`if (mode === 2) store${1 << r}s(t, x, xo, len, ${1 << b}, sc, sg, c0, cols);`);
    lines.push(`else store${1 << r}_${1 << b}(t, x, xo, len, sc);`);
  }
  lines.push("return -1;");
  return `/** Blocks of ${1 << L}: passes ${JSON.stringify(plan)} ([radix bits, stride bits]). */
export function span${1 << L}(
  x: Float32Array,
  xo: number,
  t: Float64Array,
  len: number,
  sc: number,
  mode: number,
  sg: Float64Array,
  c0: number,
  cols: number,
): number {
${lines.map((l) => "  " + l).join("\n")}
}
`;
}

/**
 * The source of `cpu_kernels.ts`.
 *
 * @example
 * ```ts
 * import { generateCpuKernels } from "./gen_hadamard_cpu.ts";
 * if (!generateCpuKernels().includes("export function span1024(")) throw new Error();
 * ```
 */
export function generateCpuKernels(): string {
  const mids = new Set<string>();
  const stores = new Set<string>();
  let kernels = "";
  for (const R of [2, 4, 8]) kernels += load(R, false) + "\n" + load(R, true) + "\n";
  for (let L = 1; L <= MAX_LOG; L++) {
    const plan = planPasses(L);
    plan.slice(1, plan.length - 1).forEach(([r, b]) => mids.add(`${1 << r},${1 << b}`));
    if (plan.length > 1) {
      const [r, b] = plan[plan.length - 1]!;
      stores.add(`${1 << r},${1 << b}`);
    }
  }
  const byKey = (a: string, b: string): number => {
    const [ra, sa] = a.split(",").map(Number) as [number, number];
    const [rb, sb] = b.split(",").map(Number) as [number, number];
    return ra - rb || sa - sb;
  };
  for (const k of [...mids].sort(byKey)) {
    const [r, s] = k.split(",").map(Number) as [number, number];
    kernels += mid(r, s) + "\n";
  }
  for (const k of [...stores].sort(byKey)) {
    const [r, s] = k.split(",").map(Number) as [number, number];
    kernels += store(r, s) + "\n";
  }
  for (const R of [2, 4, 8]) kernels += storeSigned(R) + "\n";
  let spans = "";
  const names: string[] = [];
  for (let L = 1; L <= MAX_LOG; L++) {
    spans += span(L) + "\n";
    names.push(`span${1 << L}`);
  }
  return `// This module is browser compatible.
// Generated by tools/gen_hadamard_cpu.ts — do not edit; run \`deno task gen\` to regenerate.
/**
 * Unrolled CPU kernels of the fast Walsh–Hadamard transform (see \`tools/gen_hadamard_cpu.ts\` for the
 * plan). \`SPANS[L]\` transforms a span of consecutive blocks of 2^L in place:
 * \`SPANS[L](x, xo, t, len, sc, mode, sg, c0, cols)\` with x the f32 data, xo the span's offset,
 * t a Float64Array scratch of ≥ len, len a multiple of 2^L (≤ 4096 when 2^L ≤ 4096, else 2^L),
 * sc the output scale, mode 0 plain / 1 signs before / 2 signs after, sg the sign of each column,
 * c0 the column of x[xo] and cols the row length. Returns the index of the first non-finite input
 * (the span is then left half done) or −1.
 *
 * @example
 * \`\`\`ts
 * import { SPANS } from "./cpu_kernels.ts";
 * const x = new Float32Array([1, 2, 3, 4]);
 * SPANS[2]!(x, 0, new Float64Array(4), 4, 1, 0, new Float64Array(4), 0, 4);
 * if (x.join() !== "10,-2,-4,0") throw new Error();
 * \`\`\`
 *
 * @module
 */

function firstNonFinite(x: Float32Array, i: number, m: number): number {
  for (let k = 0; k < m; k++) {
    const v = x[i + k]!;
    if (v - v !== 0) return i + k;
  }
  return -1;
}

/** Copies t[0, len) times sc into x[xo, …). */
export function copyOut(t: Float64Array, x: Float32Array, xo: number, len: number, sc: number): void {
  for (let j = 0; j < len; j++) x[xo + j] = t[j]! * sc;
}

/** Copies t[0, len) times sc times the column signs into x[xo, …). */
export function copyOutSigned(
  t: Float64Array,
  x: Float32Array,
  xo: number,
  len: number,
  sc: number,
  sg: Float64Array,
  c0: number,
  cols: number,
): void {
  let c = c0;
  for (let j = 0; j < len; j++) {
    x[xo + j] = t[j]! * sc * sg[c]!;
    if (++c === cols) c = 0;
  }
}

${kernels}${spans}/** A span function: see the module doc. */
export type SpanFn = (
  x: Float32Array,
  xo: number,
  t: Float64Array,
  len: number,
  sc: number,
  mode: number,
  sg: Float64Array,
  c0: number,
  cols: number,
) => number;

/** \`SPANS[L]\` transforms blocks of 2^L (index 0 unused). */
export const SPANS: readonly (SpanFn | undefined)[] = [
  undefined,
${names.map((n) => `  ${n},`).join("\n")}
];
`;
}

/** The generated file, `src/hadamard/gen/cpu_kernels.ts` (formatted with `deno fmt`). */
export async function generate(): Promise<GeneratedFile[]> {
  return [{ path: "src/hadamard/gen/cpu_kernels.ts", text: await formatTs(generateCpuKernels()) }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_hadamard_cpu.ts", generate });
}
