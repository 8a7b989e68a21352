// One Lloyd step on the GPU: assign every sample to its nearest grid point (f32 scores, grid tiled
// through workgroup memory exactly as in grid_encode.wgsl; ties in f32 go to the lowest index, which
// is all Lloyd needs) and accumulate per point the sum of its samples and their count, plus the
// total squared error.
//
// Accumulation is exact and order-independent: every value v becomes the 64-bit fixed-point integer
// floor(v * 2^32) held as (hi: i32, lo: u32) = (floor(v), floor(frac(v) * 2^32)), added with two u32
// atomics: atomicAdd on lo returns the old word, a wrap-around (old + lo < old) carries 1 into hi.
// Integer addition commutes, so the sums are bit-identical whatever the scheduling; the i32 high
// word bounds each sum below 2^31 in magnitude (a point's coordinate sums, and the total squared
// error, ~m·p·MSE: 4e7 at m = 2^24, p = 8), with 2^-32 resolution. Layout of acc (u32 words): per point j,
// [sum_0 lo, sum_0 hi, …, sum_{p-1} lo, sum_{p-1} hi, count], then [sse lo, sse hi].

struct Params {
  m: u32,        // samples in this pass
  n: u32,        // grid points
  p: u32,        // dimension (<= MAXP)
  offset: u32,   // first sample (in vectors)
  groups_x: u32, // workgroups along x
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

const WG: u32 = 64u;
const MAXP: u32 = 16u;
const TILE_FLOATS: u32 = 3072u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> grid: array<f32>;  // n * (p + 1): 2g, |g|^2
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;

var<workgroup> tile: array<f32, TILE_FLOATS>;
var<workgroup> dsum: array<f32, WG>;

fn add_fixed(word: u32, v: f32) {
  let fl = floor(v);
  let lo = u32((v - fl) * 4294967296.0);
  let hi = bitcast<u32>(i32(fl));
  let old = atomicAdd(&acc[word], lo);
  let carry = select(0u, 1u, old + lo < old);
  atomicAdd(&acc[word + 1u], hi + carry);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let p = params.p;
  let n = params.n;
  let v = (wid.y * params.groups_x + wid.x) * WG + lid;
  let live = v < params.m;
  var xv: array<f32, MAXP>;
  if (live) {
    for (var i = 0u; i < p; i++) { xv[i] = xs[(params.offset + v) * p + i]; }
  }
  var best = -3.4028234e38;
  var bi = 0u;
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
        if (s > best) { best = s; bi = t0 + j; }
      }
    }
  }
  var d = 0.0;
  if (live) {
    let base = bi * (2u * p + 1u);
    for (var i = 0u; i < p; i++) {
      add_fixed(base + 2u * i, xv[i]);
      let t = xv[i] - 0.5 * grid[bi * stride + i];
      d += t * t;
    }
    atomicAdd(&acc[base + 2u * p], 1u);
  }
  // The squared errors are summed per workgroup (fixed tree order: deterministic) before one
  // atomic add: every sample adding to the same word serializes millions of atomics per pass.
  dsum[lid] = d;
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lid < h) { dsum[lid] += dsum[lid + h]; }
  }
  if (lid == 0u) { add_fixed(n * (2u * p + 1u), dsum[0]); }
}
