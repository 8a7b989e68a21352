// Embedding lookup: out[t·d + i] = embed[tokens[t]·d + i]. Grid folded over x and y.

struct Params {
  n: u32,
  d: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> embed: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let i = (wg.y * nwg.x + wg.x) * 256u + li;
  if (i < p.n) {
    let t = i / p.d;
    out[i] = embed[tokens[t] * p.d + i % p.d];
  }
}
