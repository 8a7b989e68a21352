// RMSNorm of rows: out[out_off + r·d + i] = x[x_off + r·d + i] / sqrt(mean(x_r²) + eps) · w[i].
// One workgroup of 256 threads per row; the sum of squares is reduced in workgroup memory.

struct Params {
  d: u32,
  x_off: u32,
  out_off: u32,
  _pad: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let xb = p.x_off + wg.x * p.d;
  let ob = p.out_off + wg.x * p.d;
  var s = 0.0;
  for (var i = li; i < p.d; i += 256u) {
    let v = x[xb + i];
    s = fma(v, v, s);
  }
  part[li] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride = stride / 2u) {
    if (li < stride) {
      part[li] += part[li + stride];
    }
    workgroupBarrier();
  }
  let inv = inverseSqrt(part[0] / f32(p.d) + p.eps);
  for (var i = li; i < p.d; i += 256u) {
    out[ob + i] = (x[xb + i] * inv) * w[i];
  }
}
