// Hadamard kernels' storage, in place: one read-write buffer.
@group(0) @binding(1) var<storage, read_write> dst: array<store_t>;

fn load_src(j: u32) -> f32 {
  return f32(dst[j]);
}

fn store_dst(j: u32, v: f32) {
  dst[j] = store_t(v);
}
