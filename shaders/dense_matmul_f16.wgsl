enable f16;

// Dense f16-weight GEMV / small-batch GEMM (needs shader-f16): the f16 baseline of the LUT
// kernels, identical to dense_matmul.wgsl except that the weight is stored as f16 (half the
// bytes) and widened to f32 after each vec4 load; accumulation stays in f32.
// Dispatch: (ceil(rows / 8), ceil(batch / TB)).

override TB: u32 = 1u;

const WG: u32 = 256u;
const LANES: u32 = 32u;
const TEAMS: u32 = 8u;
const MAX_TB: u32 = 8u;

struct Params {
  rows: u32,
  k: u32,       // input features
  k4: u32,      // vec4 per weight row
  x_stride: u32,
  x_off: u32,
  out_off: u32,
  out_stride: u32,
  batch: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

fn x4(b: u32, i: u32) -> vec4<f32> {
  if (b >= p.batch) {
    return vec4<f32>(0.0);
  }
  let base = p.x_off + b * p.x_stride;
  let c = i * 4u;
  if (c + 4u <= p.k) {
    return vec4<f32>(x[base + c], x[base + c + 1u], x[base + c + 2u], x[base + c + 3u]);
  }
  var v = vec4<f32>(0.0);
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.k) {
      v[j] = x[base + c + j];
    }
  }
  return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let lane = li % LANES;
  let row = wg.x * TEAMS + li / LANES;
  let b0 = wg.y * TB;
  var acc: array<f32, MAX_TB>;
  if (row < p.rows) {
    let wr = row * p.k4;
    for (var i = lane; i < p.k4; i += LANES) {
      let wv = vec4<f32>(w[wr + i]);
      for (var bb = 0u; bb < TB; bb++) {
        acc[bb] += dot(wv, x4(b0 + bb, i));
      }
    }
  }
  for (var bb = 0u; bb < TB; bb++) {
    workgroupBarrier();
    part[li] = acc[bb];
    workgroupBarrier();
    for (var s = 16u; s > 0u; s >>= 1u) {
      if (lane < s) {
        part[li] += part[li + s];
      }
      workgroupBarrier();
    }
    let b = b0 + bb;
    if (lane == 0u && row < p.rows && b < p.batch) {
      out[p.out_off + b * p.out_stride + row] = part[li];
    }
  }
}
