// Causal scaled-dot-product attention, forward, one SUBGROUP per query row: the variant of
// attention_forward.wgsl for devices with subgroups. Same inputs, outputs and math; read that
// file's header for the layouts, the mask, grouped-query heads and the KV-cache offsets:
//
// q, out: [B, T, NH, HS], queries at absolute positions pos0 .. pos0 + T - 1.
// k, v:   [B, S, KV, HS], cache positions 0 .. S - 1 (only 0 .. pos0 + T - 1 need be filled).
// mask:   u32 [B, S], 1 where the key position holds a real token, 0 for padding.
// lse:    [B, NH, T], the log-sum-exp of each query row's scaled scores (-1e30 with out = 0 for
//         a query that may attend to no key).
// The query (b, t, h) at p = pos0 + t attends to keys j <= p with mask[b, j] != 0 of kv head
// h / (NH / KV); score_j = (q . k_j) / sqrt(HS); out = softmax(score) . v, by an online softmax.
//
// Work split. The lanes of a subgroup share one row and split the head dimension strided: lane
// `lane` of a subgroup of `sg` lanes owns the dimensions d = lane + i * sg (i = 0, 1, ... while
// d < HS), so consecutive lanes read consecutive floats of q, k, v and out. For each key every
// lane dots its own dimensions and subgroupAdd hands all lanes the whole score; the online
// softmax state (m, l) is then the same in every lane, and each lane rescales and accumulates only
// its own dimensions of the output. No workgroup memory, no barriers.
//
// The subgroup size is known only as the shader runs (anything from the adapter's subgroupMinSize
// to its subgroupMaxSize), so the dispatch does not depend on it: each workgroup of WG invocations
// takes a block of ROWS_PER_WG = WG / subgroupMinSize consecutive rows (row = (b * T + t) * NH + h)
// and its subgroups take the rows subgroup_id, subgroup_id + num_subgroups, ... of the block.
// DIMS_PER_LANE = ceil(HS / subgroupMinSize) bounds each lane's share, and so the private arrays
// (at most MAX_DIMS_PER_LANE; the launcher falls back to attention_forward.wgsl beyond that).
// WG = 128 is a multiple of every subgroup size WebGPU allows, so every subgroup is full.
//
// Uniformity: every branch around subgroupAdd (the row loop, the key loop, the mask test) depends
// only on values that are the same across a subgroup (its row, the key index, a mask element that
// all lanes read), so all lanes of a subgroup reach each subgroupAdd together. WGSL's uniformity
// analysis sees that only where the implementation has the `subgroup_uniformity` language feature
// (Dawn here does); the diagnostic filter keeps the others from rejecting the shader.
enable subgroups;
requires subgroup_id;
diagnostic(off, subgroup_uniformity);

struct Params {
  rows: u32,  // B * T * NH, the number of query rows
  T: u32,
  S: u32,
  NH: u32,
  KV: u32,
  pos0: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<u32>;
@group(0) @binding(6) var<uniform> params: Params;

override HS: u32 = 64u;
override DIMS_PER_LANE: u32 = 16u;  // ceil(HS / subgroupMinSize)
override ROWS_PER_WG: u32 = 32u;    // WG / subgroupMinSize
const MAX_DIMS_PER_LANE: u32 = 64u;
const WG: u32 = 128u;
const NO_KEY_LSE: f32 = -1e30;

fn attend_row(row: u32, lane: u32, sg: u32) {
  let h = row % params.NH;
  let bt = row / params.NH;  // b * T + t
  let t = bt % params.T;
  let b = bt / params.T;
  let kvh = h / (params.NH / params.KV);
  let last = min(params.pos0 + t + 1u, params.S);  // keys 0 .. last - 1

  // This lane's dimensions of the scaled query, and of the output accumulator (zero-initialised).
  var qr: array<f32, MAX_DIMS_PER_LANE>;
  var acc: array<f32, MAX_DIMS_PER_LANE>;
  let qbase = row * HS + lane;
  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) { qr[i] = q[qbase + i * sg] * params.scale; }
  }

  // Online softmax: m is the largest score seen, l = sum_j exp(score_j - m), acc = sum_j exp(score_j - m) v_j.
  var m = NO_KEY_LSE;
  var l = 0.0;
  let kvStride = params.KV * HS;
  var kvbase = (b * params.S * params.KV + kvh) * HS + lane;
  for (var j = 0u; j < last; j++) {
    if (mask[b * params.S + j] != 0u) {
      var part = 0.0;
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) { part += qr[i] * k[kvbase + i * sg]; }
      }
      let s = subgroupAdd(part);
      if (s > m) {
        // A new maximum: rescale what has been accumulated so far (the factor is 0 at the first key).
        let c = exp(m - s);
        l *= c;
        for (var i = 0u; i < DIMS_PER_LANE; i++) { acc[i] *= c; }
        m = s;
      }
      let w = exp(s - m);
      l += w;
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) { acc[i] += w * v[kvbase + i * sg]; }
      }
    }
    kvbase += kvStride;
  }

  // A row with no allowed key has l = 0: out = 0 and lse = NO_KEY_LSE, as attention_forward.wgsl.
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) { out[qbase + i * sg] = acc[i] * inv; }
  }
  if (lane == 0u) {
    lse[(b * params.NH + h) * params.T + t] = select(NO_KEY_LSE, m + log(l), l > 0.0);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
  let first = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
  for (var r = sid; r < ROWS_PER_WG; r += nsg) {
    let row = first + r;
    if (row >= params.rows) { break; }
    attend_row(row, lane, sg);
  }
}
