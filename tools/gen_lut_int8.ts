/**
 * Generator of the `fast` CPU LUT kernels (`src/lut/gen/lut_int8.ts`): WebAssembly SIMD GEMV and
 * batched GEMM on the packed codes with 8-bit activations and 7-bit integer tables, so no weight is ever widened
 * to f32. Emits the WAT ({@linkcode generateLutInt8Wat}), assembles it with the project's WABT
 * emitter (`assembleWat` in `src/core/wasm.ts`) and writes the base64 bytes of two builds: one
 * with relaxed SIMD's `i32x4.relaxed_dot_i8x16_i7x16_add_s`, one with plain SIMD
 * (`i16x8.extmul_*_i8x16_s` + `i32x4.extadd_pairwise_i16x8_s`). The relaxed build also looks
 * codes up with `i8x16.relaxed_swizzle` (one `pshufb` on x86, where V8 guards the plain swizzle
 * with a saturating add and a constant per use; every index here is below 16, so both give the
 * same bytes), and both builds shift bytes as i16 lanes masked by a constant held in a local
 * (V8's `i8x16.shr_u` builds its mask on every use): 1.4–1.65× the 2- and 4-bit GEMV speed of
 * the earlier code (`bench/lut_gemv_profile.ts`). Rerun after editing:
 *
 *     ./quantlab deno run -A tools/gen_lut_int8.ts
 *
 * A test regenerates both and compares them with the committed file.
 *
 * The kernels read the checkpoint's own packing (`src/quant/packing.ts`, codes least significant
 * first), unchanged. Every 64-weight block is four chunks of 16 weights; each chunk becomes one
 * i8x16 of 7-bit table values in some lane order, followed by an integer dot product with 16
 * activations de-interleaved once per call into the same order (stride S, `int8Stride`: lane k
 * of stream m is weight k·S + m of the 16·S-weight chunk). Formats (all groups along the input
 * axis, a multiple of 64 weights):
 *
 * - `n4`: 4-bit scalar codes (NF4/AF4/FP4, RTN/HQQ 4-bit, HIGGS (1,16)); S = 2: low nibble,
 *   high nibble, each one `i8x16.swizzle` of the 16-entry table.
 * - `u4`: `n4` on an equally spaced table (RTN/HQQ 4-bit, t7[c] = c): the nibbles go straight
 *   into the dot product, no swizzle, and the products add up in i16 lanes within a block (one
 *   `pmaddubsw` per 16 weights), widened once per block: the same integers as `n4`.
 * - `n2`: 2-bit scalar codes (RTN/HQQ 2-bit, HIGGS (1,4)); S = 4: bits 0–1, 2–3, 4–5, 6–7.
 * - `p2n4`: 4-bit pair codes (HIGGS (2,16)); S = 4: (low nibble, coordinate 0), (low, 1),
 *   (high, 0), (high, 1), a table per coordinate.
 * - `n3`: 3-bit scalar codes (RTN/HQQ 3-bit, HIGGS (1,8)); S = 1: 16 codes straddling 6 bytes,
 *   two swizzles gather each code's two bytes into i16 lanes, a multiply by 2^(13 − offset) and a
 *   shift by 13 extract it, a narrow packs the 16 codes, one swizzle looks them up.
 * - `p2n8`: 8-bit pair codes (HIGGS (2,256)); S = 1: a 256-entry grid is too large for a
 *   swizzle, so each code's (coordinate 0, 1) byte pair is loaded from a 512-byte table into an
 *   i16 lane (`v128.load16_lane`): the weights are dequantized to int8 in registers.
 * - `i8`: rows already decoded to 7-bit bytes (the batch kernels' scratch).
 *
 * Contract of every `<format>(codes, tab, scales, zeros, xq, dx, xg, out, start, end, bpr, gpr,
 * bpg, delta, tmin)`: for rows r in [start, end),
 *
 *     out[r] = Σ_g s[g]·(delta·Σ_blocks dx[b]·Σ_i t7[code_i]·xq_i + (tmin − z[g])·xg[g])
 *
 * with `tab` the 7-bit table in the format's layout (`int8KernelTable`), `xq` the de-interleaved
 * i8 activations, `dx` the f32 scale per 64 weights, `xg` the f32 sum per group of the rounded
 * activations (Σ dx·xq, `src/lut/int8_format.ts`), `bpr` bytes per row of codes, `gpr` groups per row, `bpg` 64-weight blocks per group, and `zeros` 0 when there
 * are none. Every block's dot product is exact in i32 and converted to f32 once per 64 weights;
 * blocks accumulate per group, groups (times their scale) per row, in f32x4 lanes; the affine
 * part runs four groups per step. Rows go in pairs (the activation loads shared), then the odd
 * last row.
 *
 * `<format>_il(…)` is `<format>` on codes whose row pairs are interleaved block by block
 * (`src/lut/pair_layout.ts`: row 2p's code block b, then row 2p + 1's, …; an odd last row in its
 * place; `start` even): each pair of rows reads one contiguous stream, twice the codes' bandwidth
 * from DRAM at decode; the same integers and f32 operations, so the same results.
 *
 * `<format>_batch(…, nb, scratch, tile, ldo)` does the same for `nb` activation rows (row b's
 * regions at b·pc bytes of `xq`, b·pc/64 of `dx`, b·gpr of `xg`, b·ldo of `out`): tiles of `tile`
 * weight rows are decoded once into `scratch` (`<format>_decode`, the same chunk code) and the
 * `i8` rows kernel runs on them for every activation row — the same integers and the same f32
 * operations in the same order, so each output equals the one-row kernel's bit for bit.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** The formats the generator emits a function for. */
export const LUT_INT8_FORMATS = ["n4", "u4", "n2", "p2n4", "n3", "p2n8"] as const;

/** One of {@linkcode LUT_INT8_FORMATS}, or `i8`: rows already decoded to 7-bit bytes (batch). */
export type LutInt8Format = typeof LUT_INT8_FORMATS[number] | "i8";

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

/**
 * `acc += ` the i16 pair sums of 16 i8 × nibble products (`u4`: |x·w| ≤ 127·15, so four chunks
 * of a block fit i16 without saturating); the block's end widens them pairwise to i32, which gives
 * every i32 lane the same four products as {@linkcode dot} (relaxed: adjacent bytes; plain: bytes
 * k and k + 8), so the same integers.
 */
function dot16(acc: string, x: string, w: string, relaxed: boolean): string {
  if (relaxed) {
    return `(local.set ${acc} (i16x8.add (local.get ${acc}) (i16x8.relaxed_dot_i8x16_i7x16_s ${x} ${w})))`;
  }
  return `(local.set $wv ${w})
      (local.set ${acc} (i16x8.add (local.get ${acc}) (i16x8.add
        (i16x8.extmul_low_i8x16_s ${x} (local.get $wv))
        (i16x8.extmul_high_i8x16_s ${x} (local.get $wv)))))`;
}

const splat8 = (v: number): string => `(v128.const i8x16 ${new Array(16).fill(v).join(" ")})`;

/**
 * A table lookup. Every index the kernels form is below 16, where relaxed SIMD's swizzle (one
 * `pshufb` on x86) equals the plain one (which V8 guards with a saturating add per call).
 */
function swz(t: string, idx: string, relaxed: boolean): string {
  return `(i8x16.${relaxed ? "relaxed_swizzle" : "swizzle"} (local.get ${t}) ${idx})`;
}

/** Byte lanes of `v` shifted right by `k` and masked to `mask` (a local): an i16 shift and an
 * `and`, where V8's `i8x16.shr_u` builds its own mask on every use. */
function shrMask(v: string, k: number, mask: string): string {
  return `(v128.and (i16x8.shr_u ${v} (i32.const ${k})) (local.get ${mask}))`;
}

/** The locals holding the masks (set once per call: V8 rematerializes constants in loops). */
const MASK_LOCALS = "(local $m15 v128) (local $m3 v128)";
const MASK_SET = `(local.set $m15 ${splat8(15)})
    (local.set $m3 ${splat8(3)})`;

/** Code bytes per 64 weights. */
const CODE_BYTES: Record<LutInt8Format, number> = {
  n4: 32,
  u4: 32,
  n2: 16,
  p2n4: 16,
  n3: 24,
  p2n8: 32,
  i8: 64,
};

/**
 * 3-bit codes: byte offsets and multipliers that put code i of 16 (bits 3i…3i+2 from the chunk's
 * first byte) at the top of i16 lane i mod 8: two swizzles gather each code's two bytes, a
 * multiply by 2^(13 − 3i mod 8) shifts it up, `shr_u 13` brings it down.
 */
function idx3(v: string, relaxed: boolean): string {
  const pick = (base: number): string => {
    const b: number[] = [];
    for (let i = 0; i < 8; i++) b.push(base + (3 * i >> 3), base + (3 * i >> 3) + 1);
    return `(v128.const i8x16 ${b.join(" ")})`;
  };
  const mul = `(v128.const i16x8 ${
    Array.from({ length: 8 }, (_, i) => 2 ** (13 - (3 * i) % 8)).join(" ")
  })`;
  const half = (base: number): string =>
    `(i16x8.shr_u (i16x8.mul ${swz(v, pick(base), relaxed)} ${mul}) (i32.const 13))`;
  return `(i8x16.narrow_i16x8_u ${half(0)} ${half(3)})`;
}

/**
 * Chunk j (of 4, 16 weights each) of a 64-weight block of row r, whose codes start at `$c{r}`:
 * statements to run first, and the i8x16 of 7-bit table values in the chunk's lane order (the
 * order of the de-interleaved activations at offset 16·j).
 */
function chunk(
  format: LutInt8Format,
  j: number,
  r: number,
  relaxed: boolean,
): { setup: string; expr: string } {
  const v = `$v${r}`, V = `(local.get ${v})`, c = `(local.get $c${r})`;
  const load = (off: number): string => `(local.set ${v} (v128.load offset=${off} ${c}))`;
  const nibble = (n: number): string =>
    n === 0 ? `(v128.and ${V} (local.get $m15))` : shrMask(V, 4, "$m15");
  switch (format) {
    case "n4": // stream = nibble j mod 2 of the 16 bytes at 16·⌊j/2⌋
      return {
        setup: j % 2 === 0 ? load(16 * (j >> 1)) : "",
        expr: swz("$t0", nibble(j % 2), relaxed),
      };
    case "u4": // n4 on an equally spaced table: the nibbles are the 7-bit values
      return { setup: j % 2 === 0 ? load(16 * (j >> 1)) : "", expr: nibble(j % 2) };
    case "n2": {
      const idx = j === 0 ? `(v128.and ${V} (local.get $m3))` : shrMask(V, 2 * j, "$m3");
      return { setup: j === 0 ? load(0) : "", expr: swz("$t0", idx, relaxed) };
    }
    case "p2n4": // nibble ⌊j/2⌋, coordinate j mod 2 (a table per coordinate)
      return {
        setup: j === 0 ? load(0) : "",
        expr: swz(j % 2 ? "$t1" : "$t0", nibble(j >> 1), relaxed),
      };
    case "n3": // 16 codes in natural order from the 6 bytes at 6·j
      return { setup: load(6 * j), expr: swz("$t0", idx3(v, relaxed), relaxed) };
    case "p2n8": { // 8 pair codes → 8 (coordinate 0, 1) byte pairs of the 512-byte table
      const lanes = Array.from(
        { length: 8 },
        (_, k) =>
          `(local.set ${v} (v128.load16_lane ${k} (i32.add (local.get $tab) (i32.shl ` +
          `(i32.load8_u offset=${8 * j + k} ${c}) (i32.const 1))) ${V}))`,
      );
      return { setup: lanes.join("\n              "), expr: V };
    }
    case "i8":
      return { setup: "", expr: `(v128.load offset=${16 * j} ${c})` };
  }
}

/**
 * One 64-weight block for R rows: dots into $i0…, then advance the code pointers. The 16-byte
 * activation vectors are loaded once and shared by the rows.
 */
function blockBody(format: LutInt8Format, relaxed: boolean, R: number, il = false): string {
  const parts: string[] = [];
  for (let j = 0; j < 4; j++) {
    const ch = Array.from({ length: R }, (_, r) => chunk(format, j, r, relaxed));
    for (const { setup } of ch) if (setup) parts.push(setup);
    parts.push(`(local.set $xv (v128.load offset=${16 * j} (local.get $xp)))`);
    const d = format === "u4" ? dot16 : dot;
    ch.forEach(({ expr }, r) => parts.push(d(`$i${r}`, "(local.get $xv)", expr, relaxed)));
  }
  if (format === "u4") {
    for (let r = 0; r < R; r++) {
      parts.push(`(local.set $i${r} (i32x4.extadd_pairwise_i16x8_s (local.get $i${r})))`);
    }
  }
  for (let r = 0; r < R; r++) {
    parts.push(
      `(local.set $c${r} (i32.add (local.get $c${r}) (i32.const ${
        CODE_BYTES[format] * (il ? R : 1)
      })))`,
    );
  }
  return parts.join("\n              ");
}

const rows = (R: number, f: (r: number) => string): string =>
  Array.from({ length: R }, (_, r) => f(r)).join("\n            ");

/** `$rows{R}`: rows [start, end) in passes of R rows (end − start a multiple of R). */
function rowsFunc(format: LutInt8Format, relaxed: boolean, R: number, il = false): string {
  const locals = rows(
    R,
    (r) =>
      `(local $c${r} i32) (local $s${r} i32) (local $v${r} v128) (local $i${r} v128) ` +
      `(local $g${r} v128) (local $a${r} v128)`,
  );
  return `  (func $${format}_${R}${il ? "i" : ""}
    (param $codes i32) (param $tab i32) (param $scales i32) (param $zeros i32)
    (param $xq i32) (param $dx i32) (param $xg i32) (param $out i32) (param $start i32)
    (param $end i32) (param $bpr i32) (param $gpr i32) (param $bpg i32)
    (param $delta f64) (param $tmin f64)
    (local $r i32) (local $xp i32) (local $dp i32) (local $gi i32) (local $b i32) (local $k i32)
    (local $t0 v128) (local $t1 v128) (local $wv v128) (local $xv v128) (local $d v128)
    (local $tm v128) (local $aff v128) (local $y f64) (local $z f32)
    ${locals}
    ${MASK_LOCALS}
    ${MASK_SET}
    (local.set $t0 (v128.load (local.get $tab)))
    (local.set $t1 (v128.load offset=16 (local.get $tab)))
    (local.set $tm (f32x4.splat (f32.demote_f64 (local.get $tmin))))
    (local.set $r (local.get $start))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $end)))
        ${
    rows(R, (r) =>
      `(local.set $c${r} ${
        il
          ? `(i32.add (i32.add (local.get $codes) (i32.const ${
            r * CODE_BYTES[format]
          })) (i32.mul (local.get $r) (local.get $bpr)))`
          : `(i32.add (local.get $codes) (i32.mul (i32.add (local.get $r) (i32.const ${r})) (local.get $bpr)))`
      })
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
              ${blockBody(format, relaxed, R, il)}
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
        ;; The affine part Σ_g s·(tmin − z)·xg, four groups per step, then the tail.
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

const PARAMS = `(param $codes i32) (param $tab i32) (param $scales i32) (param $zeros i32)
    (param $xq i32) (param $dx i32) (param $xg i32) (param $out i32) (param $start i32)
    (param $end i32) (param $bpr i32) (param $gpr i32) (param $bpg i32)
    (param $delta f64) (param $tmin f64)`;

/** `$<format>_decode`: rows [start, end) as 7-bit bytes in kernel lane order, `nblk` blocks each. */
function decodeFunc(format: LutInt8Format, relaxed: boolean): string {
  const ch = [0, 1, 2, 3].map((j) => chunk(format, j, 0, relaxed));
  return `  (func $${format}_decode (param $codes i32) (param $tab i32) (param $dst i32)
    (param $start i32) (param $end i32) (param $bpr i32) (param $nblk i32)
    (local $r i32) (local $b i32) (local $c0 i32) (local $v0 v128) (local $t0 v128) (local $t1 v128)
    ${MASK_LOCALS}
    ${MASK_SET}
    (local.set $t0 (v128.load (local.get $tab)))
    (local.set $t1 (v128.load offset=16 (local.get $tab)))
    (local.set $r (local.get $start))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $c0 (i32.add (local.get $codes) (i32.mul (local.get $r) (local.get $bpr))))
        (local.set $b (i32.const 0))
        (loop $blocks
          ${
    ch.map(({ setup, expr }, j) =>
      `${setup}\n          (v128.store offset=${16 * j} (local.get $dst) ${expr})`
    ).join("\n          ")
  }
          (local.set $c0 (i32.add (local.get $c0) (i32.const ${CODE_BYTES[format]})))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (br_if $blocks (i32.lt_u (local.get $b) (local.get $nblk))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))`;
}

/**
 * The exported entries: `<format>` (one activation row; pairs of rows, then the odd last row)
 * and `<format>_batch` (`nb` activation rows: tiles of `tile` rows decoded once to `scratch`,
 * then the `i8` rows kernel per activation row — the same dots and sums, so the same results).
 */
function kernel(format: LutInt8Format, relaxed: boolean): string {
  const args = (a: string, b: string): string =>
    `(local.get $codes) (local.get $tab) (local.get $scales) (local.get $zeros) (local.get $xq)
      (local.get $dx) (local.get $xg) (local.get $out) ${a} ${b} (local.get $bpr)
      (local.get $gpr) (local.get $bpg) (local.get $delta) (local.get $tmin)`;
  return `${decodeFunc(format, relaxed)}
  (func (export "${format}") ${PARAMS}
    (local $mid i32)
    (local.set $mid (i32.sub (local.get $end)
      (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const 1))))
    (call $${format}_2 ${args("(local.get $start)", "(local.get $mid)")})
    (call $${format}_1 ${args("(local.get $mid)", "(local.get $end)")}))
  (func (export "${format}_il") ${PARAMS}
    (local $mid i32)
    (local.set $mid (i32.sub (local.get $end)
      (i32.and (i32.sub (local.get $end) (local.get $start)) (i32.const 1))))
    (call $${format}_2i ${args("(local.get $start)", "(local.get $mid)")})
    (call $${format}_1 ${args("(local.get $mid)", "(local.get $end)")}))
  (func (export "${format}_batch") ${PARAMS}
    (param $nb i32) (param $scratch i32) (param $tile i32) (param $ldo i32)
    (local $mid i32) (local $r0 i32) (local $r1 i32) (local $b i32) (local $pc i32) (local $base i32)
    (local $xqb i32) (local $dxb i32) (local $xgb i32) (local $outb i32)
    (local.set $pc (i32.shl (i32.mul (local.get $gpr) (local.get $bpg)) (i32.const 6)))
    (local.set $r0 (local.get $start))
    (block $done
      (loop $tiles
        (br_if $done (i32.ge_u (local.get $r0) (local.get $end)))
        (local.set $r1 (i32.add (local.get $r0) (local.get $tile)))
        (if (i32.gt_u (local.get $r1) (local.get $end)) (then (local.set $r1 (local.get $end))))
        (call $${format}_decode (local.get $codes) (local.get $tab) (local.get $scratch)
          (local.get $r0) (local.get $r1) (local.get $bpr) (i32.mul (local.get $gpr) (local.get $bpg)))
        ;; Row r of the tile sits at scratch + (r − r0)·pc (i32 arithmetic wraps).
        (local.set $base (i32.sub (local.get $scratch) (i32.mul (local.get $r0) (local.get $pc))))
        (local.set $b (i32.const 0))
        (loop $batch
          (local.set $xqb (i32.add (local.get $xq) (i32.mul (local.get $b) (local.get $pc))))
          (local.set $dxb (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $b)
            (i32.mul (local.get $gpr) (local.get $bpg))) (i32.const 2))))
          (local.set $xgb (i32.add (local.get $xg) (i32.shl (i32.mul (local.get $b) (local.get $gpr)) (i32.const 2))))
          (local.set $outb (i32.add (local.get $out) (i32.shl (i32.mul (local.get $b) (local.get $ldo)) (i32.const 2))))
          (local.set $mid (i32.sub (local.get $r1) (i32.and (i32.sub (local.get $r1) (local.get $r0)) (i32.const 1))))
          (call $i8_2 (local.get $base) (local.get $tab) (local.get $scales) (local.get $zeros)
            (local.get $xqb) (local.get $dxb) (local.get $xgb) (local.get $outb) (local.get $r0)
            (local.get $mid) (local.get $pc) (local.get $gpr) (local.get $bpg) (local.get $delta)
            (local.get $tmin))
          (call $i8_1 (local.get $base) (local.get $tab) (local.get $scales) (local.get $zeros)
            (local.get $xqb) (local.get $dxb) (local.get $xgb) (local.get $outb) (local.get $mid)
            (local.get $r1) (local.get $pc) (local.get $gpr) (local.get $bpg) (local.get $delta)
            (local.get $tmin))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (br_if $batch (i32.lt_u (local.get $b) (local.get $nb))))
        (local.set $r0 (local.get $r1))
        (br $tiles))))`;
}

/** The row functions of one format, one and two rows per pass. */
function rowFuncs(format: LutInt8Format, relaxed: boolean): string {
  const il = format === "i8" ? "" : `\n${rowsFunc(format, relaxed, 2, true)}`;
  return `${rowsFunc(format, relaxed, 1)}\n${rowsFunc(format, relaxed, 2)}${il}`;
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
${rowFuncs("i8", relaxed)}
${LUT_INT8_FORMATS.map((f) => `${rowFuncs(f, relaxed)}\n${kernel(f, relaxed)}`).join("\n")}
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
