// The activation rotation of HIGGS layers as a separate pass (see src/lut/rotate.ts):
//   xr[b·pc + blk·H + i] = (Hₒ · D · pad(x))[b, blk·H + i]
// One workgroup per (Hadamard block, batch row): the block is loaded into workgroup memory (zero
// beyond x_cols, times the random sign when HAS_SIGNS, times 1/√H), transformed in place by
// log2 H butterfly stages, and written out. Dispatch: (pc / H, batch).

override HBLOCK: u32 = 64u;
override HAS_SIGNS: bool = false;

const WG: u32 = 256u;

struct Params {
  pc: u32,
  x_cols: u32,
  x_stride: u32,
  x_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> signs: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> xr: array<f32>;

var<workgroup> xs: array<f32, HBLOCK>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let blk = wg.x;
  let b = wg.y;
  let inv = inverseSqrt(f32(HBLOCK));
  for (var i = li; i < HBLOCK; i += WG) {
    let c = blk * HBLOCK + i;
    var v = 0.0;
    if (c < p.x_cols) {
      v = x[p.x_off + b * p.x_stride + c] * inv;
      if (HAS_SIGNS) {
        v *= signs[c];
      }
    }
    xs[i] = v;
  }
  workgroupBarrier();
  let half = HBLOCK / 2u;
  for (var len = 1u; len < HBLOCK; len <<= 1u) {
    for (var k = li; k < half; k += WG) {
      let a = (k / len) * 2u * len + k % len;
      let u = xs[a];
      let v = xs[a + len];
      xs[a] = u + v;
      xs[a + len] = u - v;
    }
    workgroupBarrier();
  }
  for (var i = li; i < HBLOCK; i += WG) {
    xr[b * p.pc + blk * HBLOCK + i] = xs[i];
  }
}
