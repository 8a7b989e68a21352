// Shared by the generated register-blocked Hadamard kernels (hadamard_r8|r16.wgsl,
// hadamard_r8_strided.wgsl; each defines RB, the log2 of the vec4s a thread holds): each thread
// holds the 2^RB vec4s whose indices differ in RB chosen bits of the vec4 index and does
// butterflies between them.
//
// A stage is an override constant (src/hadamard/r_plan.ts): RB ascending vec4-index bit
// positions, 5 bits each from bit 0, and from bit 20 which of them get butterflies (the others
// only make up the vec4s a thread holds).

fn st_bit(code: u32, i: u32) -> u32 {
  return (code >> (5u * i)) & 31u;
}

// Thread q's first vec4: q with zero bits inserted at the stage's positions (ascending).
fn st_base(q: u32, code: u32) -> u32 {
  var g = q;
  for (var i = 0u; i < RB; i++) {
    let b = st_bit(code, i);
    g = ((g >> b) << (b + 1u)) | (g & ((1u << b) - 1u));
  }
  return g;
}

// Offset of the thread's k-th vec4 (k bit i set: + 2^position i).
fn st_off(code: u32, k: u32) -> u32 {
  var o = 0u;
  for (var i = 0u; i < RB; i++) {
    o |= ((k >> i) & 1u) << st_bit(code, i);
  }
  return o;
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
fn r_load(i: u32) -> vec4<f32> {
  if (4u * i < p.total) {
    return load_quad(4u * i);
  }
  return vec4<f32>(0.0);
}

fn r_store(i: u32, v: vec4<f32>) {
  if (4u * i < p.total) {
    store_quad(4u * i, v);
  }
}
