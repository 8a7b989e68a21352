// Shared by hadamard_r8.wgsl and hadamard_r8_strided.wgsl: each thread holds eight vec4s (32
// elements) in registers, the vec4s whose indices differ in three chosen bits of the vec4 index,
// and does radix-8 (or 4, 2) butterflies between them.
//
// A stage is an override constant: three ascending vec4-index bit positions (5 bits each) and, in
// bits 15…17, which of them get butterflies (the others only make up the eight vec4s a thread
// holds). The eight values live in named variables, never an indexed array, so every index is a
// constant and nothing can spill to local memory.

fn st_bit(code: u32, i: u32) -> u32 {
  return (code >> (5u * i)) & 31u;
}

// Thread q's first vec4: q with zero bits inserted at the stage's positions (ascending).
fn st_base(q: u32, code: u32) -> u32 {
  var g = q;
  for (var i = 0u; i < 3u; i++) {
    let b = st_bit(code, i);
    g = ((g >> b) << (b + 1u)) | (g & ((1u << b) - 1u));
  }
  return g;
}

// Offset of the thread's k-th vec4 (k bit i set: + 2^position i).
fn st_off(code: u32, k: u32) -> u32 {
  return ((k & 1u) << st_bit(code, 0u)) | (((k >> 1u) & 1u) << st_bit(code, 1u)) |
    (((k >> 2u) & 1u) << st_bit(code, 2u));
}

fn bfly(a: ptr<function, vec4<f32>>, b: ptr<function, vec4<f32>>) {
  let s = *a + *b;
  *b = *a - *b;
  *a = s;
}

fn bfly8(
  v0: ptr<function, vec4<f32>>,
  v1: ptr<function, vec4<f32>>,
  v2: ptr<function, vec4<f32>>,
  v3: ptr<function, vec4<f32>>,
  v4: ptr<function, vec4<f32>>,
  v5: ptr<function, vec4<f32>>,
  v6: ptr<function, vec4<f32>>,
  v7: ptr<function, vec4<f32>>,
  code: u32,
) {
  let m = code >> 15u;
  if ((m & 1u) != 0u) {
    bfly(v0, v1);
    bfly(v2, v3);
    bfly(v4, v5);
    bfly(v6, v7);
  }
  if ((m & 2u) != 0u) {
    bfly(v0, v2);
    bfly(v1, v3);
    bfly(v4, v6);
    bfly(v5, v7);
  }
  if ((m & 4u) != 0u) {
    bfly(v0, v4);
    bfly(v1, v5);
    bfly(v2, v6);
    bfly(v3, v7);
  }
}

// Butterflies on element bits 0 and 1, inside one vec4.
fn fwht4(x: vec4<f32>) -> vec4<f32> {
  let a = x.x + x.y;
  let b = x.x - x.y;
  let c = x.z + x.w;
  let d = x.z - x.w;
  return vec4<f32>(a + c, b + d, a - c, b - d);
}

// Vec4 i of the bound range (signs applied by load_quad), zero past the end.
fn r8_load(i: u32) -> vec4<f32> {
  if (4u * i < p.total) {
    return load_quad(4u * i);
  }
  return vec4<f32>(0.0);
}

fn r8_store(i: u32, v: vec4<f32>) {
  if (4u * i < p.total) {
    store_quad(4u * i, v);
  }
}
