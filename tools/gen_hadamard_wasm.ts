/**
 * Build script of the WebAssembly SIMD fast Walsh–Hadamard kernels (`src/hadamard/gen/fwht_wasm_bytes.ts`):
 * generates the WAT ({@linkcode generateFwhtWat}), assembles it with WABT (npm `wabt@1.0.39`, the
 * WebAssembly Binary Toolkit's own JavaScript build) and writes the module as base64 into
 * `src/hadamard/gen/fwht_wasm_bytes.ts`. Rerun after editing the generator:
 *
 *     deno task gen
 *
 * A test rebuilds the module and checks that it equals the committed bytes.
 *
 * The arithmetic is in f64, two values per `f64x2` vector, with the stage order of the TypeScript
 * kernels (`gen_cpu_kernels.ts`: index bits ascending), so every butterfly rounds as there and the
 * f32 results are bit-for-bit equal. (An f32x4 version does half the vector operations but rounds
 * every stage to f32: up to ~1e-6 off the f64 result for n ≥ 128.) All pointers are byte offsets
 * into the module's own memory (exported as `mem`); lengths count elements. Functions:
 *
 * - `fwht{n}(data, scr, len, scale, sg, c, cols, mode) → bad`, n = 2 … 32768: transforms the
 *   consecutive blocks of n in the f32 array `data[0, len)` in place, a span of
 *   max(n, 2^{@linkcode WASM_SPAN_LOG}) values at a time through the f64 scratch `scr` (blocks
 *   above 2^{@linkcode WASM_SUB_LOG} in sub-blocks of that size first), with the passes of
 *   {@linkcode wasmPlan}. `scale` is the output scale; `mode` 0: no signs, 1: signs
 *   before H, 2: signs after H; `sg` points at the u32 sign masks (0 or 0x80000000) of columns
 *   [0, cols + span), periodic in `cols`, and `c` is the column of `data[0]`. Returns −1, or the
 *   offset of the first span holding a NaN or ±Infinity (that span and later ones are left as
 *   they were; earlier ones are done).
 * - `load{R}(src, dst, len) → bad` and `load{R}s(src, dst, len, sg)`, R ∈ {2, 4, 8, 16}: the
 *   first pass: reads f32 `src[0, len)` (times the signs of `sg`, one mask per element), promotes
 *   it to f64 and does the butterflies of index bits 0 … log2(R)−1 on contiguous groups of R (bit
 *   0 within each vector with one shuffle, the others across vectors), into the f64 scratch
 *   `dst`. Returns 1 when an input was NaN or ±Infinity: every output of a group is a ± sum of its
 *   inputs, so the f64 running sum of the first outputs is finite exactly when the inputs are.
 * - `mid{R}_{b}(p, len)`, R ∈ {2, 4, 8}: radix-R butterflies in place on the f64 scratch
 *   `p[0, len)` for index bits b … b + log2(R) − 1 (literal offsets).
 * - `store{R}_{b}(src, dst, len, scale)` and `store{R}_{b}s(…, sg)`: the last pass, like `mid`,
 *   then times `scale`, rounded to f32 (`f32x4.demote_f64x2_zero`: to nearest even, like a
 *   Float32Array store), times the signs, into the f32 `dst`. `store1`/`store1s`: scale only.
 *
 * @module
 */

import { MAX_LOG, splitBits } from "./gen_hadamard_cpu.ts";
import { assembleWat, wasmBytesSource } from "../src/core/wasm.ts";
import { WASM_SPAN_LOG } from "../src/hadamard/common.ts";
import { type GeneratedFile, writeGenerated } from "./generated.ts";

export { WASM_SPAN_LOG };

/** log2 of the sub-blocks whose low bits are done first in blocks above 4096 (32 KiB of f64). */
export const WASM_SUB_LOG = 12;

/** The passes of a block of 2^L: `[radix bits, stride bits]` (see {@linkcode wasmPlan}). */
export interface WasmPlan {
  /** Bits of the first pass (`load{2^load}`): 0 … load−1, at most 4. */
  load: number;
  /** The middle passes (`mid{R}_{b}`), ascending; those below bit 12 run per sub-block. */
  mids: [number, number][];
  /** The last pass (`store{R}_{b}`); `[0, 0]` when the load did every bit (`store1`). */
  store: [number, number];
}

/**
 * The passes of a block of 2^L: the first 4 bits while loading (bit 0 inside the vectors, bits
 * 1–3 across 8 vectors), then the rest of the low {@linkcode WASM_SUB_LOG} bits and the bits
 * above them, each in chunks of ≤ 3 bits (radix ≤ 8) as even as possible; the last chunk is the
 * store pass.
 *
 * @example
 * ```ts
 * import { wasmPlan } from "./gen_hadamard_wasm.ts";
 * const p = wasmPlan(10);
 * if (JSON.stringify(p) !== '{"load":4,"mids":[[3,4]],"store":[3,7]}') throw new Error();
 * ```
 */
export function wasmPlan(L: number): WasmPlan {
  const load = Math.min(L, 4);
  const low = Math.min(L, WASM_SUB_LOG);
  const passes: [number, number][] = [];
  let b = load;
  for (const c of [...splitBits(low - load), ...splitBits(L - low)]) {
    passes.push([c, b]);
    b += c;
  }
  return { load, mids: passes, store: passes.pop() ?? [0, 0] };
}

const get = (name: string): string => `(local.get $${name})`;
const SWAP = "(i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7";

/** Butterflies across the vectors $v0…$v{V−1} (index bits of the vector number), ascending. */
function across(V: number, ind: string): string[] {
  const out: string[] = [];
  for (let h = 1; h < V; h <<= 1) {
    for (let k = 0; k < V; k++) {
      if ((k & h) !== 0) continue;
      const a = get(`v${k}`);
      const b = get(`v${k + h}`);
      out.push(
        `${ind}(local.set $t (f64x2.sub ${a} ${b}))`,
        `${ind}(local.set $v${k} (f64x2.add ${a} ${b}))`,
        `${ind}(local.set $v${k + h} ${get("t")})`,
      );
    }
  }
  return out;
}

const vecLocals = (V: number): string =>
  Array.from({ length: V }, (_, k) => `(local $v${k} v128)`).join(" ") + " (local $t v128)";

function load(R: number, signed: boolean): string {
  const V = R / 2;
  const ind = "        ";
  const body: string[] = [];
  for (let k = 0; k < V; k++) {
    const raw = `(v128.load64_zero offset=${8 * k} ${get("src")})`;
    const val = signed ? `(v128.xor ${raw} (v128.load64_zero offset=${8 * k} ${get("sg")}))` : raw;
    body.push(`${ind}(local.set $v${k} (f64x2.promote_low_f32x4 ${val}))`);
  }
  // Bit 0 inside each vector: [a, b] → [b + a, a + (−b)] = [a + b, a − b].
  for (let k = 0; k < V; k++) {
    const v = get(`v${k}`);
    body.push(
      `${ind}(local.set $v${k} (f64x2.add ${SWAP} ${v} ${v}) (v128.xor ${v} ${get("neg")})))`,
    );
  }
  body.push(...across(V, ind));
  body.push(`${ind}(local.set $acc (f64x2.add ${get("acc")} ${get("v0")}))`);
  for (let k = 0; k < V; k++) {
    body.push(`${ind}(v128.store offset=${16 * k} ${get("dst")} ${get(`v${k}`)})`);
  }
  body.push(`${ind}(local.set $src (i32.add ${get("src")} (i32.const ${4 * R})))`);
  if (signed) body.push(`${ind}(local.set $sg (i32.add ${get("sg")} (i32.const ${4 * R})))`);
  body.push(`${ind}(local.set $dst (i32.add ${get("dst")} (i32.const ${8 * R})))`);
  return `  (func $load${R}${signed ? "s" : ""} (export "load${R}${signed ? "s" : ""}")
    (param $src i32) (param $dst i32) (param $len i32)${signed ? " (param $sg i32)" : ""}
    (result i32)
    (local $end i32) (local $acc v128) (local $neg v128) (local $f f64) ${vecLocals(V)}
    (local.set $neg (v128.const i32x4 0 0 0 0x80000000))
    (local.set $end (i32.add ${get("src")} (i32.shl ${get("len")} (i32.const 2))))
    (local.set $acc (v128.const i64x2 0 0))
    (block $done
      (br_if $done (i32.ge_u ${get("src")} ${get("end")}))
      (loop $l
${body.join("\n")}
        (br_if $l (i32.lt_u ${get("src")} ${get("end")}))))
    (local.set $f (f64.add (f64x2.extract_lane 0 ${get("acc")})
      (f64x2.extract_lane 1 ${get("acc")})))
    (f64.ne (f64.sub ${get("f")} ${get("f")}) (f64.const 0)))
`;
}

const LOOP_HEAD = `    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $outer`;

function mid(r: number, b: number): string {
  const R = 1 << r;
  const S = 8 << b;
  const ind = "          ";
  const body: string[] = [];
  for (let k = 0; k < R; k++) {
    body.push(`${ind}(local.set $v${k} (v128.load offset=${k * S} ${get("j")}))`);
  }
  body.push(...across(R, ind));
  for (let k = 0; k < R; k++) {
    body.push(`${ind}(v128.store offset=${k * S} ${get("j")} ${get(`v${k}`)})`);
  }
  return `  (func $mid${R}_${b} (export "mid${R}_${b}") (param $p i32) (param $len i32)
    (local $end i32) (local $j i32) (local $je i32) ${vecLocals(R)}
    (local.set $end (i32.add ${get("p")} (i32.shl ${get("len")} (i32.const 3))))
${LOOP_HEAD}
        (local.set $j ${get("p")})
        (local.set $je (i32.add ${get("p")} (i32.const ${S})))
        (loop $inner
${body.join("\n")}
          (local.set $j (i32.add ${get("j")} (i32.const 16)))
          (br_if $inner (i32.lt_u ${get("j")} ${get("je")})))
        (local.set $p (i32.add ${get("p")} (i32.const ${R * S})))
        (br_if $outer (i32.lt_u ${get("p")} ${get("end")}))))
  )
`;
}

const storeName = ([r, b]: [number, number]): string => r === 0 ? "store1" : `store${1 << r}_${b}`;

function store(r: number, b: number, signed: boolean): string {
  const R = 1 << r;
  // R = 1: a contiguous copy, one vector per step.
  const S = R === 1 ? 16 : 8 << b;
  const ind = "          ";
  const body: string[] = [];
  for (let k = 0; k < R; k++) {
    body.push(`${ind}(local.set $v${k} (v128.load offset=${k * S} ${get("j")}))`);
  }
  body.push(...across(R, ind));
  for (let k = 0; k < R; k++) {
    const f32 = `(f32x4.demote_f64x2_zero (f64x2.mul ${get(`v${k}`)} ${get("sc")}))`;
    const val = signed
      ? `(v128.xor ${f32} (v128.load64_zero offset=${(k * S) / 2} ${get("g")}))`
      : f32;
    body.push(`${ind}(v128.store64_lane offset=${(k * S) / 2} 0 ${get("d")} ${val})`);
  }
  const skip = ((R - 1) * S) / 2;
  const name = storeName([r, b]) + (signed ? "s" : "");
  return `  (func $${name} (export "${name}")
    (param $p i32) (param $d i32) (param $len i32) (param $scale f64)${
    signed ? " (param $g i32)" : ""
  }
    (local $end i32) (local $j i32) (local $je i32) (local $sc v128) ${vecLocals(R)}
    (local.set $sc (f64x2.splat ${get("scale")}))
    (local.set $end (i32.add ${get("p")} (i32.shl ${get("len")} (i32.const 3))))
${LOOP_HEAD}
        (local.set $j ${get("p")})
        (local.set $je (i32.add ${get("p")} (i32.const ${S})))
        (loop $inner
${body.join("\n")}
          (local.set $j (i32.add ${get("j")} (i32.const 16)))
          (local.set $d (i32.add ${get("d")} (i32.const 8)))${
    signed ? `\n          (local.set $g (i32.add ${get("g")} (i32.const 8)))` : ""
  }
          (br_if $inner (i32.lt_u ${get("j")} ${get("je")})))${
    skip
      ? `\n        (local.set $d (i32.add ${get("d")} (i32.const ${skip})))${
        signed ? `\n        (local.set $g (i32.add ${get("g")} (i32.const ${skip})))` : ""
      }`
      : ""
  }
        (local.set $p (i32.add ${get("p")} (i32.const ${R * S})))
        (br_if $outer (i32.lt_u ${get("p")} ${get("end")}))))
  )
`;
}

/** The driver of blocks of 2^L: every span of `data[0, len)` through the passes of its plan. */
function driver(L: number): string {
  const plan = wasmPlan(L);
  const R0 = 1 << plan.load;
  const span = Math.max(1 << L, 1 << WASM_SPAN_LOG);
  const sub = L > WASM_SUB_LOG;
  const lowMids = plan.mids.filter(([r, b]) => r + b <= WASM_SUB_LOG);
  const highMids = plan.mids.filter(([r, b]) => r + b > WASM_SUB_LOG);
  const call = ([r, b]: [number, number], p: string, len: string): string =>
    `(call $mid${1 << r}_${b} ${p} ${len})`;
  const st = storeName(plan.store);
  const low = 1 << WASM_SUB_LOG;
  // Offsets of the sub-block (o + sb) in the data, the scratch and the sign masks.
  const at = (base: string, shift: number, extra: string): string =>
    `(i32.add ${get(base)} (i32.shl (i32.add ${extra}) (i32.const ${shift})))`;
  const lowLen = sub ? `(i32.const ${low})` : get("m");
  return `  (func (export "fwht${1 << L}")
    (param $data i32) (param $scr i32) (param $len i32) (param $scale f64) (param $sg i32)
    (param $c i32) (param $cols i32) (param $mode i32) (result i32)
    (local $o i32) (local $m i32) (local $sb i32) (local $q i32)
    (block $done
      (br_if $done (i32.eqz ${get("len")}))
      (loop $spans
        (local.set $m (select (i32.const ${span}) (i32.sub ${get("len")} ${get("o")})
          (i32.le_u (i32.const ${span}) (i32.sub ${get("len")} ${get("o")}))))
        (local.set $sb (i32.const 0))
        (loop $subs
          (local.set $q ${at("scr", 3, `${get("sb")} (i32.const 0)`)})
          (if (i32.eq ${get("mode")} (i32.const 1))
            (then
              (if (call $load${R0}s ${at("data", 2, `${get("o")} ${get("sb")}`)} ${
    get("q")
  } ${lowLen}
                  ${at("sg", 2, `${get("c")} ${get("sb")}`)})
                (then (return ${get("o")}))))
            (else
              (if (call $load${R0} ${at("data", 2, `${get("o")} ${get("sb")}`)} ${
    get("q")
  } ${lowLen})
                (then (return ${get("o")})))))
${lowMids.map((m) => `          ${call(m, get("q"), lowLen)}`).join("\n")}
          (local.set $sb (i32.add ${get("sb")} ${lowLen}))
          (br_if $subs (i32.lt_u ${get("sb")} ${get("m")})))
${highMids.map((m) => `        ${call(m, get("scr"), get("m"))}`).join("\n")}
        (if (i32.eq ${get("mode")} (i32.const 2))
          (then (call $${st}s ${get("scr")} ${at("data", 2, `${get("o")} (i32.const 0)`)} ${
    get("m")
  } ${get("scale")}
            ${at("sg", 2, `${get("c")} (i32.const 0)`)}))
          (else (call $${st} ${get("scr")} ${at("data", 2, `${get("o")} (i32.const 0)`)} ${
    get("m")
  } ${get("scale")})))
        (local.set $c (i32.rem_u (i32.add ${get("c")} ${get("m")}) ${get("cols")}))
        (local.set $o (i32.add ${get("o")} ${get("m")}))
        (br_if $spans (i32.lt_u ${get("o")} ${get("len")}))))
    (i32.const -1))
`;
}

/**
 * The WebAssembly text of the kernels (see the module doc).
 *
 * @example
 * ```ts
 * import { generateFwhtWat } from "./gen_hadamard_wasm.ts";
 * if (!generateFwhtWat().includes('(func $mid8_4 (export "mid8_4")')) throw new Error();
 * ```
 */
export function generateFwhtWat(): string {
  const funcs: string[] = [];
  for (const R of [2, 4, 8, 16]) funcs.push(load(R, false), load(R, true));
  const mids = new Set<string>();
  const stores = new Set<string>(["0,0"]);
  for (let L = 1; L <= MAX_LOG; L++) {
    const plan = wasmPlan(L);
    for (const m of plan.mids) mids.add(m.join());
    stores.add(plan.store.join());
  }
  const pairs = (set: Set<string>): [number, number][] =>
    [...set].map((k) => k.split(",").map(Number) as [number, number])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [r, b] of pairs(mids)) funcs.push(mid(r, b));
  for (const [r, b] of pairs(stores)) funcs.push(store(r, b, false), store(r, b, true));
  for (let L = 1; L <= MAX_LOG; L++) funcs.push(driver(L));
  return `(module
  (memory (export "mem") 1)
${funcs.join("")})
`;
}

/**
 * Assembles {@linkcode generateFwhtWat} with WABT (npm `wabt@1.0.39`, imported on first use).
 *
 * @example
 * ```ts ignore
 * import { assembleFwhtWasm } from "./gen_hadamard_wasm.ts";
 * const bytes = await assembleFwhtWasm();
 * if (!WebAssembly.validate(bytes)) throw new Error();
 * ```
 */
export function assembleFwhtWasm(): Promise<Uint8Array<ArrayBuffer>> {
  return assembleWat("fwht.wat", generateFwhtWat(), { simd: true });
}

/**
 * The source of `fwht_wasm_bytes.ts` for a module's bytes.
 *
 * @example
 * ```ts
 * import { fwhtWasmBytesSource } from "./gen_hadamard_wasm.ts";
 * if (!fwhtWasmBytesSource(new Uint8Array([0, 97])).includes('"AGE="')) throw new Error();
 * ```
 */
export function fwhtWasmBytesSource(bytes: Uint8Array): string {
  return wasmBytesSource(
    "FWHT_WASM_BASE64",
    ` * The WebAssembly SIMD fast Walsh–Hadamard kernels, generated by tools/gen_hadamard_wasm.ts
 * (WABT 1.0.39) from the WAT of that file — do not edit; run \`deno task gen\` to regenerate.`,
    bytes,
  );
}

/** The generated file, `src/hadamard/gen/fwht_wasm_bytes.ts`. */
export async function generate(): Promise<GeneratedFile[]> {
  const text = fwhtWasmBytesSource(await assembleFwhtWasm());
  return [{ path: "src/hadamard/gen/fwht_wasm_bytes.ts", text }];
}

if (import.meta.main) {
  await writeGenerated({ script: "tools/gen_hadamard_wasm.ts", generate });
}
