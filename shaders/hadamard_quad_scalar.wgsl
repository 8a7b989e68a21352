// load_quad/store_quad of hadamard_v4.wgsl through the scalar load_in/store_out of
// hadamard_common (f16 storage, and the out-of-place copy variant that zero-pads).

fn load_quad(j: u32) -> vec4<f32> {
  return vec4<f32>(load_in(j), load_in(j + 1u), load_in(j + 2u), load_in(j + 3u));
}

fn store_quad(j: u32, v: vec4<f32>) {
  store_out(j, v.x);
  store_out(j + 1u, v.y);
  store_out(j + 2u, v.z);
  store_out(j + 3u, v.w);
}
