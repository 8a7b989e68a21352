/**
 * Generator of `src/lut/gen/cpu_unrolled.ts`, the unrolled per-format loops of the CPU
 * lookup-table matmul (`src/lut/cpu_kernels.ts` holds the dispatch and the generic loops). Run
 * `deno task gen` after changing it; a test checks that the committed file equals its output.
 *
 * Why generated: V8 runs these loops at about the speed of their typed-array loads when every
 * code of a word is unpacked with literal shifts and masks, so each (bits, p) format gets its own
 * fully unrolled body. Three families come from one template each:
 *
 * - `dot<bits>p<p>(codes, w, n, T, v, c)`: Σ T[code]·v over n aligned chunks (batch-1 dot);
 * - `rows<bits>p<p>(…)`: whole batch-1 rows, groups of `cpg` chunks with the group's zero and
 *   scale folded after each group (the `RowKernel` contract);
 * - `decode<bits>p<p>F32(codes, w, n, T, dst, d)`: n words of codes looked up in an f32 table.
 *
 * Exactness: the f64 sums are order-sensitive, so every kernel adds its products in the order the
 * hand-written loops it replaced did (left to right within one `acc +=`, statements in order).
 * `SUM_CODES` says how many codes one `acc +=` sums per format; 3-bit chunks (three words, 32
 * codes, codes 10 and 21 straddling words) add sequentially into a chunk sum in `dot3p1` and
 * interleaved by thirds in `rows3p1`, as before.
 *
 * @module
 */
import { formatTs, type GeneratedFile, writeGenerated } from "./generated.ts";

/** One packed format: bits per code and weights per code. */
interface Format {
  bits: number;
  p: number;
}

/** Formats with a batch-1 dot kernel, in dispatch order. */
export const DOT_FORMATS: readonly Format[] = [
  { bits: 4, p: 1 },
  { bits: 8, p: 2 },
  { bits: 2, p: 1 },
  { bits: 3, p: 1 },
  { bits: 8, p: 1 },
  { bits: 4, p: 2 },
];

/** Formats with a batch-1 row kernel. */
export const ROW_FORMATS: readonly Format[] = [
  { bits: 4, p: 1 },
  { bits: 8, p: 2 },
  { bits: 2, p: 1 },
  { bits: 3, p: 1 },
  { bits: 8, p: 1 },
];

/** Formats with an f32 decode kernel. */
export const DECODE_FORMATS: readonly Format[] = [{ bits: 4, p: 1 }, { bits: 8, p: 2 }];

/** Codes summed by one `acc +=` of a whole-word format (the rest: one word per statement). */
const SUM_CODES: Readonly<Record<string, number>> = { "4p2": 1 };

const key = (f: Format) => `${f.bits}p${f.p}`;

/** Code k of word `u` (bits dividing 32), as an integer expression. */
function codeExpr(u: string, k: number, bits: number): string {
  const s = k * bits;
  const mask = (1 << bits) - 1;
  if (s === 0) return `${u} & ${mask}`;
  if (s + bits === 32) return `${u} >>> ${s}`;
  return `(${u} >>> ${s}) & ${mask}`;
}

const at = (base: string, off: number) => (off === 0 ? base : `${base} + ${off}`);

/**
 * The table index of each code of one word (p = 2 names them t0… first) and the lines that
 * declare them.
 */
function wordCodes(f: Format): { decl: string[]; index: (k: number, i: number) => string } {
  const n = 32 / f.bits;
  if (f.p === 1) return { decl: [], index: (k) => codeExpr("u", k, f.bits) };
  const decl = Array.from(
    { length: n },
    (_, k) => `const t${k} = (${codeExpr("u", k, f.bits)}) * ${f.p};`,
  );
  return { decl, index: (k, i) => at(`t${k}`, i) };
}

/** Body of one chunk of a whole-word format, adding into `acc` from `v[c…]`. */
function wordDotBody(f: Format): string[] {
  const n = 32 / f.bits;
  const { decl, index } = wordCodes(f);
  const per = SUM_CODES[key(f)] ?? n;
  const lines = ["const u = codes[w]!;", ...decl];
  for (let k0 = 0; k0 < n; k0 += per) {
    const terms: string[] = [];
    for (let k = k0; k < k0 + per; k++) {
      for (let i = 0; i < f.p; i++) terms.push(`T[${index(k, i)}]! * v[${at("c", k * f.p + i)}]!`);
    }
    lines.push(`acc += ${terms.join(" + ")};`);
  }
  return lines;
}

/** The 3-bit codes of a chunk of three words a, b, d (codes 10 and 21 straddle words). */
function code3(k: number): string {
  if (k < 10) return k === 0 ? "a & 7" : `(a >>> ${3 * k}) & 7`;
  if (k === 10) return "((a >>> 30) | (b << 2)) & 7";
  if (k < 21) return `(b >>> ${3 * (k - 11) + 1}) & 7`;
  if (k === 21) return "((b >>> 31) | (d << 1)) & 7";
  return k === 31 ? "d >>> 29" : `(d >>> ${3 * (k - 22) + 2}) & 7`;
}

const term3 = (k: number) => `T[${code3(k)}]! * v[${at("c", k)}]!`;
const LOAD3 = "const a = codes[w]!, b = codes[w + 1]!, d = codes[w + 2]!;";

/** 3-bit chunk of the dot kernel: codes 0…31 in order into a chunk sum, then into `acc`. */
function dot3Body(): string[] {
  const lines = [LOAD3, "let s = 0;"];
  for (let k = 0; k < 32; k++) lines.push(`s += ${term3(k)};`);
  lines.push("acc += s;");
  return lines;
}

/** 3-bit chunk of the row kernel: codes k, 11 + k, 22 + k per step, then the straddling two. */
function rows3Body(): string[] {
  const lines = [LOAD3];
  for (let k = 0; k < 10; k++) {
    lines.push(`acc += ${term3(k)} + ${term3(11 + k)} + ${term3(22 + k)};`);
  }
  lines.push(`acc += ${term3(10)} + ${term3(21)};`);
  return lines;
}

/** Words and weights per chunk of a format. */
function chunk(f: Format): { words: number; weights: number } {
  return f.bits === 3 ? { words: 3, weights: 32 } : { words: 1, weights: (32 / f.bits) * f.p };
}

/** `for` header over `n` chunks starting at word `w`, weight `c`. */
function chunkLoop(f: Format, n: string): string {
  const { words, weights } = chunk(f);
  const step = words === 1 ? "w++" : `w += ${words}`;
  const end = words === 1 ? `w + ${n}` : `w + ${words} * ${n}`;
  return `for (const e = ${end}; w < e; ${step}, c += ${weights})`;
}

const lookup = (f: Format) => (f.p === 1 ? "T[code]" : `T[code·${f.p} + k]`);

const indent = (lines: string[], pad: string) => lines.map((l) => pad + l).join("\n");

function dotKernel(f: Format): string {
  const body = f.bits === 3 ? dot3Body() : wordDotBody(f);
  const { weights } = chunk(f);
  return `/**
 * ${f.bits}-bit codes, p = ${f.p}: Σ ${
    lookup(f)
  }·v[…] over \`n\` aligned chunks of ${weights} weights
 * from word \`w\` and weight \`c\`.
 */
export function dot${key(f)}(
  codes: Uint32Array,
  w: number,
  n: number,
  T: Float64Array,
  v: Float64Array,
  c: number,
): number {
  let acc = 0;
  ${chunkLoop(f, "n")} {
${indent(body, "    ")}
  }
  return acc;
}
`;
}

function rowKernel(f: Format): string {
  const body = f.bits === 3 ? rows3Body() : wordDotBody(f);
  return `/** The \`RowKernel\` of ${f.bits}-bit codes, p = ${f.p}. */
export function rows${key(f)}(
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xsum: Float64Array | null,
  v: Float64Array,
  out: Float32Array,
  start: number,
  end: number,
  stride: number,
  gpr: number,
  cpg: number,
): void {
  for (let r = start; r < end; r++) {
    let w = r * stride;
    let c = 0;
    let tot = 0;
    for (let gi = 0, sb = r * gpr; gi < gpr; gi++) {
      let acc = 0;
      ${chunkLoop(f, "cpg")} {
${indent(body, "        ")}
      }
      if (zeros) acc -= zeros[sb + gi]! * xsum![gi]!;
      tot += scales[sb + gi]! * acc;
    }
    out[r] = tot;
  }
}
`;
}

function decodeKernel(f: Format): string {
  const n = 32 / f.bits;
  const { decl, index } = wordCodes(f);
  const lines = ["const u = codes[w]!;", ...decl];
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < f.p; i++) lines.push(`dst[${at("d", k * f.p + i)}] = T[${index(k, i)}]!;`);
  }
  return `/**
 * ${f.bits}-bit codes, p = ${f.p}: writes ${lookup(f)} for the codes of \`n\` words from word \`w\`
 * into \`dst\` from \`d\`.
 */
export function decode${key(f)}F32(
  codes: Uint32Array,
  w: number,
  n: number,
  T: Float32Array,
  dst: Float32Array,
  d: number,
): void {
  for (const e = w + n; w < e; w++, d += ${n * f.p}) {
${indent(lines, "    ")}
  }
}
`;
}

/** The text of `src/lut/gen/cpu_unrolled.ts`, before formatting. */
export function generateCpuUnrolled(): string {
  return `// This module is browser compatible.
// Generated by tools/gen_lut_cpu_kernels.ts — do not edit; run \`deno task gen\` to regenerate.
/**
 * Unrolled per-format loops of the CPU lookup-table matmul (see \`tools/gen_lut_cpu_kernels.ts\`);
 * \`src/lut/cpu_kernels.ts\` picks one per (bits, p) and runs the generic loops otherwise. Imports
 * nothing: workers load it cold.
 *
 * @module
 */

/**
 * A batch-1 row kernel: rows [start, end) of out[r] = Σ_groups s·(Σ T[code]·v − z·xsum), whole
 * groups of \`cpg\` chunks (one word each, three for 3-bit), \`gpr\` groups per row, \`stride\` words
 * per row; the group's scale and zero are folded after each group.
 */
export type RowKernel = (
  codes: Uint32Array,
  T: Float64Array,
  scales: Float32Array,
  zeros: Float32Array | null,
  xsum: Float64Array | null,
  v: Float64Array,
  out: Float32Array,
  start: number,
  end: number,
  stride: number,
  gpr: number,
  cpg: number,
) => void;

${DOT_FORMATS.map(dotKernel).join("\n")}
${ROW_FORMATS.map(rowKernel).join("\n")}
${DECODE_FORMATS.map(decodeKernel).join("\n")}`;
}

/** The generated file, `src/lut/gen/cpu_unrolled.ts` (formatted with `deno fmt`). */
export async function generate(): Promise<GeneratedFile[]> {
  return [{ path: "src/lut/gen/cpu_unrolled.ts", text: await formatTs(generateCpuUnrolled()) }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_lut_cpu_kernels.ts", generate });
}
