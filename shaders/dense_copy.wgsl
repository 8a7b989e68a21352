// Copy kernel: the memory roofline of the LUT and dense benchmarks. dst[i] = src[i] over n vec4
// words (16 bytes each), a grid-stride loop over a 2-D dispatch so any size fits the
// per-dimension workgroup limit. Dispatch: (gx, gy) with gx·gy·256 threads in all.

struct Params {
  n: u32,
  gx: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let threads = nw.x * nw.y * 256u;
  for (var i = (wg.y * p.gx + wg.x) * 256u + li; i < p.n; i += threads) {
    dst[i] = src[i];
  }
}
