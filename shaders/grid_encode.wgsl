// Nearest-grid-point encoding: code(x) = lowest j maximizing the exact S_j = 2<x, g_j> - |g_j|^2,
// the decision of src/grids/encode.ts, bit for bit.
//  - f32 scores s_j = sum_i x_i * a_ji - c_j (a = 2g, c = f32(|g|^2)); the grid streams through
//    workgroup memory in tiles (one tile when it fits in 12 KiB).
//  - tol = (p + 4) * 2^-20 * (|x|^2 + |x|_1 * A + G) + 1e-30 bounds the error of a score difference
//    whether or not the compiler fuses multiply-adds, and under flush-to-zero. When the best score
//    beats every other by more than tol the code is certain; otherwise (a near tie, or a non-finite
//    value) the code is written with bit 31 set (NEAR_TIE) and the host settles it exactly
//    (resolveNearTies in encode_gpu.ts). Near ties never occur on random data; they are the
//    constructed ties (x on a cell boundary), so the host work is nil in practice.
//  - Why not settle them here: an exact fixed-point comparator (576-bit accumulator) works in
//    isolation but llvmpipe cuts long-running loops short (65535-iteration loop limiter), which
//    made it silently wrong there; the host path is exact on every adapter.

struct Params {
  m: u32,          // vectors
  n: u32,          // grid points
  p: u32,          // dimension (<= MAXP)
  force_exact: u32,  // 1: flag every vector (tests the host resolver)
  max_abs: f32,    // A = max |g|
  max_norm2: f32,  // G = max |g|^2
  groups_x: u32,   // workgroups along x (2-D dispatch for large m)
  _pad: u32,
}

const WG: u32 = 64u;
const MAXP: u32 = 16u;
const TILE_FLOATS: u32 = 3072u;  // 12 KiB of workgroup memory
const NEAR_TIE: u32 = 0x80000000u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;    // m * p
@group(0) @binding(2) var<storage, read> grid: array<f32>;  // n * (p + 1): a_j (p values), c_j
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;  // m

var<workgroup> tile: array<f32, TILE_FLOATS>;

// ---- main ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let p = params.p;
  let n = params.n;
  let v = (wid.y * params.groups_x + wid.x) * WG + lid;
  let live = v < params.m;
  var xv: array<f32, MAXP>;
  var n1 = 0.0;
  var n2 = 0.0;
  if (live) {
    for (var i = 0u; i < p; i++) {
      let t = xs[v * p + i];
      xv[i] = t;
      n1 += abs(t);
      n2 += t * t;
    }
  }
  let tol = f32(p + 4u) * 9.5367431640625e-7 * (n2 + n1 * params.max_abs + params.max_norm2) + 1e-30;
  var best = -3.4028234e38;
  var bi = 0u;
  var tie = false;
  let stride = p + 1u;
  let tile_pts = TILE_FLOATS / stride;
  for (var t0 = 0u; t0 < n; t0 += tile_pts) {
    let cnt = min(tile_pts, n - t0);
    workgroupBarrier();
    for (var q = lid; q < cnt * stride; q += WG) { tile[q] = grid[t0 * stride + q]; }
    workgroupBarrier();
    if (live) {
      for (var j = 0u; j < cnt; j++) {
        let o = j * stride;
        var s = -tile[o + p];
        for (var i = 0u; i < p; i++) { s += xv[i] * tile[o + i]; }
        if (s > best) {
          if (!(s - best > tol)) { tie = true; }
          best = s;
          bi = t0 + j;
        } else if (!(best - s > tol)) {
          tie = true;
        }
      }
    }
  }
  if (live) {
    // Near ties (and non-finite inputs) are flagged in bit 31 for the exact resolver.
    codes[v] = select(bi, bi | NEAR_TIE, tie || params.force_exact != 0u);
  }
}
