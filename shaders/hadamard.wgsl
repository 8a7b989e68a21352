// Blockwise fast Walsh–Hadamard transform with the blocks in workgroup memory: each workgroup
// transforms TILE = k·N consecutive elements (k whole blocks of N = 2^LOG_N). Prepended:
// store_f32|f16, prng, hadamard_common, hadamard_io_inplace|copy.
//
// The LOG_N bits are split into chunks of ≤ 3 bits from the top; each chunk is one round of
// radix-8 (or 4, 2) butterflies in registers. Chunk 0 (the highest bits, strides ≥ N/8) is done
// straight from global memory, chunk 1 straight into it, so neighbouring threads touch
// neighbouring addresses (coalesced); the remaining chunks run in workgroup memory between
// barriers. With a single chunk (N ≤ 8) nothing goes through workgroup memory.

override N: u32 = 1024u;
override LOG_N: u32 = 10u;
override TILE: u32 = 2048u;
override WG: u32 = 256u;

var<workgroup> sh: array<f32, TILE>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let base = (wid.x + wid.y * p.groups_x) * TILE;
  if (base >= p.total) {
    return;
  }
  let chunks = (LOG_N + 2u) / 3u;
  var v: array<f32, 16>;

  // Chunk 0: bits [LOG_N - r, LOG_N), loaded from memory (signs applied).
  let r0 = min(3u, LOG_N);
  let b0 = LOG_N - r0;
  for (var q = tid; q < (TILE >> r0); q += WG) {
    let g = group_base(q, b0, r0);
    for (var k = 0u; k < (1u << r0); k++) {
      let j = base + g + (k << b0);
      v[k] = 0.0;
      if (j < p.total) {
        v[k] = load_in(j);
      }
    }
    fwht_regs(&v, 1u << r0);
    for (var k = 0u; k < (1u << r0); k++) {
      let i = g + (k << b0);
      if (chunks == 1u) {
        if (base + i < p.total) {
          store_out(base + i, v[k]);
        }
      } else {
        sh[i] = v[k];
      }
    }
  }
  if (chunks == 1u) {
    return;
  }
  workgroupBarrier();

  // Chunks 2 … chunks-1, in workgroup memory.
  for (var c = 2u; c < chunks; c++) {
    let hi = LOG_N - 3u * c;
    let r = min(3u, hi);
    let b = hi - r;
    for (var q = tid; q < (TILE >> r); q += WG) {
      let g = group_base(q, b, r);
      for (var k = 0u; k < (1u << r); k++) {
        v[k] = sh[g + (k << b)];
      }
      fwht_regs(&v, 1u << r);
      for (var k = 0u; k < (1u << r); k++) {
        sh[g + (k << b)] = v[k];
      }
    }
    workgroupBarrier();
  }

  // Chunk 1: bits [LOG_N - 3 - r, LOG_N - 3), stored to memory (scale, signs).
  let r1 = min(3u, max(LOG_N, 3u) - 3u); // max(): no u32 underflow when LOG_N < 3
  let b1 = max(LOG_N, 3u) - 3u - r1;
  for (var q = tid; q < (TILE >> r1); q += WG) {
    let g = group_base(q, b1, r1);
    for (var k = 0u; k < (1u << r1); k++) {
      v[k] = sh[g + (k << b1)];
    }
    fwht_regs(&v, 1u << r1);
    for (var k = 0u; k < (1u << r1); k++) {
      let j = base + g + (k << b1);
      if (j < p.total) {
        store_out(j, v[k]);
      }
    }
  }
}
