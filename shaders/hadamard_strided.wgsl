// One pass of radix-2^R_LOG butterflies on bits [stride_log, stride_log + R_LOG) of the block
// index, through global memory: the high bits of blocks too large for workgroup memory
// (H_n = (H_a ⊗ I_b)(I_a ⊗ H_b): hadamard.wgsl does I_a ⊗ H_b, these passes H_a ⊗ I_b).
// One thread per group; neighbouring threads take neighbouring columns (coalesced). Prepended:
// store_f32|f16, prng, hadamard_common, hadamard_io_inplace.

override R_LOG: u32 = 3u;
override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let q = (wid.x + wid.y * p.groups_x) * WG + tid;
  if (q >= (p.total >> R_LOG)) {
    return;
  }
  let b = p.stride_log;
  let g = group_base(q, b, R_LOG);
  var v: array<f32, 16>;
  for (var k = 0u; k < (1u << R_LOG); k++) {
    v[k] = load_in(g + (k << b));
  }
  fwht_regs(&v, 1u << R_LOG);
  for (var k = 0u; k < (1u << R_LOG); k++) {
    store_out(g + (k << b), v[k]);
  }
}
