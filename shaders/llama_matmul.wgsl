// Tiled f32 GEMM for linear layers: out[out_off + m·N + n] = Σ_k x[x_off + m·K + k] · w[n·K + k]
// (+ bias[n]). The weight keeps the PyTorch [out, in] layout, so both operands are read along k.
// A 16×16 workgroup computes a 64×64 output tile, 4×4 outputs per thread, staging 64×16 slices of
// x and w in workgroup memory (2 × 4 KiB). Edges are zero-padded on load and masked on store.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  x_off: u32,
  out_off: u32,
  has_bias: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> xs: array<f32, 1024>; // [64 rows of x][16 k]
var<workgroup> ws: array<f32, 1024>; // [64 rows of w][16 k]

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // 1024 elements of each operand, 4 per thread; consecutive threads read consecutive k.
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let r = e / TK;
      let kk = e % TK;
      let gk = k0 + kk;
      var xv = 0.0;
      if (m0 + r < p.M && gk < p.K) {
        xv = x[p.x_off + (m0 + r) * p.K + gk];
      }
      xs[e] = xv;
      var wv = 0.0;
      if (n0 + r < p.N && gk < p.K) {
        wv = w[(n0 + r) * p.K + gk];
      }
      ws[e] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[(lid.y * 4u + i) * TK + kk];
        b[i] = ws[(lid.x * 4u + i) * TK + kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= p.M) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n < p.N) {
        var v = acc[i * 4u + j];
        if (p.has_bias != 0u) {
          v += bias[n];
        }
        out[p.out_off + m * p.N + n] = v;
      }
    }
  }
}
