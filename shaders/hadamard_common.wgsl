// Shared by the Hadamard kernels (hadamard.wgsl, hadamard_strided.wgsl). Needs store_t
// (store_f32|f16.wgsl) and rand_sign (prng.wgsl) before it; an io file
// (hadamard_io_inplace|copy.wgsl) after it provides load_src(j) and store_dst(j, v).
//
// Indices j are flat indices into the destination, a row-major [rows, cols] matrix whose rows are
// whole blocks of N = 2^LOG_N; bits 0..LOG_N-1 of j are the position inside a block, so a
// butterfly on bit b pairs j and j ^ (1 << b) whatever the row.

struct Params {
  total: u32,      // elements of the destination range bound (whole rows)
  cols: u32,       // destination row length (a multiple of the block size)
  src_cols: u32,   // source row length (copy variant)
  orig_cols: u32,  // source columns; destination columns ≥ orig_cols are zero padding
  seed: u32,       // random-sign seed
  flags: u32,      // bit 0: inputs × sign(column); bit 1: outputs × sign(column)
  scale: f32,      // outputs × scale
  groups_x: u32,   // workgroups along x of the 2-D dispatch (too many rows for one dimension)
  stride_log: u32, // strided kernel: the lowest bit of this pass
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn col_sign(j: u32) -> f32 {
  return rand_sign(p.seed, j % p.cols);
}

fn load_in(j: u32) -> f32 {
  let v = load_src(j);
  if ((p.flags & 1u) != 0u) {
    return v * col_sign(j);
  }
  return v;
}

fn store_out(j: u32, v: f32) {
  var o = v * p.scale;
  if ((p.flags & 2u) != 0u) {
    o *= col_sign(j);
  }
  store_dst(j, o);
}

// Index of element 0 of butterfly group q for bits [b, b + r): q with r zero bits inserted at b.
fn group_base(q: u32, b: u32, r: u32) -> u32 {
  return ((q >> b) << (b + r)) | (q & ((1u << b) - 1u));
}

// In-register Walsh–Hadamard transform of v[0 .. m) (m a power of two ≤ 16).
fn fwht_regs(v: ptr<function, array<f32, 16>>, m: u32) {
  for (var h = 1u; h < m; h <<= 1u) {
    for (var k = 0u; k < m; k++) {
      if ((k & h) == 0u) {
        let a = (*v)[k];
        let c = (*v)[k + h];
        (*v)[k] = a + c;
        (*v)[k + h] = a - c;
      }
    }
  }
}
