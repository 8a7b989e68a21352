// HQQ (half-quadratic quantization) on the GPU: src/quant/hqq.ts encodes the whole optimizer in
// one submission — init, then per iteration a step over every chunk followed by a one-workgroup
// reduction, then the encode — so no iteration waits for the CPU.
//
// The early stop is global (mean |W − W_r| over the whole tensor must decrease every step), so each
// step writes one partial error sum per workgroup and STAGE 2 reduces them, records the error and
// raises STATE.stopped when it failed to decrease; later steps and reductions see the flag and do
// nothing (the zero stays the one computed by the last executed step, as in the reference loop).
// One thread per group; each thread owns its group's zero and updates it in place.
//
// STAGE 0: init (min/max → s' and z)   STAGE 1: optimizer step   STAGE 2: reduce   STAGE 3: encode

struct Params {
  rows: u32,          // rows of this chunk
  cols: u32,
  g: u32,             // weights per group
  axis: u32,          // 1: g consecutive columns; 0: g consecutive rows of a column
  n_groups: u32,      // groups in this chunk
  wg_x: u32,          // workgroups along x (2-D grid)
  bits: u32,          // code bits
  stride_words: u32,  // packed words per row
  max_v: f32,         // 2^nbits − 1
  round_zero: u32,
  iter: u32,
  part_offset: u32,   // first partial of this chunk
  inv_beta: f32,      // f32(1/β_i)
  thr: f32,           // shrink is 0 for |x| ≤ thr
  pm1: f32,           // lp_norm − 1
  n_parts: u32,       // partials over all chunks (reduce)
  total: f32,         // number of weights (reduce: mean = Σ / total)
  early_stop: u32,
  _pad0: u32,
  _pad1: u32,
}

override STAGE: u32 = 0u;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read_write> INV: array<f32>;   // s' per group
@group(0) @binding(3) var<storage, read_write> ZERO: array<f32>;  // z per group
@group(0) @binding(4) var<storage, read_write> PART: array<f32>;  // partial Σ|W − W_r|
// [best, stopped, steps, unused, error of step 0, error of step 1, …]
@group(0) @binding(5) var<storage, read_write> STATE: array<f32>;
@group(0) @binding(6) var<storage, read_write> CODES: array<atomic<u32>>;

var<workgroup> wg_flag: u32;
var<workgroup> wg_sum: array<f32, 64>;

fn elem(gi: u32, k: u32) -> u32 {
  if (P.axis == 1u) {
    return gi * P.g + k;
  }
  return ((gi / P.cols) * P.g + k) * P.cols + gi % P.cols;
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

fn init_group(gi: u32) {
  var mn = W[elem(gi, 0u)];
  var mx = mn;
  for (var k = 1u; k < P.g; k++) {
    let x = W[elem(gi, k)];
    mn = min(mn, x);
    mx = max(mx, x);
  }
  let denom = mx - mn;
  var s = 1.0;
  if (abs(denom) > 1e-4) { s = min(P.max_v / denom, 2e4); }
  var z = -mn * s;
  if (P.round_zero != 0u && mn != mx) { z = round(z); }
  INV[gi] = s;
  ZERO[gi] = z;
}

fn step_group(gi: u32) -> f32 {
  let s = INV[gi];
  let z = ZERO[gi];
  var acc = 0.0;
  var err = 0.0;
  for (var k = 0u; k < P.g; k++) {
    let x = W[elem(gi, k)];
    let ws = x * s;
    let q = clamp(round(ws + z), 0.0, P.max_v);
    let d = x - (q - z) / s;
    let ad = abs(d);
    err += ad;
    var we = 0.0;
    if (ad > P.thr) {
      let sh = ad - P.inv_beta * pow(ad, P.pm1);
      if (sh > 0.0) { we = sign(d) * sh; }
    }
    acc += q - (x - we) * s;
  }
  ZERO[gi] = acc / f32(P.g);
  return err;
}

fn encode_group(gi: u32) {
  let s = INV[gi];
  let z = ZERO[gi];
  for (var k = 0u; k < P.g; k++) {
    let q = clamp(round(W[elem(gi, k)] * s + z), 0.0, P.max_v);
    put_code(gi, k, u32(q));
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let wg = wid.y * P.wg_x + wid.x;
  let gi = wg * 64u + lid;
  if (STAGE == 0u) {
    if (gi < P.n_groups) { init_group(gi); }
    return;
  }
  if (STAGE == 3u) {
    if (gi < P.n_groups) { encode_group(gi); }
    return;
  }
  // Steps and reductions stop once the reduction has raised the flag (uniform per workgroup).
  if (lid == 0u) { wg_flag = u32(STATE[1]); }
  if (workgroupUniformLoad(&wg_flag) != 0u) { return; }
  var v = 0.0;
  if (STAGE == 1u) {
    if (gi < P.n_groups) { v = step_group(gi); }
  } else {
    for (var i = lid; i < P.n_parts; i += 64u) { v += PART[i]; }
  }
  wg_sum[lid] = v;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half >>= 1u) {
    if (lid < half) { wg_sum[lid] += wg_sum[lid + half]; }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }
  if (STAGE == 1u) {
    PART[P.part_offset + wg] = wg_sum[0];
    return;
  }
  let mean = wg_sum[0] / P.total;
  STATE[4u + P.iter] = mean;
  STATE[2] = f32(P.iter + 1u);
  if (P.early_stop != 0u) {
    if (mean < STATE[0]) { STATE[0] = mean; } else { STATE[1] = 1.0; }
  }
}
