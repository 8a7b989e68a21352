/**
 * Build script of the WebAssembly SIMD kernels that widen 16-bit floats to f32
 * (`src/cpu/gen/widen_wasm_bytes.ts`, loaded by `src/cpu/widen.ts`): assembles the WAT below with
 * WABT (npm `wabt@1.0.39`) and writes the module as base64. Rerun after editing the WAT:
 *
 *     deno task gen
 *
 * The module imports its memory (`env.mem`); pointers are byte offsets into it, `n` counts
 * elements and must be a multiple of 8 (the caller pads). Exports:
 *
 * - `bf16(src, dst, n)`: `dst[i] = bits(src[i] << 16)`: exact (bf16 is the top half of an f32).
 * - `f16(src, dst, n)`: the f32 of each IEEE half, exact for every pattern: `(h & 0x7fff) << 13`
 *   read as an f32 and multiplied by 2^112 rebiases the exponent of a normal half and turns a
 *   subnormal half (an f32 subnormal here; WebAssembly keeps subnormals) into the right normal
 *   f32; exponent 31 (Inf/NaN) gets the f32 exponent 255 ORed in (the mantissa, and so a NaN's
 *   payload, kept); then the sign.
 * - `gemv_bf16(w, x, y, rows, k)`, `gemv_f16(…)`: `y[r] = Σ_j widen(w[r·k + j]) · x'[j]` for
 *   `rows` rows of `k` 16-bit weights (`k` a multiple of 8), reading the 16-bit weights directly
 *   (a batch-1 product: half the bytes of an f32 GEMV, no widened copy). `x'` is x with each block
 *   of 8 stored as its 4 even elements, then its 4 odd ones: a 32-bit lane of 8 loaded weights
 *   holds an even weight in its low half and the next odd one in its high half, so bf16 widens
 *   with one shift (even) and one mask (odd) per 4 weights, f16 with the `f16` kernel's steps.
 *   Rows go 4 at a time (one load of x' serves 4 rows), even and odd products in separate
 *   accumulators; each output is a sum of its k products in a fixed order.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/**
 * The WAT of one GEMV kernel: `lo`/`hi` turn the loaded vector `$v` into the f32s of its even /
 * odd weights (4 each).
 */
function gemvWat(name: string, mask: string, lo: string, hi: string): string {
  const rows = [0, 1, 2, 3];
  const acc = (r: number): string =>
    `(local.set $e${r} (f32x4.add (local.get $e${r}) (f32x4.mul ${lo} (local.get $xe))))
          (local.set $o${r} (f32x4.add (local.get $o${r}) (f32x4.mul ${hi} (local.get $xo))))`;
  const hsum = (r: number): string =>
    `(local.set $s (f32x4.add (local.get $e${r}) (local.get $o${r})))
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s)))
          (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s))))`;
  const group = (n: number): string => `
      ${
    rows.slice(0, n).map((r) =>
      `(local.set $e${r} (v128.const i32x4 0 0 0 0))
      (local.set $o${r} (v128.const i32x4 0 0 0 0))`
    ).join("\n      ")
  }
      (local.set $p (local.get $w))
      (local.set $xp (local.get $x))
      (block $kdone
        (loop $knext
          (br_if $kdone (i32.ge_u (local.get $xp) (local.get $xend)))
          (local.set $xe (v128.load (local.get $xp)))
          (local.set $xo (v128.load offset=16 (local.get $xp)))
          ${
    rows.slice(0, n).map((r) =>
      `(local.set $v (v128.load (i32.add (local.get $p) (i32.mul (local.get $rs) (i32.const ${r})))))
          ${acc(r)}`
    ).join("\n          ")
  }
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
          (br $knext)))
      ${
    rows.slice(0, n).map((r) => `(f32.store offset=${4 * r} (local.get $y) ${hsum(r)})`).join(
      "\n      ",
    )
  }
      (local.set $w (i32.add (local.get $w) (i32.mul (local.get $rs) (i32.const ${n}))))
      (local.set $y (i32.add (local.get $y) (i32.const ${4 * n})))
      (local.set $rows (i32.sub (local.get $rows) (i32.const ${n})))`;
  return `
  (func (export "${name}") (param $w i32) (param $x i32) (param $y i32) (param $rows i32) (param $k i32)
    (local $rs i32) (local $xend i32) (local $p i32) (local $xp i32)
    (local $v v128) (local $xe v128) (local $xo v128) (local $s v128)
    (local $mask v128) (local $scale v128) (local $inf v128) (local $h v128) (local $a v128) (local $abs v128)
    (local $exp31 v128)
    (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128)
    (local $o0 v128) (local $o1 v128) (local $o2 v128) (local $o3 v128)
    (local.set $mask (v128.const i32x4 ${mask} ${mask} ${mask} ${mask}))
    (local.set $scale (v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
    (local.set $inf (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
    (local.set $abs (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
    (local.set $exp31 (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
    (local.set $rs (i32.shl (local.get $k) (i32.const 1)))
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
    (block $done4
      (loop $next4
        (br_if $done4 (i32.lt_u (local.get $rows) (i32.const 4)))${group(4)}
        (br $next4)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.eqz (local.get $rows)))${group(1)}
        (br $next1))))`;
}

/** `$half4` inlined (a call per 4 weights cost the f16 GEMV 2×): the f32s of the halves `h`. */
const HALF4 = (h: string): string =>
  `(local.set $h ${h})
          (local.set $a (v128.and (local.get $h) (local.get $abs)))
          (v128.or
            (v128.or
              (f32x4.mul (i32x4.shl (local.get $a) (i32.const 13)) (local.get $scale))
              (v128.and (local.get $inf) (i32x4.ge_u (local.get $a) (local.get $exp31))))
            (i32x4.shl (v128.xor (local.get $h) (local.get $a)) (i32.const 16)))`;

/** The WAT of the module. */
export const WIDEN_WAT = `(module
  (import "env" "mem" (memory 1))
  (func (export "bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16)))
        (v128.store offset=16 (local.get $dst)
          (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next))))
  (func $half4 (param $h v128) (param $scale v128) (param $inf v128) (result v128)
    (local $em v128) (local $f v128)
    (local.set $em (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
      (i32.const 13)))
    (local.set $f (f32x4.mul (local.get $em) (local.get $scale)))
    (local.set $f (v128.or (local.get $f)
      (v128.and (local.get $inf)
        (i32x4.eq (v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
          (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)))))
    (v128.or (local.get $f)
      (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))
        (i32.const 16))))
  (func (export "f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128) (local $scale v128) (local $inf v128)
    ;; 2^112 and the f32 exponent bits, in locals (a v128.const in a loop is rebuilt each time).
    (local.set $scale (v128.const i32x4 0x77800000 0x77800000 0x77800000 0x77800000))
    (local.set $inf (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (call $half4 (i32x4.extend_low_i16x8_u (local.get $v)) (local.get $scale) (local.get $inf)))
        (v128.store offset=16 (local.get $dst)
          (call $half4 (i32x4.extend_high_i16x8_u (local.get $v)) (local.get $scale) (local.get $inf)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next))))
${
  gemvWat(
    "gemv_bf16",
    "0xffff0000",
    "(i32x4.shl (local.get $v) (i32.const 16))",
    "(v128.and (local.get $v) (local.get $mask))",
  )
}
${
  gemvWat(
    "gemv_f16",
    "0xffff",
    HALF4("(v128.and (local.get $v) (local.get $mask))"),
    HALF4("(i32x4.shr_u (local.get $v) (i32.const 16))"),
  )
}
)`;

/** The generated file, `src/cpu/gen/widen_wasm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const buffer = await assembleWat("widen.wat", WIDEN_WAT, { simd: true });
  const text = wasmBytesSource(
    "WIDEN_WASM_BASE64",
    ` * The WebAssembly SIMD kernels that widen bf16 / f16 to f32, generated by
 * tools/gen_widen_wasm.ts (WABT 1.0.39) from the WAT in that file — do not edit; run
 * \`deno task gen\` to regenerate.`,
    buffer,
  );
  return [{ path: "src/cpu/gen/widen_wasm_bytes.ts", text }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_widen_wasm.ts", generate });
}
