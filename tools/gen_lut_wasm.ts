/**
 * Build script of the WebAssembly SIMD LUT kernel (`src/lut/gen/lut_wasm_bytes.ts`): assembles the WAT below
 * with WABT (npm `wabt@1.0.39`, the WebAssembly Binary Toolkit's own JavaScript build) and writes
 * the module as base64 into `src/lut/gen/lut_wasm_bytes.ts`. Rerun after editing the WAT:
 *
 *     deno task gen
 *
 * Two kernels with one contract, `f(codes, table, scales, zeros, xsum, x, out, start, end, wpr,
 * gpr, wpg)`. `lut4`:
 * rows [start, end) of y[r] = Σ_groups s·(Σ t[code]·x − z·Σx) for 4-bit scalar codes (p = 1),
 * groups along the input axis of a multiple of 64 codes (wpg, words per group, a multiple of 8).
 * Per 16 codes (8 bytes): split the nibbles and interleave them into 16 byte indices, look the
 * 16 f32 table entries up with four `i8x16.swizzle`s on the table's byte planes (plane k holds
 * byte k of each of the 16 entries), re-interleave the bytes into four f32x4 vectors with eight
 * shuffles, multiply by x and accumulate in f32x4; every 64 codes the partial sums are widened
 * into an f64x2 accumulator, so a group sums in f64 apart from 16-term f32 partials. All pointers
 * are byte offsets into the imported shared memory; x is f32, xsum f64, scales/zeros/out f32.
 * `lut8p2`: 8-bit pair codes (p = 2, HIGGS (2,256)), groups of a multiple of 64 weights: per
 * code one 8-byte `v128.load64_zero`/`load64_lane` of the (t₀, t₁) pair, two codes per f32x4.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** The kernel's WebAssembly text (see the module doc). */
export const LUT4_WAT = `
(module
  (import "env" "mem" (memory 1 65536 shared))
  (func (export "lut4")
    (param $codes i32) (param $planes i32) (param $scales i32) (param $zeros i32)
    (param $xsum i32) (param $x i32) (param $out i32) (param $start i32) (param $end i32)
    (param $wpr i32) (param $gpr i32) (param $wpg i32)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128)
    (local $r i32) (local $w i32) (local $xp i32) (local $gi i32) (local $k i32) (local $j i32)
    (local $sidx i32)
    (local $v v128) (local $idx v128) (local $b0 v128) (local $b1 v128) (local $b2 v128)
    (local $b3 v128) (local $t01 v128) (local $t23 v128) (local $acc v128) (local $g64 v128)
    (local $tot f64) (local $gs f64)
    (local.set $p0 (v128.load (local.get $planes)))
    (local.set $p1 (v128.load offset=16 (local.get $planes)))
    (local.set $p2 (v128.load offset=32 (local.get $planes)))
    (local.set $p3 (v128.load offset=48 (local.get $planes)))
    (local.set $r (local.get $start))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $w (i32.add (local.get $codes)
          (i32.shl (i32.mul (local.get $r) (local.get $wpr)) (i32.const 2))))
        (local.set $xp (local.get $x))
        (local.set $sidx (i32.mul (local.get $r) (local.get $gpr)))
        (local.set $tot (f64.const 0))
        (local.set $gi (i32.const 0))
        (block $groups_done
          (loop $groups
            (br_if $groups_done (i32.ge_u (local.get $gi) (local.get $gpr)))
            (local.set $g64 (v128.const i64x2 0 0))
            (local.set $k (i32.const 0))
            (block $words_done
              (loop $words
                (br_if $words_done (i32.ge_u (local.get $k) (local.get $wpg)))
                (local.set $acc (v128.const i32x4 0 0 0 0))
                (local.set $j (i32.const 0))
                (loop $sixteen
                  (local.set $v (v128.load64_zero (local.get $w)))
                  (local.set $idx (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
                    (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                    (i8x16.shr_u (local.get $v) (i32.const 4))))
                  (local.set $b0 (i8x16.swizzle (local.get $p0) (local.get $idx)))
                  (local.set $b1 (i8x16.swizzle (local.get $p1) (local.get $idx)))
                  (local.set $b2 (i8x16.swizzle (local.get $p2) (local.get $idx)))
                  (local.set $b3 (i8x16.swizzle (local.get $p3) (local.get $idx)))
                  (local.set $t01 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
                    (local.get $b0) (local.get $b1)))
                  (local.set $t23 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
                    (local.get $b2) (local.get $b3)))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $t01) (local.get $t23))
                    (v128.load (local.get $xp)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $t01) (local.get $t23))
                    (v128.load offset=16 (local.get $xp)))))
                  (local.set $t01 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31
                    (local.get $b0) (local.get $b1)))
                  (local.set $t23 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31
                    (local.get $b2) (local.get $b3)))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $t01) (local.get $t23))
                    (v128.load offset=32 (local.get $xp)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $t01) (local.get $t23))
                    (v128.load offset=48 (local.get $xp)))))
                  (local.set $w (i32.add (local.get $w) (i32.const 8)))
                  (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br_if $sixteen (i32.lt_u (local.get $j) (i32.const 4))))
                ;; Widen the 64-code partial sums into the group's f64 accumulator.
                (local.set $g64 (f64x2.add (local.get $g64) (f64x2.promote_low_f32x4 (local.get $acc))))
                (local.set $g64 (f64x2.add (local.get $g64) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc)))))
                (local.set $k (i32.add (local.get $k) (i32.const 8)))
                (br $words)))
            (local.set $gs (f64.add (f64x2.extract_lane 0 (local.get $g64))
              (f64x2.extract_lane 1 (local.get $g64))))
            (if (local.get $zeros)
              (then
                (local.set $gs (f64.sub (local.get $gs) (f64.mul
                  (f64.promote_f32 (f32.load (i32.add (local.get $zeros)
                    (i32.shl (local.get $sidx) (i32.const 2)))))
                  (f64.load (i32.add (local.get $xsum) (i32.shl (local.get $gi) (i32.const 3)))))))))
            (local.set $tot (f64.add (local.get $tot) (f64.mul
              (f64.promote_f32 (f32.load (i32.add (local.get $scales)
                (i32.shl (local.get $sidx) (i32.const 2)))))
              (local.get $gs))))
            (local.set $sidx (i32.add (local.get $sidx) (i32.const 1)))
            (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
            (br $groups)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
          (f32.demote_f64 (local.get $tot)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))
  ;; lut8p2: the same contract for 8-bit pair codes (p = 2, HIGGS (2,256)); the table pointer
  ;; holds the raw 256 × 2 f32 table; each word holds 4 codes = 8 weights; wpg = words per group.
  (func (export "lut8p2")
    (param $codes i32) (param $table i32) (param $scales i32) (param $zeros i32)
    (param $xsum i32) (param $x i32) (param $out i32) (param $start i32) (param $end i32)
    (param $wpr i32) (param $gpr i32) (param $wpg i32)
    (local $r i32) (local $w i32) (local $xp i32) (local $gi i32) (local $k i32) (local $j i32)
    (local $sidx i32) (local $u i32)
    (local $acc v128) (local $g64 v128) (local $tot f64) (local $gs f64)
    (local.set $r (local.get $start))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $w (i32.add (local.get $codes)
          (i32.shl (i32.mul (local.get $r) (local.get $wpr)) (i32.const 2))))
        (local.set $xp (local.get $x))
        (local.set $sidx (i32.mul (local.get $r) (local.get $gpr)))
        (local.set $tot (f64.const 0))
        (local.set $gi (i32.const 0))
        (block $groups_done
          (loop $groups
            (br_if $groups_done (i32.ge_u (local.get $gi) (local.get $gpr)))
            (local.set $g64 (v128.const i64x2 0 0))
            (local.set $k (i32.const 0))
            (block $words_done
              (loop $words
                (br_if $words_done (i32.ge_u (local.get $k) (local.get $wpg)))
                (local.set $acc (v128.const i32x4 0 0 0 0))
                (local.set $j (i32.const 0))
                (loop $eight
                  (local.set $u (i32.load (local.get $w)))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (v128.load64_lane 1
                      (i32.add (local.get $table) (i32.shl (i32.and (i32.shr_u (local.get $u) (i32.const 8)) (i32.const 255)) (i32.const 3)))
                      (v128.load64_zero
                        (i32.add (local.get $table) (i32.shl (i32.and (local.get $u) (i32.const 255)) (i32.const 3)))))
                    (v128.load (local.get $xp)))))
                  (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul
                    (v128.load64_lane 1
                      (i32.add (local.get $table) (i32.shl (i32.shr_u (local.get $u) (i32.const 24)) (i32.const 3)))
                      (v128.load64_zero
                        (i32.add (local.get $table) (i32.shl (i32.and (i32.shr_u (local.get $u) (i32.const 16)) (i32.const 255)) (i32.const 3)))))
                    (v128.load offset=16 (local.get $xp)))))
                  (local.set $w (i32.add (local.get $w) (i32.const 4)))
                  (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br_if $eight (i32.lt_u (local.get $j) (i32.const 8))))
                (local.set $g64 (f64x2.add (local.get $g64) (f64x2.promote_low_f32x4 (local.get $acc))))
                (local.set $g64 (f64x2.add (local.get $g64) (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc)))))
                (local.set $k (i32.add (local.get $k) (i32.const 8)))
                (br $words)))
            (local.set $gs (f64.add (f64x2.extract_lane 0 (local.get $g64))
              (f64x2.extract_lane 1 (local.get $g64))))
            (if (local.get $zeros)
              (then
                (local.set $gs (f64.sub (local.get $gs) (f64.mul
                  (f64.promote_f32 (f32.load (i32.add (local.get $zeros)
                    (i32.shl (local.get $sidx) (i32.const 2)))))
                  (f64.load (i32.add (local.get $xsum) (i32.shl (local.get $gi) (i32.const 3)))))))))
            (local.set $tot (f64.add (local.get $tot) (f64.mul
              (f64.promote_f32 (f32.load (i32.add (local.get $scales)
                (i32.shl (local.get $sidx) (i32.const 2)))))
              (local.get $gs))))
            (local.set $sidx (i32.add (local.get $sidx) (i32.const 1)))
            (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
            (br $groups)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
          (f32.demote_f64 (local.get $tot)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))
)
`;

/** The generated file, `src/lut/gen/lut_wasm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const buffer = await assembleWat("lut4.wat", LUT4_WAT, { simd: true, threads: true });
  const text = wasmBytesSource(
    "LUT4_WASM_BASE64",
    ` * The WebAssembly SIMD LUT kernel, generated by tools/gen_lut_wasm.ts (WABT 1.0.39) from the
 * WAT in that file — do not edit; run \`deno task gen\` to regenerate.`,
    buffer,
  );
  return [{ path: "src/lut/gen/lut_wasm_bytes.ts", text }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_lut_wasm.ts", generate });
}
