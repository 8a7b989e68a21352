// Matrix-vector products for few rows (decoding): out[out_off + m·N + n] = Σ_k x[x_off + m·K + k]
// · w[n·K + k] (+ bias[n]). A workgroup of 256 threads handles 8 output features of one input row,
// 32 threads per feature striding over k (coalesced reads of the weight row), then a tree
// reduction in workgroup memory. Dispatch: (ceil(N / 8), M).

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

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = li / 32u;
  let lane = li % 32u;
  let n = wg.x * 8u + row;
  let m = wg.y;
  var s = 0.0;
  if (n < p.N) {
    let xb = p.x_off + m * p.K;
    let wb = n * p.K;
    for (var k = lane; k < p.K; k += 32u) {
      s = fma(x[xb + k], w[wb + k], s);
    }
  }
  part[li] = s;
  workgroupBarrier();
  for (var stride = 16u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) {
      part[li] += part[li + stride];
    }
    workgroupBarrier();
  }
  if (lane == 0u && n < p.N) {
    var v = part[li];
    if (p.has_bias != 0u) {
      v += bias[n];
    }
    out[p.out_off + m * p.N + n] = v;
  }
}
