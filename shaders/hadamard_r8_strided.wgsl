// One pass of radix-8 (or 4, 2) butterflies straight through global memory, on vec4-index bits
// chosen by the stage constant S: the high bits of blocks larger than workgroup memory
// (H_n = (H_a ⊗ I_b)(I_a ⊗ H_b): hadamard_r8.wgsl does I_a ⊗ H_b, these passes H_a ⊗ I_b).
// Neighbouring threads take neighbouring vec4s (coalesced). Prepended: hadamard_f32|f16, prng,
// hadamard_common, an io file with load_quad/store_quad, hadamard_r8_common.

override S: u32 = 0u;
override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let q = (wid.x + wid.y * p.groups_x) * WG + tid;
  let g = st_base(q, S);
  if (4u * g >= p.total) {
    return;
  }
  var v0 = r8_load(g);
  var v1 = r8_load(g + st_off(S, 1u));
  var v2 = r8_load(g + st_off(S, 2u));
  var v3 = r8_load(g + st_off(S, 3u));
  var v4 = r8_load(g + st_off(S, 4u));
  var v5 = r8_load(g + st_off(S, 5u));
  var v6 = r8_load(g + st_off(S, 6u));
  var v7 = r8_load(g + st_off(S, 7u));
  bfly8(&v0, &v1, &v2, &v3, &v4, &v5, &v6, &v7, S);
  r8_store(g, v0);
  r8_store(g + st_off(S, 1u), v1);
  r8_store(g + st_off(S, 2u), v2);
  r8_store(g + st_off(S, 3u), v3);
  r8_store(g + st_off(S, 4u), v4);
  r8_store(g + st_off(S, 5u), v5);
  r8_store(g + st_off(S, 6u), v6);
  r8_store(g + st_off(S, 7u), v7);
}
