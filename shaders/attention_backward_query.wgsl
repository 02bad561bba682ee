// Causal grouped-query attention, backward, step 2 of 3: the gradient with respect to the queries.
// Training layout: no cache offset, so the keys are the T positions of the same sequence.
//
// q, dout, dq: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// Head h reads kv head h / (NH / KV).
//
// For the query row i = (b, t, h), the allowed keys are j <= t with mask[b, j] != 0. With
// scale = 1 / sqrt(HS), s_ij = scale * (q_i . k_j) and p_ij = exp(s_ij - lse_i) recomputes the
// forward's softmax weight; dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i). Then
//   dq_i = scale * sum_j ds_ij * k_j.
// A row with no allowed key (lse_i = -1e30, a padding query of a left-padded row) gets dq_i = 0:
// its weights are zero, and exp(s - lse) is never evaluated for it.
// dq is written, not accumulated.
//
// One invocation per query row, row index = (b * T + t) * NH + h, on a 2D grid of 64-wide
// workgroups (see grid1d); no workgroup barriers. HS is an override constant bounding every loop
// over the head; the private copies of q_i, dout_i and the dq accumulator are fixed MAX_HS arrays
// (WGSL allows override-sized arrays only in workgroup memory), of which the first HS are used.

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
const MAX_HS: u32 = 256u;
const WG: u32 = 64u;
// The forward writes lse = -1e30 for a row with no allowed key; anything below half of it is that.
const NO_KEY_BELOW: f32 = -5e29;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= params.rows) { return; }
  let h = row % params.NH;
  let bt = row / params.NH;  // b * T + t
  let t = bt % params.T;
  let b = bt / params.T;
  let kvh = h / (params.NH / params.KV);
  let st = stats[(b * params.NH + h) * params.T + t];
  let rowLse = st.x;
  let rowD = st.y;

  var qr: array<f32, MAX_HS>;
  var g: array<f32, MAX_HS>;
  var acc: array<f32, MAX_HS>;
  let base = row * HS;
  for (var d = 0u; d < HS; d++) {
    qr[d] = q[base + d] * params.scale;
    g[d] = dout[base + d];
    acc[d] = 0.0;
  }

  // With no allowed key, no key is visited and dq stays 0.
  let last = select(t + 1u, 0u, rowLse < NO_KEY_BELOW);
  let kvStride = params.KV * HS;
  var kvbase = (b * params.T * params.KV + kvh) * HS;
  for (var j = 0u; j < last; j++) {
    if (mask[b * params.T + j] != 0u) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HS; d++) {
        s += qr[d] * k[kvbase + d];
        dp += g[d] * v[kvbase + d];
      }
      let ds = exp(s - rowLse) * (dp - rowD);
      for (var d = 0u; d < HS; d++) { acc[d] += ds * k[kvbase + d]; }
    }
    kvbase += kvStride;
  }

  for (var d = 0u; d < HS; d++) { dq[base + d] = acc[d] * params.scale; }
}
