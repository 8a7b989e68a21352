// Causal grouped-query attention with an optional sliding window, one workgroup per (head, query
// row), online softmax over blocks of 64 keys (flash-attention style, so any context length fits
// in fixed workgroup memory). Query row t sits at position pos0 + t and sees keys
// [max(0, pos0 + t + 1 − window), pos0 + t] (window 0: all earlier keys). q and out are
// [T, H·hd]; the caches k and v are [positions, KvH·hd]. Each thread scores one key of a block,
// then owns output dims tid, tid + 64, … (hd ≤ 256).

struct Params {
  pos0: u32,
  heads: u32,
  kv_heads: u32,
  hd: u32,
  window: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const NEG: f32 = -3.0e38;

var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> pr: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let h = wg.x;
  let t = wg.y;
  let hd = p.hd;
  let g = h / (p.heads / p.kv_heads);
  let pos = p.pos0 + t;
  var lo = 0u;
  if (p.window > 0u && pos + 1u > p.window) {
    lo = pos + 1u - p.window;
  }
  let hi = pos + 1u;
  let qb = (t * p.heads + h) * hd;
  for (var i = tid; i < hd; i += WG) {
    qs[i] = q[qb + i];
  }
  workgroupBarrier();
  let kv_stride = p.kv_heads * hd;
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, 4>;
  for (var base = lo; base < hi; base += WG) {
    let j = base + tid;
    var s = NEG;
    if (j < hi) {
      let kb = j * kv_stride + g * hd;
      var dot = 0.0;
      for (var i = 0u; i < hd; i++) {
        dot = fma(qs[i], k[kb + i], dot);
      }
      s = dot * p.scale;
    }
    sc[tid] = s;
    workgroupBarrier();
    var bm = NEG;
    for (var i = 0u; i < WG; i++) {
      bm = max(bm, sc[i]);
    }
    let mn = max(m, bm);
    let corr = exp(m - mn);
    var pj = 0.0;
    if (j < hi) {
      pj = exp(s - mn);
    }
    pr[tid] = pj;
    workgroupBarrier();
    let cnt = min(WG, hi - base);
    var bs = 0.0;
    for (var r = 0u; r < 4u; r++) {
      acc[r] *= corr;
    }
    for (var jj = 0u; jj < cnt; jj++) {
      let pv = pr[jj];
      bs += pv;
      let vb = (base + jj) * kv_stride + g * hd;
      for (var r = 0u; r < 4u; r++) {
        let dd = tid + r * WG;
        if (dd < hd) {
          acc[r] = fma(pv, v[vb + dd], acc[r]);
        }
      }
    }
    l = l * corr + bs;
    m = mn;
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let dd = tid + r * WG;
    if (dd < hd) {
      out[qb + dd] = acc[r] / l;
    }
  }
}
