// Blockwise fast Walsh–Hadamard transform, blocks of N = 4 … 4096, each thread holding 32
// elements (eight vec4s) in registers. A workgroup transforms a tile of TILE_V = 8·WG vec4s
// (whole blocks). Prepended: hadamard_f32|f16, prng, hadamard_common, an io file with
// load_quad/store_quad, hadamard_r8_common.
//
// The bits of the vec4 index inside a block are done in NST stages of up to three bits (S0 … S3,
// see hadamard_r8_common): stage 0 straight from global memory (plus element bits 0 and 1 inside
// each vec4), the last stage straight to it, the ones between through workgroup memory. For
// N = 1024 that is two round trips through workgroup memory, every thread busy in each; the
// eight loads a thread issues at once keep many bytes in flight. The host picks the stages so
// that neighbouring threads touch neighbouring vec4s in global memory. With one stage (N ≤ 32)
// nothing goes through workgroup memory.
//
// Workgroup memory is padded by one vec4 per eight (slot i + i/8): a stage on bits 0…2 has
// neighbouring threads 8 vec4s apart, which would otherwise hit the same banks.

override WG: u32 = 64u;
override NST: u32 = 3u;
override S0: u32 = 0u;
override S1: u32 = 0u;
override S2: u32 = 0u;
override S3: u32 = 0u;
override SLOTS: u32 = 576u;

var<workgroup> sh: array<vec4<f32>, SLOTS>;

fn slot(i: u32) -> u32 {
  return i + (i >> 3u);
}

// A stage in workgroup memory: read, butterflies, write back to the same slots.
fn shared_stage(t: u32, code: u32) {
  let g = st_base(t, code);
  var v0 = sh[slot(g)];
  var v1 = sh[slot(g + st_off(code, 1u))];
  var v2 = sh[slot(g + st_off(code, 2u))];
  var v3 = sh[slot(g + st_off(code, 3u))];
  var v4 = sh[slot(g + st_off(code, 4u))];
  var v5 = sh[slot(g + st_off(code, 5u))];
  var v6 = sh[slot(g + st_off(code, 6u))];
  var v7 = sh[slot(g + st_off(code, 7u))];
  bfly8(&v0, &v1, &v2, &v3, &v4, &v5, &v6, &v7, code);
  sh[slot(g)] = v0;
  sh[slot(g + st_off(code, 1u))] = v1;
  sh[slot(g + st_off(code, 2u))] = v2;
  sh[slot(g + st_off(code, 3u))] = v3;
  sh[slot(g + st_off(code, 4u))] = v4;
  sh[slot(g + st_off(code, 5u))] = v5;
  sh[slot(g + st_off(code, 6u))] = v6;
  sh[slot(g + st_off(code, 7u))] = v7;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let base = (wid.x + wid.y * p.groups_x) * (8u * WG);
  if (4u * base >= p.total) {
    return;
  }

  // Stage 0, from global memory (signs applied), element bits 0 and 1 first.
  let g = st_base(tid, S0);
  var v0 = fwht4(r8_load(base + g));
  var v1 = fwht4(r8_load(base + g + st_off(S0, 1u)));
  var v2 = fwht4(r8_load(base + g + st_off(S0, 2u)));
  var v3 = fwht4(r8_load(base + g + st_off(S0, 3u)));
  var v4 = fwht4(r8_load(base + g + st_off(S0, 4u)));
  var v5 = fwht4(r8_load(base + g + st_off(S0, 5u)));
  var v6 = fwht4(r8_load(base + g + st_off(S0, 6u)));
  var v7 = fwht4(r8_load(base + g + st_off(S0, 7u)));
  bfly8(&v0, &v1, &v2, &v3, &v4, &v5, &v6, &v7, S0);
  if (NST == 1u) {
    r8_store(base + g, v0);
    r8_store(base + g + st_off(S0, 1u), v1);
    r8_store(base + g + st_off(S0, 2u), v2);
    r8_store(base + g + st_off(S0, 3u), v3);
    r8_store(base + g + st_off(S0, 4u), v4);
    r8_store(base + g + st_off(S0, 5u), v5);
    r8_store(base + g + st_off(S0, 6u), v6);
    r8_store(base + g + st_off(S0, 7u), v7);
    return;
  }
  sh[slot(g)] = v0;
  sh[slot(g + st_off(S0, 1u))] = v1;
  sh[slot(g + st_off(S0, 2u))] = v2;
  sh[slot(g + st_off(S0, 3u))] = v3;
  sh[slot(g + st_off(S0, 4u))] = v4;
  sh[slot(g + st_off(S0, 5u))] = v5;
  sh[slot(g + st_off(S0, 6u))] = v6;
  sh[slot(g + st_off(S0, 7u))] = v7;
  workgroupBarrier();

  // Stages between, in workgroup memory.
  if (NST > 2u) {
    shared_stage(tid, S1);
    workgroupBarrier();
  }
  if (NST > 3u) {
    shared_stage(tid, S2);
    workgroupBarrier();
  }

  // The last stage, to global memory (scale and signs applied).
  let c = select(select(S3, S2, NST == 3u), S1, NST == 2u);
  let h = st_base(tid, c);
  var w0 = sh[slot(h)];
  var w1 = sh[slot(h + st_off(c, 1u))];
  var w2 = sh[slot(h + st_off(c, 2u))];
  var w3 = sh[slot(h + st_off(c, 3u))];
  var w4 = sh[slot(h + st_off(c, 4u))];
  var w5 = sh[slot(h + st_off(c, 5u))];
  var w6 = sh[slot(h + st_off(c, 6u))];
  var w7 = sh[slot(h + st_off(c, 7u))];
  bfly8(&w0, &w1, &w2, &w3, &w4, &w5, &w6, &w7, c);
  r8_store(base + h, w0);
  r8_store(base + h + st_off(c, 1u), w1);
  r8_store(base + h + st_off(c, 2u), w2);
  r8_store(base + h + st_off(c, 3u), w3);
  r8_store(base + h + st_off(c, 4u), w4);
  r8_store(base + h + st_off(c, 5u), w5);
  r8_store(base + h + st_off(c, 6u), w6);
  r8_store(base + h + st_off(c, 7u), w7);
}
