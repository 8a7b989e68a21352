// Hadamard kernels' storage, in place, as vec4s of store_t (f32 or f16): one 16- or 8-byte load
// or store per four elements (the vec4 kernels' quads), a quarter of the scalar version's memory
// instructions and bounds checks. Needs store_f32|f16 and hadamard_common before it; provides
// load_src/store_dst (scalar, for hadamard_common) and load_quad/store_quad (for the vec4 kernels).
@group(0) @binding(1) var<storage, read_write> dst4: array<vec4<store_t>>;

fn load_src(j: u32) -> f32 {
  return f32(dst4[j >> 2u][j & 3u]);
}

fn store_dst(j: u32, v: f32) {
  dst4[j >> 2u][j & 3u] = store_t(v);
}

fn quad_signs(j: u32) -> vec4<f32> {
  return vec4<f32>(col_sign(j), col_sign(j + 1u), col_sign(j + 2u), col_sign(j + 3u));
}

// Elements j … j+3 (j a multiple of 4), signs applied as load_in does.
fn load_quad(j: u32) -> vec4<f32> {
  let v = vec4<f32>(dst4[j >> 2u]);
  if ((p.flags & 1u) != 0u) {
    return v * quad_signs(j);
  }
  return v;
}

// Stores elements j … j+3 (j a multiple of 4), scale and signs applied as store_out does.
fn store_quad(j: u32, v: vec4<f32>) {
  var o = v * p.scale;
  if ((p.flags & 2u) != 0u) {
    o *= quad_signs(j);
  }
  dst4[j >> 2u] = vec4<store_t>(o);
}
