// Negative log-likelihood of a target under the softmax of each logit row:
// nll[out_off + r] = logsumexp(logits[r·V …]) − logits[r·V + targets[t_off + r]].
// One workgroup of 256 threads per row: a max reduction, then a sum of exp(x − max).

struct Params {
  V: u32,
  t_off: u32,
  out_off: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> nll: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.x;
  let b = r * p.V;
  var m = -3.0e38;
  for (var i = li; i < p.V; i += 256u) {
    m = max(m, logits[b + i]);
  }
  part[li] = m;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride = stride / 2u) {
    if (li < stride) {
      part[li] = max(part[li], part[li + stride]);
    }
    workgroupBarrier();
  }
  let mx = part[0];
  workgroupBarrier();
  var s = 0.0;
  for (var i = li; i < p.V; i += 256u) {
    s += exp(logits[b + i] - mx);
  }
  part[li] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride = stride / 2u) {
    if (li < stride) {
      part[li] += part[li + stride];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    nll[p.out_off + r] = mx + log(part[0]) - logits[b + targets[p.t_off + r]];
  }
}
