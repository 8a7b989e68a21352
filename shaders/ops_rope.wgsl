// Rotary embedding in place, "rotate half" pairing: for row r (position pos0 + r), head h and
// i < half, (a, b) = (x[i], x[i + half]) → (a·cos − b·sin, b·cos + a·sin). The angles come from
// the host's tables (cos at [pos·half + i], sin after all cosines at sin_off), computed like
// Hugging Face (f32 angle), so CPU and GPU rotate identically. One thread per pair; the grid is
// folded over x and y to stay under the per-dimension workgroup limit.

struct Params {
  rows: u32,
  heads: u32,
  half: u32,
  pos0: u32,
  off: u32,
  stride: u32,
  sin_off: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let idx = (wg.y * nwg.x + wg.x) * 256u + li;
  let per_row = p.heads * p.half;
  if (idx >= p.rows * per_row) {
    return;
  }
  let r = idx / per_row;
  let rem = idx % per_row;
  let h = rem / p.half;
  let i = rem % p.half;
  let tb = (p.pos0 + r) * p.half + i;
  let c = table[tb];
  let s = table[p.sin_off + tb];
  let base = p.off + r * p.stride + h * 2u * p.half;
  let a = x[base + i];
  let b = x[base + p.half + i];
  x[base + i] = a * c - b * s;
  x[base + p.half + i] = b * c + a * s;
}
