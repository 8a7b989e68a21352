/**
 * Generator of the `fast` CPU LUT kernels (`src/lut/gen/lut_int8.ts`): WebAssembly SIMD GEMV on
 * the packed codes with 8-bit activations and 7-bit integer tables, so no weight is ever widened
 * to f32. Emits the WAT ({@linkcode generateLutInt8Wat}), assembles it with the project's WABT
 * emitter (`assembleWat` in `src/core/wasm.ts`) and writes the base64 bytes of two builds: one
 * with relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s`, one with plain SIMD
 * (`i16x8.extmul_*_i8x16_s` + `i32x4.extadd_pairwise_i16x8_s`). Rerun after editing:
 *
 *     ./quantlab deno run -A tools/gen_lut_int8.ts
 *
 * A test regenerates both and compares them with the committed file.
 *
 * The kernels read the checkpoint's own packing (`src/quant/packing.ts`, codes least significant
 * first), unchanged: 16 bytes of codes hold 16 "lanes" k; lane k of stream m is the weight
 * k·S + m of the 16·S-weight chunk, S = weights per byte. The activations are therefore
 * de-interleaved once per call with the same stride S (`src/lut/cpu_int8.ts`), and every stream is
 * one `i8x16.swizzle` of a 16-entry table by 16 code fields followed by an integer dot product
 * with 16 activations. Formats (all groups along the input axis, a multiple of 64 weights):
 *
 * - `n4`: 4-bit scalar codes (NF4/AF4/FP4, RTN/HQQ 4-bit, HIGGS (1,16)); S = 2: low nibble,
 *   high nibble.
 * - `n2`: 2-bit scalar codes (RTN/HQQ 2-bit, HIGGS (1,4)); S = 4: bits 0–1, 2–3, 4–5, 6–7.
 * - `p2n4`: 4-bit pair codes (HIGGS (2,16)); S = 4: (low nibble, coordinate 0), (low, 1),
 *   (high, 0), (high, 1), a table per coordinate.
 *
 * Contract of every `<format>(codes, tab, scales, zeros, xq, dx, xg, out, start, end, bpr, gpr,
 * bpg, delta, tmin)`: for rows r in [start, end),
 *
 *     out[r] = Σ_g s[g]·(delta·Σ_blocks dx[b]·Σ_i t7[code_i]·xq_i + (tmin − z[g])·xg[g])
 *
 * with `tab` the 7-bit table(s) (16 bytes per coordinate, values 0…127), `xq` the de-interleaved
 * i8 activations, `dx` the f32 scale per 64 weights, `xg` the f32 Σx per group, `bpr` bytes per
 * row of codes, `gpr` groups per row, `bpg` 64-weight blocks per group, and `zeros` 0 when there
 * are none. Every block's dot product is exact in i32 and converted to f32 once per 64 weights;
 * blocks accumulate per group, groups (times their scale) per row, in f32x4 lanes; the affine
 * part runs four groups per step. Rows go in pairs (the activation loads shared), then the odd
 * last row.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** The formats the generator emits a function for. */
export const LUT_INT8_FORMATS = ["n4", "n2", "p2n4"] as const;

/** One of {@linkcode LUT_INT8_FORMATS}. */
export type LutInt8Format = typeof LUT_INT8_FORMATS[number];

/** `acc += dot(x, w)` over 16 i8 × 7-bit pairs, in the chosen instruction set. */
function dot(acc: string, x: string, w: string, relaxed: boolean): string {
  if (relaxed) {
    return `(local.set ${acc} (i32x4.relaxed_dot_i8x16_i7x16_add_s ${x} ${w} (local.get ${acc})))`;
  }
  return `(local.set $wv ${w})
      (local.set ${acc} (i32x4.add (local.get ${acc}) (i32x4.extadd_pairwise_i16x8_s (i16x8.add
        (i16x8.extmul_low_i8x16_s ${x} (local.get $wv))
        (i16x8.extmul_high_i8x16_s ${x} (local.get $wv))))))`;
}

const M15 = "(v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)";
const M3 = "(v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)";

function swz(t: string, idx: string): string {
  return `(i8x16.swizzle (local.get ${t}) ${idx})`;
}

/** Code field m (of 16 lanes) from the 16 code bytes in `v`. */
function field(format: LutInt8Format, v: string, m: number): { table: string; idx: string } {
  const V = `(local.get ${v})`;
  if (format === "n2") {
    const idx = m === 0
      ? `(v128.and ${V} ${M3})`
      : m === 3
      ? `(i8x16.shr_u ${V} (i32.const 6))`
      : `(v128.and (i8x16.shr_u ${V} (i32.const ${2 * m})) ${M3})`;
    return { table: "$t0", idx };
  }
  // n4: stream m = nibble m (S = 2, per 16 bytes); p2n4: nibble ⌊m/2⌋, coordinate m mod 2.
  const nib = format === "n4" ? m : m >> 1;
  const idx = nib === 0 ? `(v128.and ${V} ${M15})` : `(i8x16.shr_u ${V} (i32.const 4))`;
  return { table: format === "p2n4" && m % 2 === 1 ? "$t1" : "$t0", idx };
}

/**
 * One 64-weight block for R rows: dots into $i0…, then advance the code pointers. The 16-byte
 * activation vectors are loaded once and shared by the rows.
 */
function blockBody(format: LutInt8Format, relaxed: boolean, R: number): string {
  const parts: string[] = [];
  const vecs = format === "n4" ? 2 : 1; // code vectors per 64 weights
  const streams = format === "n4" ? 2 : 4; // 16-lane streams per code vector
  for (let h = 0; h < vecs; h++) {
    for (let r = 0; r < R; r++) {
      parts.push(`(local.set $v${r} (v128.load offset=${16 * h} (local.get $c${r})))`);
    }
    for (let m = 0; m < streams; m++) {
      const xo = 16 * (h * streams + m);
      parts.push(`(local.set $xv (v128.load offset=${xo} (local.get $xp)))`);
      for (let r = 0; r < R; r++) {
        const { table, idx } = field(format, `$v${r}`, m);
        parts.push(dot(`$i${r}`, "(local.get $xv)", swz(table, idx), relaxed));
      }
    }
  }
  for (let r = 0; r < R; r++) {
    parts.push(`(local.set $c${r} (i32.add (local.get $c${r}) (i32.const ${16 * vecs})))`);
  }
  return parts.join("\n              ");
}

const rows = (R: number, f: (r: number) => string): string =>
  Array.from({ length: R }, (_, r) => f(r)).join("\n            ");

/** `$rows{R}`: rows [start, end) in passes of R rows (end − start a multiple of R). */
function rowsFunc(format: LutInt8Format, relaxed: boolean, R: number): string {
  const locals = rows(
    R,
    (r) =>
      `(local $c${r} i32) (local $s${r} i32) (local $v${r} v128) (local $i${r} v128) ` +
      `(local $g${r} v128) (local $a${r} v128)`,
  );
  return `  (func $${format}_${R}
    (param $codes i32) (param $tab i32) (param $scales i32) (param $zeros i32)
    (param $xq i32) (param $dx i32) (param $xg i32) (param $out i32) (param $start i32)
    (param $end i32) (param $bpr i32) (param $gpr i32) (param $bpg i32)
    (param $delta f64) (param $tmin f64)
    (local $r i32) (local $xp i32) (local $dp i32) (local $gi i32) (local $b i32) (local $k i32)
    (local $t0 v128) (local $t1 v128) (local $wv v128) (local $xv v128) (local $d v128)
    (local $tm v128) (local $aff v128) (local $y f64) (local $z f32)
    ${locals}
    (local.set $t0 (v128.load (local.get $tab)))
    (local.set $t1 (v128.load offset=16 (local.get $tab)))
    (local.set $tm (f32x4.splat (f32.demote_f64 (local.get $tmin))))
    (local.set $r (local.get $start))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $end)))
        ${
    rows(R, (r) =>
      `(local.set $c${r} (i32.add (local.get $codes) (i32.mul (i32.add (local.get $r) (i32.const ${r})) (local.get $bpr))))
        (local.set $s${r} (i32.add (local.get $scales) (i32.shl (i32.mul (i32.add (local.get $r) (i32.const ${r})) (local.get $gpr)) (i32.const 2))))
        (local.set $a${r} (v128.const i32x4 0 0 0 0))`)
  }
        (local.set $xp (local.get $xq))
        (local.set $dp (local.get $dx))
        (local.set $gi (i32.const 0))
        (loop $groups
          ${rows(R, (r) => `(local.set $g${r} (v128.const i32x4 0 0 0 0))`)}
          (local.set $b (i32.const 0))
          (loop $blocks
            ${rows(R, (r) => `(local.set $i${r} (v128.const i32x4 0 0 0 0))`)}
              ${blockBody(format, relaxed, R)}
            (local.set $d (v128.load32_splat (local.get $dp)))
            ${
    rows(R, (r) =>
      `(local.set $g${r} (f32x4.add (local.get $g${r}) (f32x4.mul (f32x4.convert_i32x4_s (local.get $i${r})) (local.get $d))))`)
  }
            (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
            (local.set $dp (i32.add (local.get $dp) (i32.const 4)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br_if $blocks (i32.lt_u (local.get $b) (local.get $bpg))))
          ${
    rows(R, (r) =>
      `(local.set $a${r} (f32x4.add (local.get $a${r}) (f32x4.mul (local.get $g${r}) (v128.load32_splat (i32.add (local.get $s${r}) (i32.shl (local.get $gi) (i32.const 2)))))))`)
  }
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $gi) (local.get $gpr))))
        ;; The affine part Σ_g s·(tmin − z)·Σx, four groups per step, then the tail.
        ${
    rows(R, (r) =>
      `(local.set $aff (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $aff_done${r}
          (loop $aff${r}
            (br_if $aff_done${r} (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $gpr)))
            (local.set $aff (f32x4.add (local.get $aff) (f32x4.mul
              (v128.load (i32.add (local.get $s${r}) (i32.shl (local.get $k) (i32.const 2))))
              (f32x4.mul (v128.load (i32.add (local.get $xg) (i32.shl (local.get $k) (i32.const 2))))
                (if (result v128) (local.get $zeros)
                  (then (f32x4.sub (local.get $tm) (v128.load (i32.add (i32.add (local.get $zeros)
                    (i32.sub (local.get $s${r}) (local.get $scales))) (i32.shl (local.get $k) (i32.const 2))))))
                  (else (local.get $tm)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $aff${r})))
        (local.set $y (f64.add
          (f64.mul (local.get $delta) (f64.promote_f32 (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $a${r})) (f32x4.extract_lane 1 (local.get $a${r})))
            (f32.add (f32x4.extract_lane 2 (local.get $a${r})) (f32x4.extract_lane 3 (local.get $a${r}))))))
          (f64.promote_f32 (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $aff)) (f32x4.extract_lane 1 (local.get $aff)))
            (f32.add (f32x4.extract_lane 2 (local.get $aff)) (f32x4.extract_lane 3 (local.get $aff)))))))
        (block $tail_done${r}
          (loop $tail${r}
            (br_if $tail_done${r} (i32.ge_u (local.get $k) (local.get $gpr)))
            (local.set $z (f32.const 0))
            (if (local.get $zeros)
              (then (local.set $z (f32.load (i32.add (i32.add (local.get $zeros)
                (i32.sub (local.get $s${r}) (local.get $scales))) (i32.shl (local.get $k) (i32.const 2)))))))
            (local.set $y (f64.add (local.get $y) (f64.mul
              (f64.promote_f32 (f32.load (i32.add (local.get $s${r}) (i32.shl (local.get $k) (i32.const 2)))))
              (f64.mul (f64.sub (local.get $tmin) (f64.promote_f32 (local.get $z)))
                (f64.promote_f32 (f32.load (i32.add (local.get $xg) (i32.shl (local.get $k) (i32.const 2)))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $tail${r})))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $r) (i32.const ${r})) (i32.const 2)))
          (f32.demote_f64 (local.get $y)))`)
  }
        (local.set $r (i32.add (local.get $r) (i32.const ${R})))
        (br $rows))))`;
}

/** The exported entry: pairs of rows, then the odd last row. */
function kernel(format: LutInt8Format, relaxed: boolean): string {
  const args = (s: string, e: string): string =>
    `(local.get $codes) (local.get $tab) (local.get $scales) (local.get $zeros) (local.get $xq)
      (local.get $dx) (local.get $xg) (local.get $out) ${s} ${e} (local.get $bpr)
      (local.get $gpr) (local.get $bpg) (local.get $delta) (local.get $tmin)`;
  return `${rowsFunc(format, relaxed, 1)}
${rowsFunc(format, relaxed, 2)}
  (func (export "${format}")
    (param $codes i32) (param $tab i32) (param $scales i32) (param $zeros i32)
    (param $xq i32) (param $dx i32) (param $xg i32) (param $out i32) (param $start i32)
    (param $end i32) (param $bpr i32) (param $gpr i32) (param $bpg i32)
    (param $delta f64) (param $tmin f64)
    (local $mid i32)
    (local.set $mid (i32.sub (local.get $end)
      (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const 1))))
    (call $${format}_2 ${args("(local.get $start)", "(local.get $mid)")})
    (call $${format}_1 ${args("(local.get $mid)", "(local.get $end)")}))`;
}

/**
 * The WAT of the kernels, with or without relaxed SIMD's dot product.
 *
 * @example
 * ```ts
 * import { generateLutInt8Wat } from "./gen_lut_int8.ts";
 * if (!generateLutInt8Wat(true).includes("relaxed_dot")) throw new Error();
 * if (generateLutInt8Wat(false).includes("relaxed")) throw new Error();
 * ```
 */
export function generateLutInt8Wat(relaxed: boolean): string {
  return `(module
  (import "env" "mem" (memory 1 65536 shared))
${LUT_INT8_FORMATS.map((f) => kernel(f, relaxed)).join("\n")}
)
`;
}

/** The committed module's source from the two builds' bytes. */
export function lutInt8Source(relaxed: Uint8Array, plain: Uint8Array): string {
  const head = (what: string): string =>
    ` * The \`fast\` CPU LUT kernels (${what}): generated by tools/gen_lut_int8.ts — do not edit.`;
  const a = wasmBytesSource("LUT_INT8_RELAXED_BASE64", head("relaxed SIMD build"), relaxed);
  const b = wasmBytesSource("LUT_INT8_PLAIN_BASE64", head("plain SIMD build"), plain);
  // One file: the second module's doc becomes an ordinary comment.
  return a + "\n" + b.slice(b.indexOf("/** The module's bytes"));
}

/** Assembles both builds and returns the committed module's source. */
export async function buildLutInt8Source(): Promise<string> {
  const relaxed = await assembleWat("lut_int8_relaxed.wat", generateLutInt8Wat(true), {
    simd: true,
    threads: true,
    relaxed_simd: true,
  });
  const plain = await assembleWat("lut_int8_plain.wat", generateLutInt8Wat(false), {
    simd: true,
    threads: true,
  });
  return lutInt8Source(relaxed, plain);
}

/** The generated file, `src/lut/gen/lut_int8.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  return [{ path: "src/lut/gen/lut_int8.ts", text: await buildLutInt8Source() }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_lut_int8.ts", generate });
}
