// Blockwise fast Walsh–Hadamard transform, blocks of N = 2^LOG_N (4 ≤ N ≤ 4096) in workgroup
// memory held as vec4s: each workgroup transforms TILE = k·N consecutive elements. Prepended:
// store_f32|f16, prng, hadamard_common, then hadamard_io_inplace_vec4 (f32 in place) or
// hadamard_io_inplace|copy + hadamard_quad_scalar (load_quad/store_quad).
//
// Why this shape (the earlier kernel ran at 0.15× copy speed on an H100):
// - Global memory is touched twice, like a copy: thread q reads elements 4q … 4q+3 (neighbouring
//   threads, neighbouring bytes), does the butterflies on bits 0 and 1 in registers, and stores one
//   vec4; at the end it writes the same four elements back.
// - Bits ≥ 2 of the element index are bits ≥ 0 of the vec4 index: butterflies between whole vec4s,
//   radix-8 (or 4, 2) per round, every index a constant after unrolling (no per-thread arrays, so
//   nothing spills to local memory).
// - Workgroup memory is padded by one vec4 per eight (slot i + i/8): a round pairs vec4s 8^c apart,
//   and without the pad eight threads of a 128-byte phase would hit the same banks.

override N: u32 = 1024u;
override LOG_N: u32 = 10u;
override TILE: u32 = 2048u;
override WG: u32 = 256u;
// Workgroup memory slots: TILE / 4 vec4s plus one pad slot per eight.
override SLOTS: u32 = 576u;

var<workgroup> sh: array<vec4<f32>, SLOTS>;

fn slot(i: u32) -> u32 {
  return i + (i >> 3u);
}

fn bfly(a: ptr<function, vec4<f32>>, b: ptr<function, vec4<f32>>) {
  let s = *a + *b;
  *b = *a - *b;
  *a = s;
}

// One radix-2^r round on vec4 bits [b, b + r) of the tile: groups of 2^r vec4s 2^b apart.
fn round_r(tid: u32, b: u32, r: u32) {
  let groups = (TILE / 4u) >> r;
  let st = 1u << b;
  for (var q = tid; q < groups; q += WG) {
    let g = group_base(q, b, r);
    if (r == 3u) {
      var v0 = sh[slot(g)];
      var v1 = sh[slot(g + st)];
      var v2 = sh[slot(g + 2u * st)];
      var v3 = sh[slot(g + 3u * st)];
      var v4 = sh[slot(g + 4u * st)];
      var v5 = sh[slot(g + 5u * st)];
      var v6 = sh[slot(g + 6u * st)];
      var v7 = sh[slot(g + 7u * st)];
      bfly(&v0, &v1);
      bfly(&v2, &v3);
      bfly(&v4, &v5);
      bfly(&v6, &v7);
      bfly(&v0, &v2);
      bfly(&v1, &v3);
      bfly(&v4, &v6);
      bfly(&v5, &v7);
      bfly(&v0, &v4);
      bfly(&v1, &v5);
      bfly(&v2, &v6);
      bfly(&v3, &v7);
      sh[slot(g)] = v0;
      sh[slot(g + st)] = v1;
      sh[slot(g + 2u * st)] = v2;
      sh[slot(g + 3u * st)] = v3;
      sh[slot(g + 4u * st)] = v4;
      sh[slot(g + 5u * st)] = v5;
      sh[slot(g + 6u * st)] = v6;
      sh[slot(g + 7u * st)] = v7;
    } else if (r == 2u) {
      var v0 = sh[slot(g)];
      var v1 = sh[slot(g + st)];
      var v2 = sh[slot(g + 2u * st)];
      var v3 = sh[slot(g + 3u * st)];
      bfly(&v0, &v1);
      bfly(&v2, &v3);
      bfly(&v0, &v2);
      bfly(&v1, &v3);
      sh[slot(g)] = v0;
      sh[slot(g + st)] = v1;
      sh[slot(g + 2u * st)] = v2;
      sh[slot(g + 3u * st)] = v3;
    } else {
      var v0 = sh[slot(g)];
      var v1 = sh[slot(g + st)];
      bfly(&v0, &v1);
      sh[slot(g)] = v0;
      sh[slot(g + st)] = v1;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let base = (wid.x + wid.y * p.groups_x) * TILE;
  if (base >= p.total) {
    return;
  }
  let quads = TILE / 4u;

  // Load (signs applied), butterflies on bits 0 and 1 in registers.
  for (var q = tid; q < quads; q += WG) {
    let j = base + 4u * q;
    var x = vec4<f32>(0.0);
    if (j < p.total) {
      x = load_quad(j);
    }
    let a = x.x + x.y;
    let b = x.x - x.y;
    let c = x.z + x.w;
    let d = x.z - x.w;
    sh[slot(q)] = vec4<f32>(a + c, b + d, a - c, b - d);
  }
  workgroupBarrier();

  // Bits 2 … LOG_N-1 of the element index = bits 0 … LOG_N-3 of the vec4 index.
  let vbits = LOG_N - 2u;
  for (var b = 0u; b < vbits; b += 3u) {
    round_r(tid, b, min(3u, vbits - b));
    workgroupBarrier();
  }

  // Store (scale and signs applied).
  for (var q = tid; q < quads; q += WG) {
    let j = base + 4u * q;
    if (j < p.total) {
      store_quad(j, sh[slot(q)]);
    }
  }
}
