// Causal grouped-query attention, backward, the gradient with respect to the queries, one
// SUBGROUP per query row: the variant of attention_backward_query.wgsl for devices with subgroups.
// Same inputs, outputs and math; training layout (pos0 = 0, S = T):
//
// q, dout, dq: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// For the query row i = (b, t, h), kv head h / (NH / KV), the allowed keys are j <= t with
// mask[b, j] != 0. With scale = 1 / sqrt(HS): s_ij = scale * (q_i . k_j), p_ij = exp(s_ij - lse_i),
// dp_ij = dout_i . v_j, ds_ij = p_ij * (dp_ij - D_i), and dq_i = scale * sum_j ds_ij * k_j.
// A row with no allowed key (lse_i = -1e30) gets dq_i = 0. dq is written, not accumulated.
//
// Work split as in attention_subgroup_forward.wgsl (read its header): lane `lane` of a subgroup
// of `sg` lanes owns the dimensions d = lane + i * sg < HS; per key, each lane forms its parts of
// q_i . k_j and dout_i . v_j and one subgroupAdd of the pair gives every lane both sums; each lane
// then accumulates its own dimensions of dq_i. Workgroups of WG invocations take blocks of
// ROWS_PER_WG = WG / subgroupMinSize rows; DIMS_PER_LANE = ceil(HS / subgroupMinSize).

enable subgroups;
requires subgroup_id;
diagnostic(off, subgroup_uniformity);

struct Params {
  rows: u32,  // B * T * NH, the number of query rows
  T: u32,
  NH: u32,
  KV: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dq: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<uniform> params: Params;

override HS: u32 = 64u;
override DIMS_PER_LANE: u32 = 16u;  // ceil(HS / subgroupMinSize)
override ROWS_PER_WG: u32 = 32u;    // WG / subgroupMinSize
const MAX_DIMS_PER_LANE: u32 = 64u;
const WG: u32 = 128u;
// The forward writes lse = -1e30 for a row with no allowed key; anything below half of it is that.
const NO_KEY_BELOW: f32 = -5e29;

fn query_row(row: u32, lane: u32, sg: u32) {
  let h = row % params.NH;
  let bt = row / params.NH;  // b * T + t
  let t = bt % params.T;
  let b = bt / params.T;
  let kvh = h / (params.NH / params.KV);
  let st = stats[(b * params.NH + h) * params.T + t];
  let rowLse = st.x;
  let rowD = st.y;

  // This lane's dimensions of the scaled query, of dout and of the dq accumulator.
  var qr: array<f32, MAX_DIMS_PER_LANE>;
  var g: array<f32, MAX_DIMS_PER_LANE>;
  var acc: array<f32, MAX_DIMS_PER_LANE>;
  let base = row * HS + lane;
  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) {
      qr[i] = q[base + i * sg] * params.scale;
      g[i] = dout[base + i * sg];
    }
  }

  // With no allowed key, no key is visited and dq stays 0.
  let last = select(t + 1u, 0u, rowLse < NO_KEY_BELOW);
  let kvStride = params.KV * HS;
  var kvbase = (b * params.T * params.KV + kvh) * HS + lane;
  for (var j = 0u; j < last; j++) {
    if (mask[b * params.T + j] != 0u) {
      var part = vec2<f32>(0.0);
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) {
          part += vec2<f32>(qr[i] * k[kvbase + i * sg], g[i] * v[kvbase + i * sg]);
        }
      }
      let sdp = subgroupAdd(part);  // (s_ij, dp_ij)
      let ds = exp(sdp.x - rowLse) * (sdp.y - rowD);
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) { acc[i] += ds * k[kvbase + i * sg]; }
      }
    }
    kvbase += kvStride;
  }

  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) { dq[base + i * sg] = acc[i] * params.scale; }
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
    query_row(row, lane, sg);
  }
}
