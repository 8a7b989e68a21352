// Dense GEMV / small-batch GEMM with f32 or f16 weights (store_t: store_f32|f16 is prepended;
// f16 needs shader-f16, halves the bytes and is widened to f32 after each vec4 load; the
// accumulation is always f32), the baseline of the LUT kernels (same work split as
// lut_matmul.wgsl): out[out_off + b·out_stride + r] = Σ_k w[r, k] · x[x_off + b·x_stride + k].
// A workgroup of 256 threads is 8 teams of 32 lanes; team t owns row wg.x·8 + t and its lanes
// stride over the row as vec4 loads (rows are zero-padded to a multiple of 4 on upload), so a
// team reads 512 contiguous bytes per step. Each weight load is reused for TB batch rows
// (wg.y picks the batch tile); the lane sums are reduced in workgroup memory.
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
@group(0) @binding(1) var<storage, read> w: array<vec4<store_t>>;
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
