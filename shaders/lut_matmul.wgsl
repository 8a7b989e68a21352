// Lookup-table matmul straight from packed codes (any QuantizedTensor with p = 1 or 2):
//   out[out_off + b·out_stride + r] = Σ_c Ŵrot[r, c] · xr[b, c]  (+ bias[r])
// with Ŵrot[r, c…c+P−1] = (table[code·P …] − zero)·scale (src/quant/format.ts) and xr the padded
// (and, when FUSED, Hadamard-rotated) activations.
//
// Work split (GEMV style, for batch 1–64): a workgroup of 256 threads is 8 teams of 32 lanes;
// team t owns row wg.x·8 + t, and its lanes stride over the row's *chunks* — CHUNK_WORDS
// consecutive u32 words holding CHUNK_CODES whole codes (lcm(BITS, 32) bits, so a code never
// straddles a chunk: 1 word for 1/2/4/8/16-bit codes, 3 words = 32 codes for 3-bit, …). Lanes
// read consecutive chunks, so a team's code reads are coalesced raw u32 loads. Each decoded code
// is reused for TB batch rows (wg.y picks the batch tile). Per chunk the group's scale and zero
// are folded out of the inner loop (s·(Σ t·x − z·Σ x)) when a chunk lies inside one group; for
// groups smaller than a chunk (PER_CODE) or groups along the output axis (AXIS 0, a scale per
// column) every weight is dequantized on its own. The 32 lane sums are reduced in workgroup
// memory.
//
// The table sits in workgroup memory (TABLE_WG; up to 2048 floats) with DUP interleaved copies,
// lane l reading copy l mod DUP, so lanes that look up different entries of a big p = 2 table
// (256 pairs) hit different banks (FLUTE's duplicated LUT). Larger tables (12–16-bit codes) are
// read from the storage buffer through the cache.
//
// FUSED: the rotation runs here instead of in lut_rotate.wgsl: per Hadamard block the workgroup
// loads TB × HBLOCK activations into workgroup memory, applies the random signs and an in-place
// FWHT, and the teams then consume the block's chunks.

override BITS: u32 = 4u;
override P: u32 = 1u;
override TB: u32 = 1u;
override HAS_ZEROS: bool = false;
override HAS_SIGNS: bool = false;
override AXIS: u32 = 1u;
override PER_CODE: bool = false;
override CHUNK_CODES: u32 = 8u;
override CHUNK_WORDS: u32 = 1u;
override TABLE_WG: bool = true;
override TABLE_WG_LEN: u32 = 16u;
override DUP: u32 = 1u;
override FUSED: bool = false;
override HBLOCK: u32 = 1u;
override XS_LEN: u32 = 1u;

const WG: u32 = 256u;
const LANES: u32 = 32u;
const TEAMS: u32 = 8u;
const MAX_TB: u32 = 8u;

struct Params {
  rows: u32,       // rows of this part
  cpr: u32,        // codes per row
  stride: u32,     // words per row
  pc: u32,         // padded columns
  x_cols: u32,     // valid columns of x (zero beyond)
  x_stride: u32,   // elements between batch rows of x
  x_off: u32,
  out_off: u32,    // element of out for (b = 0, local row 0)
  out_stride: u32, // elements between batch rows of out
  batch: u32,
  gpr: u32,        // groups per row (AXIS 1)
  g: u32,          // group size
  has_bias: u32,
  bias_off: u32,   // first bias element of this part
  row0: u32,       // first global row of this part (AXIS 0 scale rows)
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> zeros: array<f32>;
@group(0) @binding(5) var<storage, read> signs: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read> x: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> tbl: array<f32, TABLE_WG_LEN>;
var<workgroup> xs: array<f32, XS_LEN>;
var<workgroup> part: array<f32, WG>;

fn table_at(i: u32, lane: u32) -> f32 {
  if (TABLE_WG) {
    return tbl[i * DUP + lane % DUP];
  }
  return table[i];
}

fn x_at(bb: u32, col: u32, b0: u32) -> f32 {
  if (FUSED) {
    return xs[bb * HBLOCK + col % HBLOCK];
  }
  let b = b0 + bb;
  if (b >= p.batch || col >= p.x_cols) {
    return 0.0;
  }
  return x[p.x_off + b * p.x_stride + col];
}

// Scale and zero of element (row, col): AXIS 1 groups run along the row, AXIS 0 down the column.
fn group_of(row: u32, col: u32) -> u32 {
  if (AXIS == 1u) {
    return row * p.gpr + col / p.g;
  }
  return ((p.row0 + row) / p.g) * p.pc + col;
}

fn do_chunk(row: u32, ch: u32, lane: u32, b0: u32, acc: ptr<function, array<f32, MAX_TB>>) {
  var wds: array<u32, 16>;
  let wrow = row * p.stride;
  let wb = ch * CHUNK_WORDS;
  for (var i = 0u; i < CHUNK_WORDS; i++) {
    if (wb + i < p.stride) {
      wds[i] = codes[wrow + wb + i];
    }
  }
  let mask = (1u << BITS) - 1u;
  let j0 = ch * CHUNK_CODES;
  let fold = AXIS == 1u && !PER_CODE;
  var tacc: array<f32, MAX_TB>;
  var xacc: array<f32, MAX_TB>;
  for (var ci = 0u; ci < CHUNK_CODES; ci++) {
    if (j0 + ci >= p.cpr) {
      break;
    }
    let bit = ci * BITS;
    let wi = bit >> 5u;
    let sh = bit & 31u;
    var code = wds[wi] >> sh;
    if (sh + BITS > 32u) {
      code |= wds[wi + 1u] << (32u - sh);
    }
    code &= mask;
    for (var k = 0u; k < P; k++) {
      let col = (j0 + ci) * P + k;
      let t = table_at(code * P + k, lane);
      if (fold) {
        for (var bb = 0u; bb < TB; bb++) {
          let xv = x_at(bb, col, b0);
          tacc[bb] = fma(t, xv, tacc[bb]);
          if (HAS_ZEROS) {
            xacc[bb] += xv;
          }
        }
      } else {
        let gi = group_of(row, col);
        var w = t;
        if (HAS_ZEROS) {
          w -= zeros[gi];
        }
        w *= scales[gi];
        for (var bb = 0u; bb < TB; bb++) {
          (*acc)[bb] = fma(w, x_at(bb, col, b0), (*acc)[bb]);
        }
      }
    }
  }
  if (fold) {
    let gi = group_of(row, j0 * P);
    let s = scales[gi];
    var z = 0.0;
    if (HAS_ZEROS) {
      z = zeros[gi];
    }
    for (var bb = 0u; bb < TB; bb++) {
      (*acc)[bb] += s * (tacc[bb] - z * xacc[bb]);
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let team = li / LANES;
  let lane = li % LANES;
  let row = wg.x * TEAMS + team;
  let b0 = wg.y * TB;
  if (TABLE_WG) {
    for (var i = li; i < TABLE_WG_LEN; i += WG) {
      tbl[i] = table[i / DUP];
    }
  }
  workgroupBarrier();
  var acc: array<f32, MAX_TB>;
  if (FUSED) {
    let half = HBLOCK / 2u;
    let chunks_per_block = HBLOCK / (CHUNK_CODES * P);
    let inv = inverseSqrt(f32(HBLOCK));
    let nblk = p.pc / HBLOCK;
    for (var blk = 0u; blk < nblk; blk++) {
      workgroupBarrier();
      for (var i = li; i < TB * HBLOCK; i += WG) {
        let b = b0 + i / HBLOCK;
        let c = blk * HBLOCK + i % HBLOCK;
        var v = 0.0;
        if (b < p.batch && c < p.x_cols) {
          v = x[p.x_off + b * p.x_stride + c] * inv;
          if (HAS_SIGNS) {
            v *= signs[c];
          }
        }
        xs[i] = v;
      }
      workgroupBarrier();
      for (var len = 1u; len < HBLOCK; len <<= 1u) {
        for (var i = li; i < TB * half; i += WG) {
          let k = i % half;
          let a = (i / half) * HBLOCK + (k / len) * 2u * len + k % len;
          let u = xs[a];
          let v = xs[a + len];
          xs[a] = u + v;
          xs[a + len] = u - v;
        }
        workgroupBarrier();
      }
      if (row < p.rows) {
        for (var c = lane; c < chunks_per_block; c += LANES) {
          do_chunk(row, blk * chunks_per_block + c, lane, b0, &acc);
        }
      }
    }
  } else if (row < p.rows) {
    let nch = (p.cpr + CHUNK_CODES - 1u) / CHUNK_CODES;
    for (var ch = lane; ch < nch; ch += LANES) {
      do_chunk(row, ch, lane, b0, &acc);
    }
  }
  for (var bb = 0u; bb < TB; bb++) {
    workgroupBarrier();
    part[li] = acc[bb];
    workgroupBarrier();
    for (var s = 16u; s > 0u; s >>= 1u) {
      if (lane < s) {
        part[li] += part[li + s];
      }
      workgroupBarrier();
    }
    let b = b0 + bb;
    if (lane == 0u && row < p.rows && b < p.batch) {
      var v = part[li];
      if (p.has_bias != 0u) {
        v += bias[p.bias_off + row];
      }
      out[p.out_off + b * p.out_stride + row] = v;
    }
  }
}
