// Hadamard kernels' storage, out of place: read src [rows, src_cols], write dst [rows, cols],
// reading columns ≥ orig_cols as zero (the padding).
@group(0) @binding(1) var<storage, read_write> dst: array<store_t>;
@group(0) @binding(2) var<storage, read> src: array<store_t>;

fn load_src(j: u32) -> f32 {
  if (p.src_cols == p.cols) {
    return f32(src[j]);
  }
  let r = j / p.cols;
  let c = j - r * p.cols;
  if (c >= p.orig_cols) {
    return 0.0;
  }
  return f32(src[r * p.src_cols + c]);
}

fn store_dst(j: u32, v: f32) {
  dst[j] = store_t(v);
}
