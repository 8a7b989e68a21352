/**
 * Generator of the WebAssembly SIMD SGEMM/SGEMV kernels (`src/cpu/gen/wasm_gemm_bytes.ts`, loaded
 * by `src/cpu/wasm_gemm.ts`): writes the WAT from the register-block shape below, assembles it
 * with WABT (npm `wabt@1.0.39`, through `assembleWat` like the project's other kernels) twice —
 * once with relaxed-SIMD fused multiply-adds (`f32x4.relaxed_madd`), once with plain
 * `f32x4.mul` + `f32x4.add` — and writes both modules as base64. Rerun after editing:
 *
 *     deno run -A tools/gen_wasm_gemm.ts
 *
 * The module imports a shared memory (`env.mem`, so helper threads instantiate it on the same
 * data); every pointer is a byte offset into it and every matrix f32. Exports:
 *
 * - `block(ap, bp, c, ldc, mp, np, kc, acc)`: the macro-kernel. `mp` packed panels of A
 *   (`MR` rows each, layout `[kc][MR]`, panel i at `ap + i·kc·MR·4`) times `np` packed panels of
 *   B (`NR` columns each, layout `[kc][NR]`) into the `mp·MR × np·NR` tile grid of C at `c`
 *   (row stride `ldc` bytes). `acc` 0 overwrites C, 1 adds to it (the tile is summed from zero
 *   in registers, then added: blocked summation over the KC slices). The micro-kernel keeps the
 *   `MR×NR` tile in `MR·NR/4` f32x4 registers; per k it loads `NR/4` vectors of B and broadcasts
 *   `MR` values of A with `v128.load32_splat` (one load each on x86, no shuffle port), unrolled
 *   `UNROLL` times along k with constant offsets.
 * - `pack_a_rows(src, ld, rows, kc, dst, alpha)`: A stored row-major (`rows × kc`, row stride
 *   `ld` floats) into `MR`-row panels `[kc][MR]`, times alpha, rows past `rows` zero. 4×4
 *   transposes with shuffles where 4 rows and 4 columns are there, scalar at the edges.
 * - `pack_a_cols(src, ld, kc, cols, dst, alpha)`: A stored transposed (`kc × cols`) into the same
 *   panels (a copy of `MR` floats per k).
 * - `pack_b_rows(src, ld, rows, kc, dst)` / `pack_b_cols(src, ld, kc, cols, dst)`: the same for B
 *   into `NR`-column panels (`rows` when B is stored `N×K`, i.e. `transB`; `cols` otherwise).
 * - `scale(p, n, beta)`: `p[i] = beta·p[i]` for i < n.
 * - `copy_rows(src, lds, dst, ldd, rows, cols)`: a window copy (strides in floats).
 * - `gemv_rows(a, lda, m, k, x, y, alpha, beta)`: `y[i] = alpha·Σ_k a[i·lda + k]·x[k] + beta·y[i]`,
 *   four rows per pass with f32x4 partial sums along k (beta 0 never reads y).
 * - `gemv_cols(a, lda, m, n, x, y, alpha, beta)`: `y[j] = alpha·Σ_i a[i·lda + j]·x[i] + beta·y[j]`
 *   (the transposed product), y accumulated row by row in f32x4.
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** Rows of the register block (broadcast operand, A). */
export const MR = 6;
/** Columns of the register block (vector operand, B): a multiple of 4. */
export const NR = 8;
/** Unrolling of the micro-kernel's k loop. */
export const UNROLL = 4;

const V = NR / 4;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const get = (name: string): string => `(local.get $${name})`;
const i32 = (v: number): string => `(i32.const ${v})`;

/** `acc + a·b` on four lanes: fused (relaxed, may round once) or multiply then add. */
function madd(relaxed: boolean, a: string, b: string, acc: string): string {
  return relaxed
    ? `(f32x4.relaxed_madd ${a} ${b} ${acc})`
    : `(f32x4.add (f32x4.mul ${a} ${b}) ${acc})`;
}

/** One k step of the micro-kernel at byte offsets `ao` (A panel) and `bo` (B panel). */
function kStep(relaxed: boolean, ao: number, bo: number): string {
  const out: string[] = [];
  for (let q = 0; q < V; q++) {
    out.push(`(local.set $b${q} (v128.load offset=${bo + 16 * q} ${get("b")}))`);
  }
  for (let r = 0; r < MR; r++) {
    out.push(`(local.set $va (v128.load32_splat offset=${ao + 4 * r} ${get("a")}))`);
    for (let q = 0; q < V; q++) {
      out.push(
        `(local.set $c${r}_${q} ${madd(relaxed, get("va"), get(`b${q}`), get(`c${r}_${q}`))})`,
      );
    }
  }
  return out.join("\n        ");
}

/** The macro-kernel `block` (see the module doc). */
function blockWat(relaxed: boolean): string {
  const accs = range(MR).flatMap((r) => range(V).map((q) => `c${r}_${q}`));
  const locals = [...accs, "va", ...range(V).map((q) => `b${q}`)].map((n) => `(local $${n} v128)`);
  const cAddr = (r: number): string =>
    r === 0 ? get("cc") : `(i32.add ${get("cc")} (i32.mul ${get("ldc")} ${i32(r)}))`;
  // Each KC slice sums from zero in the registers and is added to C at the end (blocked
  // summation: error ~ (kc + K/kc)·u instead of K·u for a running sum through C).
  const init = accs.map((n) => `(local.set $${n} (v128.const i32x4 0 0 0 0))`).join(
    "\n          ",
  );
  const store = range(MR).map((r) =>
    range(V).map((q) =>
      `(v128.store offset=${16 * q} ${cAddr(r)} (select ` +
      `(f32x4.add (v128.load offset=${16 * q} ${cAddr(r)}) ${get(`c${r}_${q}`)}) ` +
      `${get(`c${r}_${q}`)} ${get("acc")}))`
    ).join("\n          ")
  ).join("\n          ");
  const aStep = 4 * MR, bStep = 4 * NR;
  const unrolled = range(UNROLL).map((u) => kStep(relaxed, u * aStep, u * bStep)).join(
    "\n        ",
  );
  return `
  (func (export "block") (param $ap i32) (param $bp i32) (param $c i32) (param $ldc i32)
    (param $mp i32) (param $np i32) (param $kc i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $k i32) (local $a i32) (local $b i32) (local $cc i32)
    (local $bj i32) (local $cj i32)
    ${locals.join(" ")}
    (local.set $bj ${get("bp")})
    (local.set $cj ${get("c")})
    (block $jdone
      (loop $jl
        (br_if $jdone (i32.ge_u ${get("j")} ${get("np")}))
        (local.set $i ${i32(0)})
        (local.set $a ${get("ap")})
        (local.set $cc ${get("cj")})
        (block $idone
          (loop $il
            (br_if $idone (i32.ge_u ${get("i")} ${get("mp")}))
            (local.set $b ${get("bj")})
          ${init}
            (local.set $k ${get("kc")})
            (block $udone
              (loop $ul
                (br_if $udone (i32.lt_u ${get("k")} ${i32(UNROLL)}))
        ${unrolled}
                (local.set $a (i32.add ${get("a")} ${i32(UNROLL * aStep)}))
                (local.set $b (i32.add ${get("b")} ${i32(UNROLL * bStep)}))
                (local.set $k (i32.sub ${get("k")} ${i32(UNROLL)}))
                (br $ul)))
            (block $rdone
              (loop $rl
                (br_if $rdone (i32.eqz ${get("k")}))
        ${kStep(relaxed, 0, 0)}
                (local.set $a (i32.add ${get("a")} ${i32(aStep)}))
                (local.set $b (i32.add ${get("b")} ${i32(bStep)}))
                (local.set $k (i32.sub ${get("k")} ${i32(1)}))
                (br $rl)))
          ${store}
            (local.set $cc (i32.add ${get("cc")} (i32.mul ${get("ldc")} ${i32(MR)})))
            (local.set $i (i32.add ${get("i")} ${i32(1)}))
            (br $il)))
        (local.set $bj (i32.add ${get("bj")} (i32.mul ${get("kc")} ${i32(bStep)})))
        (local.set $cj (i32.add ${get("cj")} ${i32(bStep)}))
        (local.set $j (i32.add ${get("j")} ${i32(1)}))
        (br $jl))))`;
}

/**
 * `pack_<name>_rows(src, ld, rows, kc, dst, alpha)`: rows of a row-major matrix into `R`-row
 * panels `[kc][R]` (a transpose per panel), scaled by alpha, missing rows zero.
 */
function packRowsWat(name: string, R: number): string {
  // Groups of 4 rows inside a panel go through 4×4 shuffle transposes; a panel's last partial
  // group and the k tail are scalar.
  return `
  (func (export "pack_${name}_rows") (param $src i32) (param $ld i32) (param $rows i32)
    (param $kc i32) (param $dst i32) (param $alpha f32)
    (local $p i32) (local $g i32) (local $r i32) (local $k i32) (local $s i32) (local $d i32)
    (local $panel i32) (local $ldb i32) (local $valpha v128) (local $x0 v128) (local $x1 v128)
    (local $x2 v128) (local $x3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128)
    (local $t3 v128) (local $row i32) (local $v f32)
    (local.set $ldb (i32.shl ${get("ld")} ${i32(2)}))
    (local.set $valpha (f32x4.splat ${get("alpha")}))
    ;; zero the destination first: padded rows stay 0
    (local.set $panel (i32.div_u (i32.add ${get("rows")} ${i32(R - 1)}) ${i32(R)}))
    (memory.fill ${get("dst")} ${i32(0)}
      (i32.mul (i32.mul ${get("panel")} ${get("kc")}) ${i32(4 * R)}))
    (local.set $p ${i32(0)})
    (block $pdone
      (loop $pl
        (br_if $pdone (i32.ge_u ${get("p")} ${get("panel")}))
        (local.set $g ${i32(0)})
        (block $gdone
          (loop $gl
            (br_if $gdone (i32.ge_u ${get("g")} ${i32(R)}))
            (local.set $row (i32.add (i32.mul ${get("p")} ${i32(R)}) ${get("g")}))
            (br_if $gdone (i32.ge_u ${get("row")} ${get("rows")}))
            (local.set $s (i32.add ${get("src")} (i32.mul ${get("row")} ${get("ldb")})))
            (local.set $d (i32.add ${get("dst")}
              (i32.add (i32.mul (i32.mul ${get("p")} ${get("kc")}) ${i32(4 * R)})
                (i32.shl ${get("g")} ${i32(2)}))))
            (local.set $k ${i32(0)})
            (if (i32.and (i32.le_u (i32.add ${get("row")} ${i32(4)}) ${get("rows")})
                  (i32.le_u (i32.add ${get("g")} ${i32(4)}) ${i32(R)}))
              (then
                (block $vdone
                  (loop $vl
                    (br_if $vdone (i32.gt_u (i32.add ${get("k")} ${i32(4)}) ${get("kc")}))
                    (local.set $x0 (v128.load ${get("s")}))
                    (local.set $x1 (v128.load (i32.add ${get("s")} ${get("ldb")})))
                    (local.set $x2 (v128.load (i32.add ${get("s")} (i32.shl ${get("ldb")} ${
    i32(1)
  }))))
                    (local.set $x3 (v128.load (i32.add ${get("s")} (i32.mul ${get("ldb")} ${
    i32(3)
  }))))
                    ;; 4×4 transpose: t0 = x0_0 x1_0 x0_1 x1_1, t1 = x0_2 x1_2 x0_3 x1_3, …
                    (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                      ${get("x0")} ${get("x1")}))
                    (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                      ${get("x0")} ${get("x1")}))
                    (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                      ${get("x2")} ${get("x3")}))
                    (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                      ${get("x2")} ${get("x3")}))
                    (v128.store ${get("d")} (f32x4.mul ${get("valpha")}
                      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${get("t0")} ${
    get("t2")
  })))
                    (v128.store offset=${4 * R} ${get("d")} (f32x4.mul ${get("valpha")}
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 ${get("t0")} ${
    get("t2")
  })))
                    (v128.store offset=${8 * R} ${get("d")} (f32x4.mul ${get("valpha")}
                      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${get("t1")} ${
    get("t3")
  })))
                    (v128.store offset=${12 * R} ${get("d")} (f32x4.mul ${get("valpha")}
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 ${get("t1")} ${
    get("t3")
  })))
                    (local.set $s (i32.add ${get("s")} ${i32(16)}))
                    (local.set $d (i32.add ${get("d")} ${i32(16 * R)}))
                    (local.set $k (i32.add ${get("k")} ${i32(4)}))
                    (br $vl)))
                ;; k tail of the 4 rows
                (block $tdone
                  (loop $tl
                    (br_if $tdone (i32.ge_u ${get("k")} ${get("kc")}))
                    (local.set $r ${i32(0)})
                    (block $trdone
                      (loop $trl
                        (br_if $trdone (i32.ge_u ${get("r")} ${i32(4)}))
                        (f32.store (i32.add ${get("d")} (i32.shl ${get("r")} ${i32(2)}))
                          (f32.mul ${get("alpha")}
                            (f32.load (i32.add ${get("s")} (i32.mul ${get("r")} ${get("ldb")})))))
                        (local.set $r (i32.add ${get("r")} ${i32(1)}))
                        (br $trl)))
                    (local.set $s (i32.add ${get("s")} ${i32(4)}))
                    (local.set $d (i32.add ${get("d")} ${i32(4 * R)}))
                    (local.set $k (i32.add ${get("k")} ${i32(1)}))
                    (br $tl)))
                (local.set $g (i32.add ${get("g")} ${i32(4)})))
              (else
                ;; one row, scalar
                (block $sdone
                  (loop $sl
                    (br_if $sdone (i32.ge_u ${get("k")} ${get("kc")}))
                    (f32.store ${get("d")} (f32.mul ${get("alpha")} (f32.load ${get("s")})))
                    (local.set $s (i32.add ${get("s")} ${i32(4)}))
                    (local.set $d (i32.add ${get("d")} ${i32(4 * R)}))
                    (local.set $k (i32.add ${get("k")} ${i32(1)}))
                    (br $sl)))
                (local.set $g (i32.add ${get("g")} ${i32(1)}))))
            (br $gl)))
        (local.set $p (i32.add ${get("p")} ${i32(1)}))
        (br $pl))))`;
}

/**
 * `pack_<name>_cols(src, ld, kc, cols, dst, alpha)`: a `kc × cols` row-major matrix into
 * `R`-column panels `[kc][R]` (row slices), scaled by alpha, missing columns zero.
 */
function packColsWat(name: string, R: number): string {
  return `
  (func (export "pack_${name}_cols") (param $src i32) (param $ld i32) (param $kc i32)
    (param $cols i32) (param $dst i32) (param $alpha f32)
    (local $p i32) (local $k i32) (local $c i32) (local $w i32) (local $s i32) (local $d i32)
    (local $panel i32) (local $ldb i32) (local $valpha v128)
    (local.set $ldb (i32.shl ${get("ld")} ${i32(2)}))
    (local.set $valpha (f32x4.splat ${get("alpha")}))
    (local.set $panel (i32.div_u (i32.add ${get("cols")} ${i32(R - 1)}) ${i32(R)}))
    (memory.fill ${get("dst")} ${i32(0)}
      (i32.mul (i32.mul ${get("panel")} ${get("kc")}) ${i32(4 * R)}))
    (block $pdone
      (loop $pl
        (br_if $pdone (i32.ge_u ${get("p")} ${get("panel")}))
        (local.set $w (i32.sub ${get("cols")} (i32.mul ${get("p")} ${i32(R)})))
        (if (i32.gt_u ${get("w")} ${i32(R)}) (then (local.set $w ${i32(R)})))
        (local.set $s (i32.add ${get("src")} (i32.mul ${get("p")} ${i32(4 * R)})))
        (local.set $d (i32.add ${get("dst")} (i32.mul (i32.mul ${get("p")} ${get("kc")}) ${
    i32(4 * R)
  })))
        (local.set $k ${i32(0)})
        (block $kdone
          (loop $kl
            (br_if $kdone (i32.ge_u ${get("k")} ${get("kc")}))
            (if (i32.eq ${get("w")} ${i32(R)})
              (then
                ${
    range(Math.floor(R / 4)).map((q) =>
      `(v128.store offset=${16 * q} ${get("d")} (f32x4.mul ${get("valpha")} ` +
      `(v128.load offset=${16 * q} ${get("s")})))`
    ).join("\n                ")
  }
                ${
    range(R % 4).map((q) =>
      `(f32.store offset=${16 * Math.floor(R / 4) + 4 * q} ${get("d")} (f32.mul ${get("alpha")} ` +
      `(f32.load offset=${16 * Math.floor(R / 4) + 4 * q} ${get("s")})))`
    ).join("\n                ")
  })
              (else
                (local.set $c ${i32(0)})
                (block $cdone
                  (loop $cl
                    (br_if $cdone (i32.ge_u ${get("c")} ${get("w")}))
                    (f32.store (i32.add ${get("d")} (i32.shl ${get("c")} ${i32(2)}))
                      (f32.mul ${get("alpha")} (f32.load (i32.add ${get("s")} (i32.shl ${
    get("c")
  } ${i32(2)})))))
                    (local.set $c (i32.add ${get("c")} ${i32(1)}))
                    (br $cl)))))
            (local.set $s (i32.add ${get("s")} ${get("ldb")}))
            (local.set $d (i32.add ${get("d")} ${i32(4 * R)}))
            (local.set $k (i32.add ${get("k")} ${i32(1)}))
            (br $kl)))
        (local.set $p (i32.add ${get("p")} ${i32(1)}))
        (br $pl))))`;
}

/** `scale` and `copy_rows` (see the module doc). */
const UTIL_WAT = `
  (func (export "scale") (param $p i32) (param $n i32) (param $beta f32)
    (local $end i32) (local $vb v128)
    (local.set $vb (f32x4.splat ${get("beta")}))
    (local.set $end (i32.add ${get("p")} (i32.shl ${get("n")} ${i32(2)})))
    (block $vdone
      (loop $vl
        (br_if $vdone (i32.gt_u (i32.add ${get("p")} ${i32(16)}) ${get("end")}))
        (v128.store ${get("p")} (f32x4.mul (v128.load ${get("p")}) ${get("vb")}))
        (local.set $p (i32.add ${get("p")} ${i32(16)}))
        (br $vl)))
    (block $sdone
      (loop $sl
        (br_if $sdone (i32.ge_u ${get("p")} ${get("end")}))
        (f32.store ${get("p")} (f32.mul (f32.load ${get("p")}) ${get("beta")}))
        (local.set $p (i32.add ${get("p")} ${i32(4)}))
        (br $sl))))

  (func (export "copy_rows") (param $src i32) (param $lds i32) (param $dst i32) (param $ldd i32)
    (param $rows i32) (param $cols i32)
    (local $r i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u ${get("r")} ${get("rows")}))
        (memory.copy ${get("dst")} ${get("src")} (i32.shl ${get("cols")} ${i32(2)}))
        (local.set $src (i32.add ${get("src")} (i32.shl ${get("lds")} ${i32(2)})))
        (local.set $dst (i32.add ${get("dst")} (i32.shl ${get("ldd")} ${i32(2)})))
        (local.set $r (i32.add ${get("r")} ${i32(1)}))
        (br $l))))`;

/** The horizontal sum of an f32x4 local. */
const hsum = (v: string): string =>
  `(f32.add (f32.add (f32x4.extract_lane 0 ${get(v)}) (f32x4.extract_lane 1 ${get(v)}))
     (f32.add (f32x4.extract_lane 2 ${get(v)}) (f32x4.extract_lane 3 ${get(v)})))`;

/** `y[i] = alpha·r + beta·y[i]` without reading y when beta is 0. */
const gemvOut = (y: string, r: string): string =>
  `(f32.store ${y} (f32.add (f32.mul ${get("alpha")} ${r})
     (if (result f32) (f32.eq ${get("beta")} (f32.const 0)) (then (f32.const 0))
       (else (f32.mul ${get("beta")} (f32.load ${y}))))))`;

/** `gemv_rows` and `gemv_cols` (see the module doc). */
function gemvWat(relaxed: boolean): string {
  const rowPtr = (r: number): string =>
    r === 0 ? get("s") : `(i32.add ${get("s")} ${get(`o${r}`)})`;
  const vecBody = range(4).map((r) =>
    `(local.set $s${r} ${madd(relaxed, `(v128.load ${rowPtr(r)})`, get("vx"), get(`s${r}`))})`
  ).join("\n            ");
  const scalarBody = range(4).map((r) =>
    `(local.set $f${r} (f32.add ${get(`f${r}`)} (f32.mul (f32.load ${rowPtr(r)}) ${get("fx")})))`
  ).join("\n            ");
  return `
  (func (export "gemv_rows") (param $a i32) (param $lda i32) (param $m i32) (param $k i32)
    (param $x i32) (param $y i32) (param $alpha f32) (param $beta f32)
    (local $i i32) (local $j i32) (local $s i32) (local $xp i32) (local $ldb i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $vx v128)
    (local $f0 f32) (local $f1 f32) (local $f2 f32) (local $f3 f32) (local $fx f32)
    (local $nr i32) (local $o1 i32) (local $o2 i32) (local $o3 i32)
    (local.set $ldb (i32.shl ${get("lda")} ${i32(2)}))
    (block $idone
      (loop $il
        (br_if $idone (i32.ge_u ${get("i")} ${get("m")}))
        ;; rows i..i+3 (fewer at the end: the missing rows repeat the last one, stores skipped)
        (local.set $nr (i32.sub ${get("m")} ${get("i")}))
        (if (i32.gt_u ${get("nr")} ${i32(4)}) (then (local.set $nr ${i32(4)})))
        (local.set $s (i32.add ${get("a")} (i32.mul ${get("i")} ${get("ldb")})))
        (local.set $o1 (select ${get("ldb")} ${i32(0)} (i32.gt_u ${get("nr")} ${i32(1)})))
        (local.set $o2 (select (i32.shl ${get("ldb")} ${i32(1)}) ${get("o1")}
          (i32.gt_u ${get("nr")} ${i32(2)})))
        (local.set $o3 (select (i32.mul ${get("ldb")} ${i32(3)}) ${get("o2")}
          (i32.gt_u ${get("nr")} ${i32(3)})))
        (local.set $s0 (v128.const i32x4 0 0 0 0))
        (local.set $s1 (v128.const i32x4 0 0 0 0))
        (local.set $s2 (v128.const i32x4 0 0 0 0))
        (local.set $s3 (v128.const i32x4 0 0 0 0))
        (local.set $xp ${get("x")})
        (local.set $j ${i32(0)})
        (block $vdone
          (loop $vl
            (br_if $vdone (i32.gt_u (i32.add ${get("j")} ${i32(4)}) ${get("k")}))
            (local.set $vx (v128.load ${get("xp")}))
            ${vecBody}
            (local.set $s (i32.add ${get("s")} ${i32(16)}))
            (local.set $xp (i32.add ${get("xp")} ${i32(16)}))
            (local.set $j (i32.add ${get("j")} ${i32(4)}))
            (br $vl)))
        (local.set $f0 ${hsum("s0")})
        (local.set $f1 ${hsum("s1")})
        (local.set $f2 ${hsum("s2")})
        (local.set $f3 ${hsum("s3")})
        (block $sdone
          (loop $sl
            (br_if $sdone (i32.ge_u ${get("j")} ${get("k")}))
            (local.set $fx (f32.load ${get("xp")}))
            ${scalarBody}
            (local.set $s (i32.add ${get("s")} ${i32(4)}))
            (local.set $xp (i32.add ${get("xp")} ${i32(4)}))
            (local.set $j (i32.add ${get("j")} ${i32(1)}))
            (br $sl)))
        ${gemvOut(`(i32.add ${get("y")} (i32.shl ${get("i")} ${i32(2)}))`, get("f0"))}
        (if (i32.ge_u ${get("nr")} ${i32(2)}) (then
          ${
    gemvOut(`(i32.add ${get("y")} (i32.shl (i32.add ${get("i")} ${i32(1)}) ${i32(2)}))`, get("f1"))
  }))
        (if (i32.ge_u ${get("nr")} ${i32(3)}) (then
          ${
    gemvOut(`(i32.add ${get("y")} (i32.shl (i32.add ${get("i")} ${i32(2)}) ${i32(2)}))`, get("f2"))
  }))
        (if (i32.ge_u ${get("nr")} ${i32(4)}) (then
          ${
    gemvOut(`(i32.add ${get("y")} (i32.shl (i32.add ${get("i")} ${i32(3)}) ${i32(2)}))`, get("f3"))
  }))
        (local.set $i (i32.add ${get("i")} ${i32(4)}))
        (br $il))))

  (func (export "gemv_cols") (param $a i32) (param $lda i32) (param $m i32) (param $n i32)
    (param $x i32) (param $y i32) (param $alpha f32) (param $beta f32) (param $acc i32)
    (local $i i32) (local $j i32) (local $s i32) (local $d i32) (local $ldb i32) (local $vx v128)
    (local $fx f32) (local $end i32)
    ;; acc = 0: y starts at 0 (the caller's alpha/beta pass follows); acc = 1: adds to y
    (if (i32.eqz ${get("acc")}) (then
      (memory.fill ${get("y")} ${i32(0)} (i32.shl ${get("n")} ${i32(2)}))))
    (local.set $ldb (i32.shl ${get("lda")} ${i32(2)}))
    (block $idone
      (loop $il
        (br_if $idone (i32.ge_u ${get("i")} ${get("m")}))
        (local.set $fx (f32.load (i32.add ${get("x")} (i32.shl ${get("i")} ${i32(2)}))))
        (local.set $vx (f32x4.splat ${get("fx")}))
        (local.set $s (i32.add ${get("a")} (i32.mul ${get("i")} ${get("ldb")})))
        (local.set $d ${get("y")})
        (local.set $end (i32.add ${get("y")} (i32.shl ${get("n")} ${i32(2)})))
        (block $vdone
          (loop $vl
            (br_if $vdone (i32.gt_u (i32.add ${get("d")} ${i32(16)}) ${get("end")}))
            (v128.store ${get("d")} ${
    madd(relaxed, `(v128.load ${get("s")})`, get("vx"), `(v128.load ${get("d")})`)
  })
            (local.set $s (i32.add ${get("s")} ${i32(16)}))
            (local.set $d (i32.add ${get("d")} ${i32(16)}))
            (br $vl)))
        (block $sdone
          (loop $sl
            (br_if $sdone (i32.ge_u ${get("d")} ${get("end")}))
            (f32.store ${get("d")} (f32.add (f32.load ${get("d")}) (f32.mul (f32.load ${
    get("s")
  }) ${get("fx")})))
            (local.set $s (i32.add ${get("s")} ${i32(4)}))
            (local.set $d (i32.add ${get("d")} ${i32(4)}))
            (br $sl)))
        (local.set $i (i32.add ${get("i")} ${i32(1)}))
        (br $il))))`;
}

/**
 * The module's WebAssembly text: `relaxed` uses `f32x4.relaxed_madd` in the micro-kernel and the
 * GEMVs, otherwise `f32x4.mul` then `f32x4.add`.
 *
 * @example
 * ```ts
 * import { gemmWat } from "./gen_wasm_gemm.ts";
 * if (!gemmWat(true).includes("relaxed_madd") || gemmWat(false).includes("relaxed_madd")) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function gemmWat(relaxed: boolean): string {
  return `
(module
  (import "env" "mem" (memory 1 65536 shared))
${blockWat(relaxed)}
${packRowsWat("a", MR)}
${packColsWat("a", MR)}
${packRowsWat("b", NR)}
${packColsWat("b", NR)}
${UTIL_WAT}
${gemvWat(relaxed)}
)
`;
}

/** Assembles both variants: `[relaxed, plain]`. */
export async function assembleGemmWasm(): Promise<[Uint8Array, Uint8Array]> {
  const features = { simd: true, threads: true, bulk_memory: true, relaxed_simd: true };
  return [
    await assembleWat("gemm_relaxed.wat", gemmWat(true), features),
    await assembleWat("gemm_plain.wat", gemmWat(false), features),
  ];
}

/** The source of `src/cpu/gen/wasm_gemm_bytes.ts` for the two assembled modules. */
export function gemmBytesSource(relaxed: Uint8Array, plain: Uint8Array): string {
  const doc = (what: string): string =>
    ` * ${what}: generated by tools/gen_wasm_gemm.ts — do not edit.
 * Rebuild with \`deno run -A tools/gen_wasm_gemm.ts\` (WABT 1.0.39). Register block ${MR}×${NR},
 * k unrolled ${UNROLL}×; the second constant is the plain-SIMD variant (\`f32x4.mul\` + \`f32x4.add\`).`;
  const a = wasmBytesSource(
    "WASM_GEMM_RELAXED_BASE64",
    doc("WebAssembly SIMD SGEMM/SGEMV kernels, relaxed-SIMD FMA"),
    relaxed,
  );
  const b = wasmBytesSource("WASM_GEMM_PLAIN_BASE64", "", plain);
  // One module holding both constants: the second source minus its header.
  const tail = b.slice(b.indexOf("/** The module's bytes"));
  return `${a}\n${tail.replace("/** The module's bytes", "/** The plain-SIMD variant's bytes")}`;
}

/** The generated file, `src/cpu/gen/wasm_gemm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const [relaxed, plain] = await assembleGemmWasm();
  return [{ path: "src/cpu/gen/wasm_gemm_bytes.ts", text: gemmBytesSource(relaxed, plain) }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_wasm_gemm.ts", generate });
}
