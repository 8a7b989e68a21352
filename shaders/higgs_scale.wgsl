// HIGGS per-group scaling of rotated weights (src/quant/higgs.ts, WebGPU path).
//
// MODE 0 (sum of squares): one workgroup per group of g consecutive values of `x`;
//   aux[group] = sum of x^2 (f32, strided per-thread sums then a tree in workgroup memory).
//   The host turns it into the stored scale s (sqrt, rounding to f16, as the CPU path does) and
//   the multiplier f32(1/s), correctly rounded, so both backends normalize with the same value.
// MODE 1 (normalize): one thread per value: x[i] = x[i] * aux[i / g] (a correctly rounded f32
//   multiply, bit-identical to the CPU's).
// Large dispatches are 2-D: the flat workgroup index is wg.y * groups_x + wg.x.

struct Params {
  count: u32,     // MODE 0: groups; MODE 1: values
  g: u32,         // group size
  groups_x: u32,  // workgroups along x
  _pad: u32,
}

override MODE: u32 = 0u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> aux: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let flat = wg.y * params.groups_x + wg.x;
  if (MODE == 0u) {
    // workgroup-uniform exit: the whole workgroup shares `flat`
    if (flat >= params.count) {
      return;
    }
    let base = flat * params.g;
    var s = 0.0;
    for (var i = li; i < params.g; i += WG) {
      let v = x[base + i];
      s += v * v;
    }
    partial[li] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
      if (li < half) {
        partial[li] += partial[li + half];
      }
      workgroupBarrier();
    }
    if (li == 0u) {
      aux[flat] = partial[0];
    }
  } else {
    let i = flat * WG + li;
    if (i < params.count) {
      x[i] = x[i] * aux[i / params.g];
    }
  }
}
