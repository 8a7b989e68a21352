// Lookup-table GEMV (batch 1) for the common layouts: 2/4/8-bit codes, p = 1 or 2, groups along
// the input axis that never split a u32 word (group size a multiple of the word's columns, or
// one group per row). Everything else runs in lut_matmul.wgsl; src/lut/gpu.ts picks.
//   out[out_off + r] = Σ_c Ŵ[r, c] · x[c]  (+ bias[r]),  Ŵ[r, c…c+P−1] = (table[code·P …] − z)·s
//
// Why this is fast (and lut_matmul.wgsl at batch 1 is not): a 4-bit GEMV reads 8 columns of x
// and does 8 table lookups per 4-byte code word, so it is bound by L1/shared-memory transactions
// and by memory latency, not by DRAM bytes. The design therefore
//   * gives every workgroup ROWS = 4 output rows and lets its 256 threads stride over the row's
//     u32 words (thread t: words t, t + 256, …). Per step a thread loads one code word of each
//     of the 4 rows — 4 independent loads, each fully coalesced across a warp (lane l reads word
//     base + l: 128 consecutive bytes) — so many loads are in flight per SM, and 4096 rows give
//     1024 workgroups (~8 per SM of an H100's 132) instead of one 32-lane team per row looping
//     over K serially;
//   * loads x once per word as whole vec4<f32> (2 loads for 8 columns) and reuses it for the 4
//     rows, cutting the x traffic through L1 per weight byte by 4 (the old kernel issued one
//     scalar load per column per row, each warp instruction touching 32 sectors);
//   * decodes each word with constant shifts (extractBits on a vec4<u32> holding the 4 rows'
//     words) and keeps all accumulators in vec4 registers: no function-local arrays, no dynamic
//     indices (which spill to local memory on NVIDIA), no per-code bounds checks or `break`;
//   * reads the table from workgroup memory: 16 entries of a 4-bit table sit in 16 distinct banks
//     (conflict-free); 8-bit tables keep DUP interleaved copies, thread t reading copy t mod DUP;
//   * folds the group scale and zero out of the word: acc += s·(Σ t·x − z·Σ x), one scale (and
//     zero) load per word and row, the group index a division by the override constant WPG;
//   * requests the next step's code words before decoding the current ones (and the first ones
//     before the table fill's barrier), so load latency overlaps decoding;
//   * reduces the 256 partial vec4 sums with a tree in workgroup memory once at the end.
// Only the words at the row's end that reach past the valid columns of x (x_cols, i.e. padding)
// take the scalar, bounds-checked path through the second view `xs` of the same buffer.
// Dispatch: (min(n, 65535), ceil(n / 65535)) workgroups for n = ceil(rows / 4); x_off % 4 = 0.

override BITS: u32 = 4u;
override P: u32 = 1u;
override HAS_ZEROS: bool = false;
override DUP: u32 = 1u;
override TABLE_LEN: u32 = 16u; // floats of tbl (table floats × DUP)
override WPG: u32 = 8u;        // words per group (any value ≥ words per row for one group a row)
override CPW: u32 = 8u;        // columns per word: 32 / BITS · P
override UNITS: u32 = 2u;      // vec4s of x per word: CPW / 4

const WG: u32 = 256u;
const ROWS: u32 = 4u;

struct Params {
  rows: u32,     // rows of this part
  stride: u32,   // words per row
  gpr: u32,      // groups per row
  x_cols: u32,   // valid columns of x (zero beyond)
  x_off: u32,    // first element of x (a multiple of 4)
  out_off: u32,  // element of out for local row 0
  has_bias: u32,
  bias_off: u32, // first bias element of this part
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> zeros: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> xs: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> tbl: array<f32, TABLE_LEN>;
var<workgroup> part: array<vec4<f32>, WG>;

// x[c … c+3] (c a multiple of 4), zero past x_cols.
fn x_at(c: u32) -> vec4<f32> {
  if (c + 4u <= p.x_cols) {
    return x4[(p.x_off + c) / 4u];
  }
  var v = vec4<f32>(0.0);
  let b = p.x_off + c;
  if (c < p.x_cols) {
    v.x = xs[b];
  }
  if (c + 1u < p.x_cols) {
    v.y = xs[b + 1u];
  }
  if (c + 2u < p.x_cols) {
    v.z = xs[b + 2u];
  }
  return v; // c + 3 ≥ x_cols here
}

// Table values of column k (0 … CPW−1) of the word for the 4 rows' words w.
fn tv(w: vec4<u32>, k: u32, d: u32) -> vec4<f32> {
  let c = extractBits(w, (k / P) * BITS, BITS);
  let i = (c * P + k % P) * DUP + d;
  return vec4<f32>(tbl[i.x], tbl[i.y], tbl[i.z], tbl[i.w]);
}

// The 4 rows' code words at word w of their rows (w clamped into the row: always valid memory).
fn words(wb: vec4<u32>, w: u32) -> vec4<u32> {
  let i = min(w, p.stride - 1u);
  return vec4<u32>(codes[wb.x + i], codes[wb.y + i], codes[wb.z + i], codes[wb.w + i]);
}

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let r0 = (wg.y * nwg.x + wg.x) * ROWS;
  // Rows past the end re-read the last row (valid memory) and are not written.
  let last = p.rows - 1u;
  let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  let wb = rows * p.stride;
  let sb = rows * p.gpr;
  // The first code words are requested before the table fill's barrier, so their latency
  // overlaps it; each step then requests the next step's words before decoding its own.
  var wd = words(wb, li);
  for (var i = li; i < TABLE_LEN; i += WG) {
    tbl[i] = table[i / DUP];
  }
  workgroupBarrier();
  let d = li % DUP;
  var acc = vec4<f32>(0.0);
  if (r0 <= last) {
    for (var w = li; w < p.stride; w += WG) {
      let next = words(wb, w + WG);
      let g = w / WPG;
      let s = vec4<f32>(scales[sb.x + g], scales[sb.y + g], scales[sb.z + g], scales[sb.w + g]);
      let c0 = w * CPW;
      var t = vec4<f32>(0.0);
      var xsum = 0.0;
      for (var u = 0u; u < UNITS; u++) {
        let xv = x_at(c0 + 4u * u);
        let k = 4u * u;
        t = fma(tv(wd, k, d), vec4<f32>(xv.x), t);
        t = fma(tv(wd, k + 1u, d), vec4<f32>(xv.y), t);
        t = fma(tv(wd, k + 2u, d), vec4<f32>(xv.z), t);
        t = fma(tv(wd, k + 3u, d), vec4<f32>(xv.w), t);
        if (HAS_ZEROS) {
          xsum += (xv.x + xv.y) + (xv.z + xv.w);
        }
      }
      if (HAS_ZEROS) {
        let z = vec4<f32>(zeros[sb.x + g], zeros[sb.y + g], zeros[sb.z + g], zeros[sb.w + g]);
        t -= z * xsum;
      }
      acc = fma(s, t, acc);
      wd = next;
    }
  }
  part[li] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      part[li] += part[li + h];
    }
    workgroupBarrier();
  }
  let row = r0 + li;
  if (li < ROWS && row <= last) {
    var v = part[0][li];
    if (p.has_bias != 0u) {
      v += bias[p.bias_off + row];
    }
    out[p.out_off + row] = v;
  }
}
