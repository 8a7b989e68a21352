// The roofline of the Hadamard benchmark: copy src to dst, four f32 per thread (vec4).
@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;

override WG: u32 = 256u;
override GROUPS_X: u32 = 65535u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let i = (wid.x + wid.y * GROUPS_X) * WG + tid;
  if (i < arrayLength(&dst)) {
    dst[i] = src[i];
  }
}
