// Per-group encoders of the data-free baselines (src/quant/rtn.ts, normal_float.ts): one thread per
// group. STAGE 0 computes min, max and (optionally) the least-squared-error clip ratio of each
// group; the CPU then turns them into stored (f16/f32-rounded) scales and zeros; STAGE 1 encodes
// every weight against those parameters and ORs its code into the packed rows (format layout:
// code j of a row at bits [j·b, j·b + b) of the row's word stream; codes may straddle words, so
// neighbouring groups share words and the writes are atomic).
//
// AFFINE = 0: table mode, code = nearest sorted level to w·(1/s) (ties to the lower level, like
// torch.bucketize). AFFINE = 1: code = clamp(round(w·(1/s) + z), 0, maxq) (round: half to even).
// The f32 operation order mirrors the TypeScript kernels so codes agree except at exact ties.

struct Params {
  rows: u32,          // rows of this chunk
  cols: u32,
  g: u32,             // weights per group
  axis: u32,          // 1: g consecutive columns; 0: g consecutive rows of one column
  n_groups: u32,      // groups in this chunk
  wg_x: u32,          // workgroups along x (2-D dispatch for > 65535 workgroups)
  bits: u32,
  stride_words: u32,  // packed words per row
  n_levels: u32,      // distinct sorted levels (table mode), 0 for affine
  n_ratios: u32,      // clip ratios to try (1 = no search)
  maxq: f32,          // affine: 2^bits − 1
  round_zero: u32,    // affine: integer zero
  level_max: f32,     // table: max |level|
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

override STAGE: u32 = 0u;
override AFFINE: u32 = 0u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
// [sorted levels (n), midpoints (n − 1), code of each sorted level (n, as f32), clip ratios]
@group(0) @binding(2) var<storage, read> TAB: array<f32>;
@group(0) @binding(3) var<storage, read_write> STATS: array<f32>;  // [min, max, ratio] per group
@group(0) @binding(4) var<storage, read_write> PARAM: array<f32>;  // [1/scale, zero] per group
@group(0) @binding(5) var<storage, read_write> CODES: array<atomic<u32>>;

fn elem(gi: u32, k: u32) -> u32 {
  if (P.axis == 1u) {
    return gi * P.g + k;
  }
  let a = gi / P.cols;
  let c = gi % P.cols;
  return (a * P.g + k) * P.cols + c;
}

// Number of midpoints < y: the sorted index of the nearest level (ties go to the lower level).
fn bucket(y: f32) -> u32 {
  var lo = 0u;
  var hi = P.n_levels - 1u;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) / 2u;
    if (TAB[P.n_levels + mid] < y) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

fn ratio_base() -> u32 {
  return select(3u * P.n_levels - 1u, 0u, P.n_levels == 0u);
}

fn candidate_error(gi: u32, mn: f32, mx: f32, p: f32) -> f32 {
  var err = 0.0;
  if (AFFINE == 0u) {
    let a = max(abs(mn), abs(mx));
    let s = (a * p) / P.level_max;
    let inv = select(0.0, 1.0 / s, s > 0.0);
    for (var k = 0u; k < P.g; k++) {
      let x = W[elem(gi, k)];
      let d = x - TAB[bucket(x * inv)] * s;
      err += d * d;
    }
  } else {
    let mnp = mn * p;
    let mxp = mx * p;
    let s = (mxp - mnp) / P.maxq;
    if (s == 0.0) { return 0.0; }
    var z = -mnp / s;
    if (P.round_zero != 0u) { z = round(z); }
    let inv = 1.0 / s;
    for (var k = 0u; k < P.g; k++) {
      let x = W[elem(gi, k)];
      let q = clamp(round(x * inv + z), 0.0, P.maxq);
      let d = x - (q - z) * s;
      err += d * d;
    }
  }
  return err;
}

fn put_code(gi: u32, k: u32, q: u32) {
  var r: u32;
  var c: u32;
  if (P.axis == 1u) {
    let gpr = P.cols / P.g;
    r = gi / gpr;
    c = (gi % gpr) * P.g + k;
  } else {
    r = (gi / P.cols) * P.g + k;
    c = gi % P.cols;
  }
  let bit = c * P.bits;
  let w = r * P.stride_words + bit / 32u;
  let sh = bit % 32u;
  atomicOr(&CODES[w], q << sh);
  if (sh + P.bits > 32u) {
    atomicOr(&CODES[w + 1u], q >> (32u - sh));
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = (wid.y * P.wg_x + wid.x) * 64u + lid;
  if (gi >= P.n_groups) { return; }
  if (STAGE == 0u) {
    var mn = W[elem(gi, 0u)];
    var mx = mn;
    for (var k = 1u; k < P.g; k++) {
      let x = W[elem(gi, k)];
      mn = min(mn, x);
      mx = max(mx, x);
    }
    var best = 1.0;
    if (P.n_ratios > 1u && mn != mx) {
      var best_err = 3.0e38;
      let rb = ratio_base();
      for (var r = 0u; r < P.n_ratios; r++) {
        let p = TAB[rb + r];
        let e = candidate_error(gi, mn, mx, p);
        if (e < best_err) {
          best_err = e;
          best = p;
        }
      }
    }
    STATS[3u * gi] = mn;
    STATS[3u * gi + 1u] = mx;
    STATS[3u * gi + 2u] = best;
  } else {
    let inv = PARAM[2u * gi];
    let z = PARAM[2u * gi + 1u];
    for (var k = 0u; k < P.g; k++) {
      let x = W[elem(gi, k)];
      var q: u32;
      if (AFFINE == 0u) {
        q = u32(TAB[2u * P.n_levels - 1u + bucket(x * inv)]);
      } else {
        q = u32(clamp(round(x * inv + z), 0.0, P.maxq));
      }
      put_code(gi, k, q);
    }
  }
}
