/**
 * Build script of the WebAssembly SIMD kernels of the trainer's element-wise work
 * (`train_wasm_bytes.ts`, loaded by `train_wasm.ts`): assembles the WAT below with WABT (npm
 * `wabt@1.0.39`) and writes the module as base64 into `src/train/train_wasm_bytes.ts`. Rerun
 * after editing the WAT:
 *
 *     deno task gen
 *
 * The module imports its memory (`env.mem`); all pointers are byte offsets into it (unsigned, so
 * a memory up to 4 GiB works), all data f32 unless stated. e^x is the forward's four-lane Cephes
 * `expf` ({@linkcode exp4}, ≤ 2 ulp). Each loop runs four lanes at a time and finishes the last
 * 0–3 elements one at a time with the same code (see {@linkcode lanes}). Exports:
 *
 * - `rmsnorm_fwd(x, w, y, r, rows, d, eps)`: per row of `[rows, d]`, `r = 1/√(mean x² + eps)`
 *   (stored in `r[row]`) and `y = x·r·w`.
 * - `rmsnorm_bwd(x, r, w, dy, dx, dw, rows, d)`: `dx += r·w·dy − x·r³·Σ(w·dy·x)/d` per row and
 *   `dw += Σ_rows dy·x·r`.
 * - `swiglu_fwd(g, u, h, n)`: `h = g/(1 + e^−g)·u`.
 * - `swiglu_bwd(dh, g, u, n)`: the gradients of `h = silu(g)·u` in place: `g ← dh·u·s·(1 +
 *   g·(1 − s))`, `u ← dh·g·s` with `s = 1/(1 + e^−g)`.
 * - `softmax_causal(p, t, blocks)`: `blocks` consecutive `[t, t]` score blocks in place; row i
 *   keeps columns ≤ i (the softmax over them), the others become exactly 0.
 * - `softmax_bwd(p, dp, t, blocks)`: `dp ← p·(dp − Σ p·dp)` over the kept columns of each row,
 *   exactly 0 above the diagonal.
 * - `xent_rows(p, rows, v, tgt, scale, out)`: next-token cross-entropy over `[rows, v]` logits
 *   with targets `tgt` (i32, −1 = no target). Per row, `out` (f64 pairs) gets `max − x[target]`
 *   and `Σ e^(x − max)` (the row's loss is their first plus the log of the second). With
 *   `scale > 0` the row becomes the gradient of `scale ×` the loss: `softmax(x)·scale`, minus
 *   `scale` at the target (rows without a target become 0); with `scale = 0` it is left as is.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { exp4, EXP_INIT, EXP_LOCALS } from "./gen_ops_wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** How a {@linkcode lanes} body reads, writes and accumulates: four lanes, or lane 0 only. */
interface Lane {
  /** Loads the f32 at `p` (four at a time, or one splat to all lanes). */
  load(p: string): string;
  /** Stores `v` at `p` (four lanes, or lane 0). */
  store(p: string, v: string): string;
  /** `v` as a term of a lane-wise sum (all lanes, or lane 0 with the others zero). */
  sum(v: string): string;
}

const VEC: Lane = {
  load: (p) => `(v128.load ${p})`,
  store: (p, v) => `(v128.store ${p} ${v})`,
  sum: (v) => v,
};
const ONE: Lane = {
  load: (p) => `(f32x4.splat (f32.load ${p}))`,
  store: (p, v) => `(f32.store ${p} (f32x4.extract_lane 0 ${v}))`,
  sum: (v) => `(f32x4.replace_lane 0 (v128.const i32x4 0 0 0 0) (f32x4.extract_lane 0 ${v}))`,
};

/**
 * A loop over the f32 elements from `ptrs[0]` up to `end` (a local holding a byte address): four
 * at a time while four remain, then one at a time, advancing every pointer in `ptrs` alike.
 */
function lanes(name: string, ptrs: string[], end: string, body: (l: Lane) => string): string {
  const step = (n: number) =>
    ptrs.map((p) => `(local.set ${p} (i32.add (local.get ${p}) (i32.const ${n})))`).join(" ");
  const p0 = `(local.get ${ptrs[0]})`;
  return `
    (block $${name}_vd (loop $${name}_v
      (br_if $${name}_vd (i32.gt_u (i32.add ${p0} (i32.const 16)) (local.get ${end})))
      ${body(VEC)}
      ${step(16)}
      (br $${name}_v)))
    (block $${name}_sd (loop $${name}_s
      (br_if $${name}_sd (i32.ge_u ${p0} (local.get ${end})))
      ${body(ONE)}
      ${step(4)}
      (br $${name}_s)))`;
}

/** The sum of the four lanes of the f32x4 expression `v`. */
function hsum(v: string): string {
  return `(f32.add
    (f32.add (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v}))
    (f32.add (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
}

/** The largest of the four lanes of the f32x4 expression `v`. */
function hmax(v: string): string {
  return `(f32.max
    (f32.max (f32x4.extract_lane 0 ${v}) (f32x4.extract_lane 1 ${v}))
    (f32.max (f32x4.extract_lane 2 ${v}) (f32x4.extract_lane 3 ${v})))`;
}

const get = (n: string) => `(local.get $${n})`;

/** The kernels' WebAssembly text (see the module doc). */
export const TRAIN_WAT = `
(module
  (import "env" "mem" (memory 1))

  (func (export "rmsnorm_fwd") (param $x i32) (param $w i32) (param $y i32) (param $r i32)
    (param $rows i32) (param $d i32) (param $eps f32)
    (local $i i32) (local $a i32) (local $b i32) (local $c i32) (local $end i32)
    (local $acc v128) (local $inv f32) (local $vinv v128)
    (block $done (loop $row
      (br_if $done (i32.ge_u ${get("i")} ${get("rows")}))
      (local.set $end (i32.add ${get("x")} (i32.shl ${get("d")} (i32.const 2))))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $a ${get("x")})
      ${
  lanes("ss", ["$a"], "$end", (l) =>
    `(local.set $acc (f32x4.add ${get("acc")}
        ${l.sum(`(f32x4.mul ${l.load(get("a"))} ${l.load(get("a"))})`)}))`)
}
      (local.set $inv (f32.div (f32.const 1) (f32.sqrt (f32.add
        (f32.div ${hsum(get("acc"))} (f32.convert_i32_u ${get("d")})) ${get("eps")}))))
      (f32.store ${get("r")} ${get("inv")})
      (local.set $vinv (f32x4.splat ${get("inv")}))
      (local.set $a ${get("x")}) (local.set $b ${get("w")}) (local.set $c ${get("y")})
      ${
  lanes("y", ["$a", "$b", "$c"], "$end", (l) =>
    l.store(
      get("c"),
      `(f32x4.mul (f32x4.mul ${l.load(get("a"))} ${get("vinv")}) ${l.load(get("b"))})`,
    ))
}
      (local.set $x ${get("end")})
      (local.set $y ${get("c")})
      (local.set $r (i32.add ${get("r")} (i32.const 4)))
      (local.set $i (i32.add ${get("i")} (i32.const 1)))
      (br $row))))

  (func (export "rmsnorm_bwd") (param $x i32) (param $r i32) (param $w i32) (param $dy i32)
    (param $dx i32) (param $dw i32) (param $rows i32) (param $d i32)
    (local $i i32) (local $a i32) (local $b i32) (local $c i32) (local $e i32) (local $f i32)
    (local $end i32) (local $acc v128) (local $ri f32) (local $vr v128) (local $vc v128)
    (local $g v128) (local $xv v128)
    (block $done (loop $row
      (br_if $done (i32.ge_u ${get("i")} ${get("rows")}))
      (local.set $end (i32.add ${get("x")} (i32.shl ${get("d")} (i32.const 2))))
      (local.set $ri (f32.load ${get("r")}))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $a ${get("x")}) (local.set $b ${get("w")}) (local.set $c ${get("dy")})
      ${
  lanes("dot", ["$a", "$b", "$c"], "$end", (l) =>
    `(local.set $acc (f32x4.add ${get("acc")} ${
      l.sum(`(f32x4.mul (f32x4.mul ${l.load(get("b"))} ${l.load(get("c"))}) ${l.load(get("a"))})`)
    }))`)
}
      (local.set $vr (f32x4.splat ${get("ri")}))
      (local.set $vc (f32x4.splat (f32.div
        (f32.mul (f32.mul ${get("ri")} (f32.mul ${get("ri")} ${get("ri")})) ${hsum(get("acc"))})
        (f32.convert_i32_u ${get("d")}))))
      (local.set $a ${get("x")}) (local.set $b ${get("w")}) (local.set $c ${get("dy")})
      (local.set $e ${get("dx")}) (local.set $f ${get("dw")})
      ${
  lanes("dx", ["$a", "$b", "$c", "$e", "$f"], "$end", (l) => `
        (local.set $g ${l.load(get("c"))})
        (local.set $xv ${l.load(get("a"))})
        ${
    l.store(
      get("e"),
      `(f32x4.sub (f32x4.add ${l.load(get("e"))}
          (f32x4.mul (f32x4.mul ${get("vr")} ${l.load(get("b"))}) ${get("g")}))
          (f32x4.mul ${get("vc")} ${get("xv")}))`,
    )
  }
        ${
    l.store(
      get("f"),
      `(f32x4.add ${l.load(get("f"))}
          (f32x4.mul (f32x4.mul ${get("g")} ${get("xv")}) ${get("vr")}))`,
    )
  }`)
}
      (local.set $x ${get("end")})
      (local.set $dy ${get("c")})
      (local.set $dx ${get("e")})
      (local.set $r (i32.add ${get("r")} (i32.const 4)))
      (local.set $i (i32.add ${get("i")} (i32.const 1)))
      (br $row))))

  (func (export "swiglu_fwd") (param $g i32) (param $u i32) (param $h i32) (param $n i32)
    (local $end i32) (local $v v128) ${EXP_LOCALS}
    ${EXP_INIT}
    (local.set $end (i32.add ${get("g")} (i32.shl ${get("n")} (i32.const 2))))
    ${
  lanes("s", ["$g", "$u", "$h"], "$end", (l) => `
      (local.set $v ${l.load(get("g"))})
      ${exp4(`(f32x4.neg ${get("v")})`)}
      ${
    l.store(
      get("h"),
      `(f32x4.mul (f32x4.div ${get("v")} (f32x4.add ${get("c_one")} ${get("e")}))
        ${l.load(get("u"))})`,
    )
  }`)
})

  (func (export "swiglu_bwd") (param $dh i32) (param $g i32) (param $u i32) (param $n i32)
    (local $end i32) (local $z v128) (local $s v128) (local $dv v128) ${EXP_LOCALS}
    ${EXP_INIT}
    (local.set $end (i32.add ${get("dh")} (i32.shl ${get("n")} (i32.const 2))))
    ${
  lanes("s", ["$dh", "$g", "$u"], "$end", (l) => `
      (local.set $z ${l.load(get("g"))})
      (local.set $dv ${l.load(get("dh"))})
      ${exp4(`(f32x4.neg ${get("z")})`)}
      (local.set $s (f32x4.div ${get("c_one")} (f32x4.add ${get("c_one")} ${get("e")})))
      ${
    l.store(
      get("g"),
      `(f32x4.mul (f32x4.mul (f32x4.mul ${get("dv")} ${l.load(get("u"))}) ${get("s")})
        (f32x4.add ${get("c_one")}
          (f32x4.mul ${get("z")} (f32x4.sub ${get("c_one")} ${get("s")}))))`,
    )
  }
      ${l.store(get("u"), `(f32x4.mul (f32x4.mul ${get("dv")} ${get("z")}) ${get("s")})`)}`)
})

  (func (export "softmax_causal") (param $p i32) (param $t i32) (param $blocks i32)
    (local $blk i32) (local $i i32) (local $a i32) (local $end i32) (local $rowend i32)
    (local $m v128) (local $acc v128) (local $inv v128) ${EXP_LOCALS}
    ${EXP_INIT}
    (block $bdone (loop $block
      (br_if $bdone (i32.ge_u ${get("blk")} ${get("blocks")}))
      (local.set $i (i32.const 0))
      (block $rdone (loop $row
        (br_if $rdone (i32.ge_u ${get("i")} ${get("t")}))
        ;; kept columns [p, end), row ends at rowend
        (local.set $end (i32.add ${get("p")} (i32.shl (i32.add ${get("i")} (i32.const 1))
          (i32.const 2))))
        (local.set $rowend (i32.add ${get("p")} (i32.shl ${get("t")} (i32.const 2))))
        (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $a ${get("p")})
        ${
  lanes("mx", ["$a"], "$end", (l) => `(local.set $m (f32x4.max ${get("m")} ${l.load(get("a"))}))`)
}
        (local.set $m (f32x4.splat ${hmax(get("m"))}))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $a ${get("p")})
        ${
  lanes("ex", ["$a"], "$end", (l) => `
          ${exp4(`(f32x4.sub ${l.load(get("a"))} ${get("m")})`)}
          ${l.store(get("a"), get("e"))}
          (local.set $acc (f32x4.add ${get("acc")} ${l.sum(get("e"))}))`)
}
        (local.set $inv (f32x4.splat (f32.div (f32.const 1) ${hsum(get("acc"))})))
        (local.set $a ${get("p")})
        ${
  lanes("nm", ["$a"], "$end", (l) =>
    l.store(get("a"), `(f32x4.mul ${l.load(get("a"))} ${get("inv")})`))
}
        (memory.fill ${get("end")} (i32.const 0) (i32.sub ${get("rowend")} ${get("end")}))
        (local.set $p ${get("rowend")})
        (local.set $i (i32.add ${get("i")} (i32.const 1)))
        (br $row)))
      (local.set $blk (i32.add ${get("blk")} (i32.const 1)))
      (br $block))))

  (func (export "softmax_bwd") (param $p i32) (param $dp i32) (param $t i32) (param $blocks i32)
    (local $blk i32) (local $i i32) (local $a i32) (local $b i32) (local $end i32)
    (local $rowend i32) (local $acc v128) (local $dot v128) (local $pv v128)
    (block $bdone (loop $block
      (br_if $bdone (i32.ge_u ${get("blk")} ${get("blocks")}))
      (local.set $i (i32.const 0))
      (block $rdone (loop $row
        (br_if $rdone (i32.ge_u ${get("i")} ${get("t")}))
        (local.set $end (i32.add ${get("p")} (i32.shl (i32.add ${get("i")} (i32.const 1))
          (i32.const 2))))
        (local.set $rowend (i32.add ${get("p")} (i32.shl ${get("t")} (i32.const 2))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $a ${get("p")}) (local.set $b ${get("dp")})
        ${
  lanes("dt", ["$a", "$b"], "$end", (l) =>
    `(local.set $acc (f32x4.add ${get("acc")}
          ${l.sum(`(f32x4.mul ${l.load(get("a"))} ${l.load(get("b"))})`)}))`)
}
        (local.set $dot (f32x4.splat ${hsum(get("acc"))}))
        (local.set $a ${get("p")}) (local.set $b ${get("dp")})
        ${
  lanes("ds", ["$a", "$b"], "$end", (l) => `
          (local.set $pv ${l.load(get("a"))})
          ${
    l.store(get("b"), `(f32x4.mul ${get("pv")} (f32x4.sub ${l.load(get("b"))} ${get("dot")}))`)
  }`)
}
        (memory.fill ${get("b")} (i32.const 0) (i32.sub ${get("rowend")} ${get("end")}))
        (local.set $dp (i32.add ${get("b")} (i32.sub ${get("rowend")} ${get("end")})))
        (local.set $p ${get("rowend")})
        (local.set $i (i32.add ${get("i")} (i32.const 1)))
        (br $row)))
      (local.set $blk (i32.add ${get("blk")} (i32.const 1)))
      (br $block))))

  (func (export "xent_rows") (param $p i32) (param $rows i32) (param $v i32) (param $tgt i32)
    (param $scale f32) (param $out i32)
    (local $i i32) (local $a i32) (local $end i32) (local $t i32) (local $m v128) (local $mf f32)
    (local $acc v128) (local $z f32) (local $inv v128) ${EXP_LOCALS}
    ${EXP_INIT}
    (block $done (loop $row
      (br_if $done (i32.ge_u ${get("i")} ${get("rows")}))
      (local.set $end (i32.add ${get("p")} (i32.shl ${get("v")} (i32.const 2))))
      (local.set $t (i32.load ${get("tgt")}))
      (if (i32.lt_s ${get("t")} (i32.const 0))
        (then
          (if (f32.gt ${get("scale")} (f32.const 0))
            (then (memory.fill ${get("p")} (i32.const 0) (i32.shl ${get("v")} (i32.const 2)))))
          (f64.store ${get("out")} (f64.const 0))
          (f64.store offset=8 ${get("out")} (f64.const 1)))
        (else
          (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
          (local.set $a ${get("p")})
          ${
  lanes("mx", ["$a"], "$end", (l) => `(local.set $m (f32x4.max ${get("m")} ${l.load(get("a"))}))`)
}
          (local.set $mf ${hmax(get("m"))})
          (local.set $m (f32x4.splat ${get("mf")}))
          (f64.store ${get("out")} (f64.promote_f32 (f32.sub ${get("mf")}
            (f32.load (i32.add ${get("p")} (i32.shl ${get("t")} (i32.const 2)))))))
          (local.set $acc (v128.const i32x4 0 0 0 0))
          (local.set $a ${get("p")})
          (if (f32.gt ${get("scale")} (f32.const 0))
            (then
              ${
  lanes("es", ["$a"], "$end", (l) => `
                ${exp4(`(f32x4.sub ${l.load(get("a"))} ${get("m")})`)}
                ${l.store(get("a"), get("e"))}
                (local.set $acc (f32x4.add ${get("acc")} ${l.sum(get("e"))}))`)
}
              (local.set $z ${hsum(get("acc"))})
              (local.set $inv (f32x4.splat (f32.div ${get("scale")} ${get("z")})))
              (local.set $a ${get("p")})
              ${
  lanes("nm", ["$a"], "$end", (l) =>
    l.store(get("a"), `(f32x4.mul ${l.load(get("a"))} ${get("inv")})`))
}
              (local.set $a (i32.add ${get("p")} (i32.shl ${get("t")} (i32.const 2))))
              (f32.store ${get("a")} (f32.sub (f32.load ${get("a")}) ${get("scale")})))
            (else
              ${
  lanes("e0", ["$a"], "$end", (l) => `
                ${exp4(`(f32x4.sub ${l.load(get("a"))} ${get("m")})`)}
                (local.set $acc (f32x4.add ${get("acc")} ${l.sum(get("e"))}))`)
}
              (local.set $z ${hsum(get("acc"))})))
          (f64.store offset=8 ${get("out")} (f64.promote_f32 ${get("z")}))))
      (local.set $p ${get("end")})
      (local.set $tgt (i32.add ${get("tgt")} (i32.const 4)))
      (local.set $out (i32.add ${get("out")} (i32.const 16)))
      (local.set $i (i32.add ${get("i")} (i32.const 1)))
      (br $row))))
)
`;

/** The generated file, `src/train/gen/train_wasm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const buffer = await assembleWat("train.wat", TRAIN_WAT, { simd: true, bulk_memory: true });
  const text = wasmBytesSource(
    "TRAIN_WASM_BASE64",
    ` * The WebAssembly SIMD kernels of the trainer's element-wise work, generated by
 * tools/gen_train_wasm.ts (WABT 1.0.39) from the WAT in that file — do not edit; run
 * \`deno task gen\` to regenerate.`,
    buffer,
  );
  return [{ path: "src/train/gen/train_wasm_bytes.ts", text }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_train_wasm.ts", generate });
}
