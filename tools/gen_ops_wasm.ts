/**
 * Build script of the WebAssembly SIMD kernels of the Llama forward's element-wise work
 * (`src/model/gen/ops_wasm_bytes.ts`, loaded by `ops_wasm.ts`): assembles the WAT below with WABT (npm
 * `wabt@1.0.39`) and writes the module as base64 into `src/model/gen/ops_wasm_bytes.ts`. Rerun after
 * editing the WAT:
 *
 *     deno task gen
 *
 * The module imports its memory (`env.mem`, one instance per memory; the caller places the data
 * there). All pointers are byte offsets into it, all data f32 unless stated.
 *
 * Every kernel computes e^x on four f32 lanes with the same inlined code ({@linkcode exp4}, after
 * Cephes `expf`): x = k·ln2 + r with k = round(x·log2 e) and r from a two-part ln 2 (Cody–Waite,
 * exact products for |k| ≤ 128), e^r from a degree-7 polynomial (minimax on |r| ≤ ln2/2), 2^k
 * built from its exponent bits. x is clamped to [−87.33654, 88] (k ∈ [−126, 127], so 2^k stays
 * a normal f32) and results for x < −87.33654 (below the smallest normal f32) are flushed to 0;
 * NaN stays NaN. Exports:
 *
 * - `silu_mul(g, u, n)`: `g[i] = g[i] / (1 + e^−g[i]) · u[i]` for i < n (SwiGLU in place).
 * - `exp_n(x, n)`: `x[i] = e^x[i]` for i < n (tests and checks of `exp4`).
 * - `softmax_rows(p, rows, n, hi0, lo0, lostep, inv)`: softmax numerators of a `[rows, n]` block
 *   of attention scores in place. Row r keeps columns `[lo, hi)` with `hi = hi0 + r` and
 *   `lo = max(0, lo0 + r·lostep)`: those become `e^(x − max)` (max over the kept columns), every
 *   other column exactly 0, and `inv[r]` (f64) the reciprocal of the numerators' sum (summed in
 *   f64 from the stored f32 values).
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** The constants of {@linkcode exp4}, by local name. */
const EXP_CONSTS: Record<string, string> = {
  lo: "-87.33654", // below: the result is flushed to 0 (e^x under the smallest normal f32)
  hi: "88", // above: clamped (2^k stays finite)
  log2e: "1.44269504088896341",
  magic: "12582912", // 1.5·2^23
  ln2hi: "0.693359375", // ln 2 = ln2hi + ln2lo; k·ln2hi is exact for |k| ≤ 2^15
  ln2lo: "-2.12194440e-4",
  p0: "1.9875691500e-4",
  p1: "1.3981999507e-3",
  p2: "8.3334519073e-3",
  p3: "4.1665795894e-2",
  p4: "1.6666665459e-1",
  p5: "5.0000001201e-1",
  one: "1",
};

/**
 * WAT computing e^x on four lanes into local `$e`, inlined at each use (a call per vector costs
 * more than the maths), with the constants in locals (`$c_…`, set once by
 * {@linkcode EXP_INIT}: V8 rebuilds a `v128.const` inside a loop on every iteration). Uses the
 * locals `$ex $ek $ep $eflush`; `x` is an expression. Rounding x·log2 e to the integer k: adding
 * 1.5·2^23 in f32 rounds to nearest and leaves k in the low mantissa bits, so
 * `(bits + 127) << 23` is the bit pattern of 2^k (the magic number's own bits shift out), and
 * subtracting 1.5·2^23 again gives k as an f32.
 */
export function exp4(x: string): string {
  return `
    (local.set $ex ${x})
    (local.set $eflush (f32x4.lt (local.get $ex) (local.get $c_lo)))
    (local.set $ex (f32x4.pmin (f32x4.pmax (local.get $ex) (local.get $c_lo)) (local.get $c_hi)))
    (local.set $ek (f32x4.add (f32x4.mul (local.get $ex) (local.get $c_log2e)) (local.get $c_magic)))
    (local.set $e (i32x4.shl (i32x4.add (local.get $ek) (local.get $c_bias)) (i32.const 23)))
    (local.set $ek (f32x4.sub (local.get $ek) (local.get $c_magic)))
    (local.set $ex (f32x4.sub
      (f32x4.sub (local.get $ex) (f32x4.mul (local.get $ek) (local.get $c_ln2hi)))
      (f32x4.mul (local.get $ek) (local.get $c_ln2lo))))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ex) (local.get $c_p0)) (local.get $c_p1)))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ex)) (local.get $c_p2)))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ex)) (local.get $c_p3)))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ex)) (local.get $c_p4)))
    (local.set $ep (f32x4.add (f32x4.mul (local.get $ep) (local.get $ex)) (local.get $c_p5)))
    (local.set $ep (f32x4.add
      (f32x4.add (f32x4.mul (local.get $ep) (f32x4.mul (local.get $ex) (local.get $ex)))
        (local.get $ex))
      (local.get $c_one)))
    (local.set $e (v128.andnot (f32x4.mul (local.get $ep) (local.get $e)) (local.get $eflush)))`;
}

/** The locals of {@linkcode exp4}, declared by every function using it. */
export const EXP_LOCALS: string =
  "(local $e v128) (local $ex v128) (local $ek v128) (local $ep v128) " +
  "(local $eflush v128) (local $c_bias v128) " +
  Object.keys(EXP_CONSTS).map((name) => `(local $c_${name} v128)`).join(" ");

/** Sets the constant locals of {@linkcode exp4} (at the top of a function body). */
export const EXP_INIT: string = "(local.set $c_bias (v128.const i32x4 127 127 127 127))\n" +
  Object.entries(EXP_CONSTS).map(([name, v]) =>
    `    (local.set $c_${name} (v128.const f32x4 ${v} ${v} ${v} ${v}))`
  ).join("\n");

/** The kernels' WebAssembly text (see the module doc). */
export const OPS_WAT = `
(module
  (import "env" "mem" (memory 1))

  (func (export "exp_n") (param $x i32) (param $n i32)
    (local $end i32) ${EXP_LOCALS}
    ${EXP_INIT}
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        ${exp4("(v128.load (local.get $x))")}
        (v128.store (local.get $x) (local.get $e))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $v)))
    (block $sdone
      (loop $s
        (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
        ${exp4("(f32x4.splat (f32.load (local.get $x)))")}
        (f32.store (local.get $x) (f32x4.extract_lane 0 (local.get $e)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $s))))

  (func (export "silu_mul") (param $g i32) (param $u i32) (param $n i32)
    (local $end i32) (local $v v128) ${EXP_LOCALS}
    ${EXP_INIT}
    (local.set $end (i32.add (local.get $g) (i32.shl (local.get $n) (i32.const 2))))
    (block $vdone
      (loop $vl
        (br_if $vdone (i32.gt_u (i32.add (local.get $g) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load (local.get $g)))
        ${exp4("(f32x4.neg (local.get $v))")}
        (v128.store (local.get $g)
          (f32x4.mul
            (f32x4.div (local.get $v) (f32x4.add (local.get $c_one) (local.get $e)))
            (v128.load (local.get $u))))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $u (i32.add (local.get $u) (i32.const 16)))
        (br $vl)))
    (block $sdone
      (loop $s
        (br_if $sdone (i32.ge_u (local.get $g) (local.get $end)))
        (local.set $v (f32x4.splat (f32.load (local.get $g))))
        ${exp4("(f32x4.neg (local.get $v))")}
        (f32.store (local.get $g)
          (f32.mul
            (f32.div (f32x4.extract_lane 0 (local.get $v))
              (f32.add (f32.const 1) (f32x4.extract_lane 0 (local.get $e))))
            (f32.load (local.get $u))))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $u (i32.add (local.get $u) (i32.const 4)))
        (br $s))))

  (func (export "softmax_rows") (param $p i32) (param $rows i32) (param $n i32) (param $hi0 i32)
    (param $lo0 i32) (param $lostep i32) (param $inv i32)
    (local $r i32) (local $row i32) (local $lo i32) (local $hi i32) (local $a i32) (local $end i32)
    (local $vend i32) (local $m v128) (local $mf f32) (local $acc v128) (local $s f64)
    ${EXP_LOCALS}
    ${EXP_INIT}
    (block $rows_done
      (loop $rowsl
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.add (local.get $p)
          (i32.shl (i32.mul (local.get $r) (local.get $n)) (i32.const 2))))
        (local.set $hi (i32.add (local.get $hi0) (local.get $r)))
        (if (i32.gt_s (local.get $hi) (local.get $n)) (then (local.set $hi (local.get $n))))
        (local.set $lo (i32.add (local.get $lo0) (i32.mul (local.get $r) (local.get $lostep))))
        (if (i32.lt_s (local.get $lo) (i32.const 0)) (then (local.set $lo (i32.const 0))))
        ;; masked columns: exactly 0
        (memory.fill (local.get $row) (i32.const 0) (i32.shl (local.get $lo) (i32.const 2)))
        (memory.fill (i32.add (local.get $row) (i32.shl (local.get $hi) (i32.const 2)))
          (i32.const 0) (i32.shl (i32.sub (local.get $n) (local.get $hi)) (i32.const 2)))
        (local.set $end (i32.add (local.get $row) (i32.shl (local.get $hi) (i32.const 2))))
        (local.set $vend (i32.sub (local.get $end) (i32.const 16)))
        ;; max over [lo, hi)
        (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $a (i32.add (local.get $row) (i32.shl (local.get $lo) (i32.const 2))))
        (block $mdone
          (loop $ml
            (br_if $mdone (i32.gt_s (local.get $a) (local.get $vend)))
            (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $a))))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (br $ml)))
        (block $mtdone
          (loop $mt
            (br_if $mtdone (i32.ge_u (local.get $a) (local.get $end)))
            (local.set $m (f32x4.max (local.get $m) (f32x4.splat (f32.load (local.get $a)))))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (br $mt)))
        (local.set $mf (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
          (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
        (local.set $m (f32x4.splat (local.get $mf)))
        ;; numerators and their f64 sum
        (local.set $acc (v128.const f64x2 0 0))
        (local.set $a (i32.add (local.get $row) (i32.shl (local.get $lo) (i32.const 2))))
        (block $edone
          (loop $el
            (br_if $edone (i32.gt_s (local.get $a) (local.get $vend)))
            ${exp4("(f32x4.sub (v128.load (local.get $a)) (local.get $m))")}
            (v128.store (local.get $a) (local.get $e))
            (local.set $acc (f64x2.add (local.get $acc)
              (f64x2.add (f64x2.promote_low_f32x4 (local.get $e))
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e))))))
            (local.set $a (i32.add (local.get $a) (i32.const 16)))
            (br $el)))
        (local.set $s (f64.add (f64x2.extract_lane 0 (local.get $acc))
          (f64x2.extract_lane 1 (local.get $acc))))
        (block $etdone
          (loop $et
            (br_if $etdone (i32.ge_u (local.get $a) (local.get $end)))
            ${exp4("(f32x4.sub (f32x4.splat (f32.load (local.get $a))) (local.get $m))")}
            (local.set $mf (f32x4.extract_lane 0 (local.get $e)))
            (f32.store (local.get $a) (local.get $mf))
            (local.set $s (f64.add (local.get $s) (f64.promote_f32 (local.get $mf))))
            (local.set $a (i32.add (local.get $a) (i32.const 4)))
            (br $et)))
        (f64.store (i32.add (local.get $inv) (i32.shl (local.get $r) (i32.const 3)))
          (f64.div (f64.const 1) (local.get $s)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowsl))))
)
`;

/** The generated file, `src/model/gen/ops_wasm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const buffer = await assembleWat("ops.wat", OPS_WAT, { simd: true, bulk_memory: true });
  const text = wasmBytesSource(
    "OPS_WASM_BASE64",
    ` * The WebAssembly SIMD kernels of the Llama forward's element-wise work, generated by
 * tools/gen_ops_wasm.ts (WABT 1.0.39) from the WAT in that file — do not edit; run
 * \`deno task gen\` to regenerate.`,
    buffer,
  );
  return [{ path: "src/model/gen/ops_wasm_bytes.ts", text }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_ops_wasm.ts", generate });
}
