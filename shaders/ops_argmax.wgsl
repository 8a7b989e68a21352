// Greedy decoding on the GPU: the index of the largest of n logits (the lowest index among equal
// maxima, as the host's sampleToken; a NaN is skipped where the device compares NaN as IEEE does),
// written to tokens[0] (the next step's embedding input) and to ids[slot] (the tokens read back
// after the whole chain). One workgroup.

struct Params {
  n: u32,
  slot: u32,
  offset: u32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  // Each thread scans i = li, li + 256, …: increasing, so a strict > keeps its lowest index.
  var best = 0.0;
  var idx = 0xffffffffu;
  for (var i = li; i < p.n; i += 256u) {
    let v = logits[p.offset + i];
    if (v == v && (idx == 0xffffffffu || v > best)) {
      best = v;
      idx = i;
    }
  }
  bv[li] = best;
  bi[li] = idx;
  for (var h = 128u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (li < h) {
      let ov = bv[li + h];
      let oi = bi[li + h];
      let mine = bi[li];
      if (oi != 0xffffffffu && (mine == 0xffffffffu || ov > bv[li] || (ov == bv[li] && oi < mine))) {
        bv[li] = ov;
        bi[li] = oi;
      }
    }
  }
  if (li == 0u) {
    let r = select(bi[0], 0u, bi[0] == 0xffffffffu);
    tokens[0] = r;
    ids[p.slot] = r;
  }
}
