/**
 * Generator of the bit-plane `fast` kernel for 2-bit codes on a uniform table
 * (`src/lut/gen/lut_tmac.ts`; numerics in `src/lut/tmac_format.ts`, layout in
 * `src/lut/cpu_tmac.ts`): T-MAC's lookup of 16 partial sums per quad of activations, with the
 * kernel's lanes being weight rows. Two builds, as `gen_lut_int8.ts`: relaxed SIMD
 * (`i8x16.relaxed_swizzle`, `i16x8.relaxed_dot_i8x16_i7x16_s` — one `pshufb` and one
 * `pmaddubsw` on x86) and plain SIMD (`i8x16.swizzle`, `extadd_pairwise` + an arithmetic shift);
 * every index is below 16 and every dot operand pair is (i8 lookup, 1 or 2), so both give the same
 * integers and the same results.
 *
 * `b2(codes, tab, s, z, stb, xg, out, t0, t1, nblk, bpg, gpr, tmin)` (`b2_nz` without zeros: z
 * = 0; `b2_h` with both as f16 in the scales region, converted exactly per group): tiles [t0, t1) of
 * `TILE = 8·RG` rows. Per quad pair (8 activations) and lane group of 8 rows, one 16-byte load
 * holds, in byte 2i + k, row i's plane-k index for the first quad (low nibble) and the second
 * (high nibble); a swizzle of each quad's 16-byte table gives the 8 rows' (plane 0, plane 1)
 * sums as i8 pairs, and a dot with (1, 2) adds them into an i16 lane per row. Per block of 64
 * activations the i16 sums become f32 (× the block's step), per group they are scaled:
 * y += S·G + O·XG with S the tile's repacked per-row scales and O = S·(tmin − z) from its
 * repacked zeros (the same f32 values whichever build of them).
 *
 *     ./quantlab deno run -A tools/gen_lut_tmac.ts
 *
 * @module
 */
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

/** Lane groups of 8 rows per tile (`TMAC_GROUPS_PER_TILE` in `tmac_format.ts`). */
export const RG = 2;

const splat8 = (v: number): string => `(v128.const i8x16 ${new Array(16).fill(v).join(" ")})`;
const each = (f: (g: number) => string, n = RG): string =>
  Array.from({ length: n }, (_, g) => f(g)).join("\n            ");

/** acc += (lookup pairs · (1, 2)) as i16 lanes. */
function dotAdd(acc: string, v: string, relaxed: boolean): string {
  const d = relaxed
    ? `(i16x8.relaxed_dot_i8x16_i7x16_s ${v} (local.get $c12))`
    : `(i16x8.add (i16x8.extadd_pairwise_i8x16_s (local.tee $lv ${v})) ` +
      `(i16x8.shr_s (local.get $lv) (i32.const 8)))`;
  return `(local.set ${acc} (i16x8.add (local.get ${acc}) ${d}))`;
}

function swz(t: string, idx: string, relaxed: boolean): string {
  return `(i8x16.${relaxed ? "relaxed_swizzle" : "swizzle"} (local.get ${t}) ${idx})`;
}

/** One quad pair j (of 8 per block) for every lane group. */
function quadPair(j: number, relaxed: boolean): string {
  const parts = [
    `(local.set $ta (v128.load offset=${32 * j} (local.get $tp)))`,
    `(local.set $tb (v128.load offset=${32 * j + 16} (local.get $tp)))`,
  ];
  for (let g = 0; g < RG; g++) {
    parts.push(`(local.set $w (v128.load offset=${(j * RG + g) * 16} (local.get $cp)))`);
    parts.push(
      dotAdd(`$a${g}`, swz("$ta", "(v128.and (local.get $w) (local.get $m15))", relaxed), relaxed),
    );
    parts.push(
      dotAdd(
        `$a${g}`,
        swz(
          "$tb",
          "(v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $m15))",
          relaxed,
        ),
        relaxed,
      ),
    );
  }
  return parts.join("\n              ");
}

const bytes = (lanes: number[]): string =>
  lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]).join(" ");

/**
 * `b2_tables(x, t8, mx, scratch, nblk)`: the i8 tables of `tmacTables` from f32 activations `x`
 * (the same f32 operations lane by lane), and each block's m = max|T| into `mx` (f32).
 */
function tablesFunc(): string {
  const quads = (body: string): string =>
    `(local.set $q (i32.const 0))
        (loop $quads${body.length % 7}
          ${body}
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br_if $quads${body.length % 7} (i32.lt_u (local.get $q) (i32.const 16))))`;
  const v = [0, 1, 2, 3].map((i) => `$v${i}`);
  const pass1 = `(local.set $xv (v128.load (local.get $xp)))
          ;; lanes p = 0…3: (0, x0, x1, x0 + x1); + x2 gives p + 4, + x3 gives p + 8
          (local.set $v0 (f32x4.add (i8x16.shuffle ${
    bytes([4, 0, 4, 0])
  } (local.get $xv) (local.get $z))
            (i8x16.shuffle ${bytes([4, 4, 1, 1])} (local.get $xv) (local.get $z))))
          (local.set $v1 (f32x4.add (local.get $v0) (i8x16.shuffle ${
    bytes([2, 2, 2, 2])
  } (local.get $xv) (local.get $xv))))
          (local.set $v2 (f32x4.add (local.get $v0) (i8x16.shuffle ${
    bytes([3, 3, 3, 3])
  } (local.get $xv) (local.get $xv))))
          (local.set $v3 (f32x4.add (local.get $v1) (i8x16.shuffle ${
    bytes([3, 3, 3, 3])
  } (local.get $xv) (local.get $xv))))
          ${
    v.map((r, i) =>
      `(v128.store offset=${16 * i} (local.get $sp) (local.get ${r}))
          (local.set $m (f32x4.max (local.get $m) (f32x4.abs (local.get ${r}))))`
    ).join("\n          ")
  }
          (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
          (local.set $sp (i32.add (local.get $sp) (i32.const 64)))`;
  const round = (i: number): string =>
    `(i32x4.trunc_sat_f32x4_s (f32x4.floor (f32x4.add (f32x4.mul (v128.load offset=${
      16 * i
    } (local.get $sp)) (local.get $inv)) (local.get $half))))`;
  const pass2 = `(v128.store (local.get $dp) (i8x16.narrow_i16x8_s
            (i16x8.narrow_i32x4_s ${round(0)} ${round(1)})
            (i16x8.narrow_i32x4_s ${round(2)} ${round(3)})))
          (local.set $sp (i32.add (local.get $sp) (i32.const 64)))
          (local.set $dp (i32.add (local.get $dp) (i32.const 16)))`;
  return `  (func (export "b2_tables") (param $x i32) (param $t8 i32) (param $mx i32) (param $scr i32)
    (param $nblk i32)
    (local $b i32) (local $q i32) (local $xp i32) (local $sp i32) (local $dp i32) (local $mf f32)
    (local $xv v128) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $m v128) (local $inv v128) (local $half v128) (local $z v128)
    (local.set $half (f32x4.splat (f32.const 0.5)))
    (local.set $z (v128.const i32x4 0 0 0 0))
    (local.set $xp (local.get $x))
    (local.set $dp (local.get $t8))
    (local.set $b (i32.const 0))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $b) (local.get $nblk)))
        (local.set $m (v128.const i32x4 0 0 0 0))
        (local.set $sp (local.get $scr))
        ${quads(pass1)}
        (local.set $m (f32x4.max (local.get $m) (i8x16.shuffle ${
    bytes([2, 3, 2, 3])
  } (local.get $m) (local.get $m))))
        (local.set $mf (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m))))
        (f32.store (i32.add (local.get $mx) (i32.shl (local.get $b) (i32.const 2))) (local.get $mf))
        (local.set $inv (f32x4.splat (select (f32.div (f32.const 127) (local.get $mf)) (f32.const 0)
          (f32.gt (local.get $mf) (f32.const 0)))))
        (local.set $sp (local.get $scr))
        ${quads(pass2)}
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocks))))`;
}

/**
 * The WAT of the kernel, with or without relaxed SIMD.
 *
 * @example
 * ```ts
 * import { generateLutTmacWat } from "./gen_lut_tmac.ts";
 * if (!generateLutTmacWat(true).includes("relaxed_dot")) throw new Error();
 * if (generateLutTmacWat(false).includes("relaxed")) throw new Error();
 * ```
 */
export function generateLutTmacWat(relaxed: boolean): string {
  return `(module
  (import "env" "mem" (memory 1 65536 shared))
${kernelFunc(relaxed, "f32")}
${kernelFunc(relaxed, "none")}
${kernelFunc(relaxed, "f16")}
${tablesFunc()}
)
`;
}

/** Shuffle bytes that interleave the i16 lanes `from`…`from + 3` of two vectors (lo, hi). */
const zip16 = (from: number): string =>
  [0, 1, 2, 3].flatMap((i) => {
    const b = 2 * (from + i);
    return [b, b + 1, 16 + b, 16 + b + 1];
  }).join(" ");

/**
 * Sets `${out}0` and `${out}1` to the f32 values of the 8 f16 patterns at `addr` (lanes 0–3 and
 * 4–7), exactly (zero and subnormals included; every value finite): per i16 lane the f32 bits'
 * high half s000eeeeemmmmmmm (an arithmetic shift by 3, masked) and low half mmm0…0 (a shift by 13),
 * interleaved into f32 lanes, s·2^(e−127)·1.m (or a subnormal), times 2^112 (exact: the exponent
 * biases' difference) — `halfToF32` of `tmac_layout.ts`, 8 lanes at a time.
 */
function halvesToF32(addr: string, out: string): string {
  return `(local.set $hv (v128.load ${addr}))
            (local.set $hh (v128.and (i16x8.shr_s (local.get $hv) (i32.const 3)) (local.get $m8fff)))
            (local.set $hv (i16x8.shl (local.get $hv) (i32.const 13)))
            (local.set ${out}0 (f32x4.mul (i8x16.shuffle ${
    zip16(0)
  } (local.get $hv) (local.get $hh)) (local.get $p112)))
            (local.set ${out}1 (f32x4.mul (i8x16.shuffle ${
    zip16(4)
  } (local.get $hv) (local.get $hh)) (local.get $p112)))`;
}

/**
 * `b2` (f32 scales and zeros), `b2_nz` (f32 scales, no zeros) or `b2_h` (f16 scales and zeros in
 * the scales region: per tile and group, the tile's 16 scales then its 16 zeros; `z` unused).
 */
function kernelFunc(relaxed: boolean, affine: "f32" | "none" | "f16"): string {
  const TILE = 8 * RG;
  const halves = (f: (g: number, h: number) => string): string =>
    each((g) => `${f(g, 0)}\n            ${f(g, 1)}`);
  const half = affine === "f16";
  const S = (g: number, h: number): string =>
    half ? `(local.get $cs${g}${h})` : `(v128.load offset=${(8 * g + 4 * h) * 4} (local.get $sop))`;
  const Z = (g: number, h: number): string =>
    half ? `(local.get $cz${g}${h})` : `(v128.load offset=${(8 * g + 4 * h) * 4} (local.get $zop))`;
  // f16: the tile's 16 scales, then its 16 zeros, 8 per lane group, widened once per group.
  const widen = half
    ? each((g) =>
      `${halvesToF32(`offset=${16 * g} (local.get $sop)`, `$cs${g}`)}
            ${halvesToF32(`offset=${2 * TILE + 16 * g} (local.get $sop)`, `$cz${g}`)}`
    )
    : "";
  // O = S·(tmin − Z), with S read once per group into $sv.
  const o = (_g: number, _h: number): string =>
    affine === "none"
      ? `(f32x4.mul (local.get $sv) (local.get $tm))`
      : `(f32x4.mul (local.get $sv) (f32x4.sub (local.get $tm) ${Z(_g, _h)}))`;
  const name = { f32: "b2", none: "b2_nz", f16: "b2_h" }[affine];
  return `  (func (export "${name}") (param $codes i32) (param $tab i32) (param $s i32)
    (param $z i32) (param $stb i32) (param $xg i32) (param $out i32) (param $t0 i32) (param $t1 i32)
    (param $nblk i32) (param $bpg i32) (param $gpr i32) (param $tmin f32)
    (local $t i32) (local $cp i32) (local $tp i32) (local $sp i32) (local $xp i32) (local $sop i32)
    (local $zop i32) (local $tm v128)
    (local $gi i32) (local $b i32)
    (local $m15 v128) (local $c12 v128) (local $ta v128) (local $tb v128) (local $w v128)
    (local $lv v128) (local $d v128) (local $xs v128) (local $sv v128) (local $hv v128)
    (local $hh v128) (local $m8fff v128) (local $p112 v128)
    ${
    each((g) =>
      `(local $cs${g}0 v128) (local $cs${g}1 v128) (local $cz${g}0 v128) (local $cz${g}1 v128)`
    )
  }
    ${each((g) => `(local $a${g} v128) (local $g${g}0 v128) (local $g${g}1 v128)`)}
    ${each((g) => `(local $y${g}0 v128) (local $y${g}1 v128)`)}
    (local.set $m15 ${splat8(15)})
    (local.set $m8fff (v128.const i16x8 ${new Array(8).fill("0x8fff").join(" ")}))
    (local.set $p112 (f32x4.splat (f32.const 0x1p112)))
    (local.set $tm (f32x4.splat (local.get $tmin)))
    (local.set $c12 (v128.const i8x16 ${new Array(8).fill("1 2").join(" ")}))
    (local.set $t (local.get $t0))
    (local.set $cp (i32.add (local.get $codes)
      (i32.mul (local.get $t0) (i32.mul (local.get $nblk) (i32.const ${128 * RG})))))
    (block $done
      (loop $tiles
        (br_if $done (i32.ge_u (local.get $t) (local.get $t1)))
        ${halves((g, h) => `(local.set $y${g}${h} (v128.const i32x4 0 0 0 0))`)}
        (local.set $tp (local.get $tab))
        (local.set $sp (local.get $stb))
        (local.set $xp (local.get $xg))
        (local.set $sop (i32.add (local.get $s)
          (i32.mul (i32.mul (local.get $t) (local.get $gpr)) (i32.const ${4 * TILE}))))
        (local.set $zop (i32.add (local.get $z)
          (i32.mul (i32.mul (local.get $t) (local.get $gpr)) (i32.const ${4 * TILE}))))
        (local.set $gi (i32.const 0))
        (loop $groups
          ${halves((g, h) => `(local.set $g${g}${h} (v128.const i32x4 0 0 0 0))`)}
          (local.set $b (i32.const 0))
          (loop $blocks
            ${each((g) => `(local.set $a${g} (v128.const i32x4 0 0 0 0))`)}
            ${Array.from({ length: 8 }, (_, j) => quadPair(j, relaxed)).join("\n              ")}
            (local.set $d (v128.load32_splat (local.get $sp)))
            ${
    halves((g, h) =>
      `(local.set $g${g}${h} (f32x4.add (local.get $g${g}${h}) (f32x4.mul (f32x4.convert_i32x4_s ` +
      `(i32x4.extend_${h ? "high" : "low"}_i16x8_s (local.get $a${g}))) (local.get $d))))`
    )
  }
            (local.set $cp (i32.add (local.get $cp) (i32.const ${128 * RG})))
            (local.set $tp (i32.add (local.get $tp) (i32.const 256)))
            (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br_if $blocks (i32.lt_u (local.get $b) (local.get $bpg))))
          (local.set $xs (v128.load32_splat (local.get $xp)))
          ${widen}
          ${
    halves((g, h) =>
      `(local.set $sv ${S(g, h)})\n            ` +
      `(local.set $y${g}${h} (f32x4.add (local.get $y${g}${h}) (f32x4.add ` +
      `(f32x4.mul (local.get $sv) (local.get $g${g}${h})) ` +
      `(f32x4.mul ${o(g, h)} (local.get $xs)))))`
    )
  }
          (local.set $sop (i32.add (local.get $sop) (i32.const ${4 * TILE})))
          (local.set $zop (i32.add (local.get $zop) (i32.const ${4 * TILE})))
          (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
          (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
          (br_if $groups (i32.lt_u (local.get $gi) (local.get $gpr))))
        ${
    halves((g, h) =>
      `(v128.store offset=${(8 * g + 4 * h) * 4} (i32.add (local.get $out) ` +
      `(i32.mul (local.get $t) (i32.const ${4 * TILE}))) (local.get $y${g}${h}))`
    )
  }
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tiles))))`;
}

/** Assembles both builds and returns the committed module's source. */
export async function buildLutTmacSource(): Promise<string> {
  const relaxed = await assembleWat("lut_tmac_relaxed.wat", generateLutTmacWat(true), {
    simd: true,
    threads: true,
    relaxed_simd: true,
  });
  const plain = await assembleWat("lut_tmac_plain.wat", generateLutTmacWat(false), {
    simd: true,
    threads: true,
  });
  const head = (what: string): string =>
    ` * The bit-plane \`fast\` kernel (${what}): generated by tools/gen_lut_tmac.ts — do not edit.`;
  const a = wasmBytesSource("LUT_TMAC_RELAXED_BASE64", head("relaxed SIMD build"), relaxed);
  const b = wasmBytesSource("LUT_TMAC_PLAIN_BASE64", head("plain SIMD build"), plain);
  return a + "\n" + b.slice(b.indexOf("/** The module's bytes"));
}

/** The generated file, `src/lut/gen/lut_tmac.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  return [{ path: "src/lut/gen/lut_tmac.ts", text: await buildLutTmacSource() }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_lut_tmac.ts", generate });
}
