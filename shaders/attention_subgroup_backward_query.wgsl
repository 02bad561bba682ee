// Causal grouped-query attention, backward, the gradient with respect to the queries, one
// SUBGROUP per query row: the variant of attention_backward_query.wgsl for devices with subgroups.
// Same inputs, outputs and math; training layout (pos0 = 0, S = T). Composed after
// lib/attention_subgroup.wgsl (the work split and the entry point; read its header) and with
// lib/attention_backward_io.wgsl, lib/attention_rows.wgsl and lib/attention_score.wgsl (the
// window and the softcap):
//
// q, dout, dq: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// For the query row i = (b, t, h), kv head h / (NH / KV), the allowed keys are
// first_key(t) <= j <= t (t - W < j with a sliding window of W) with mask[b, j] != 0. With
// r_ij = scale * (q_i . k_j) (scale = 1 / sqrt(HS) by default), s_ij = r_ij or
// SOFTCAP * tanh(r_ij / SOFTCAP), c_ij = d s_ij / d r_ij, p_ij = exp(s_ij - lse_i),
// dp_ij = dout_i . v_j, ds_ij = p_ij * (dp_ij - D_i) * c_ij, and dq_i = scale * sum_j ds_ij * k_j.
// A row with no allowed key (lse_i = -1e30) gets dq_i = 0. dq is written, not accumulated.
//
// Lane `lane` of a subgroup of `sg` lanes owns the dimensions d = lane + i * sg < HS; per key,
// each lane forms its parts of q_i . k_j and dout_i . v_j and one subgroupAdd of the pair gives
// every lane both sums; each lane then accumulates its own dimensions of dq_i.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> dq: array<f32>;
const FIRST_INPUT: u32 = 1u;

fn run_row(row: u32, lane: u32, sg: u32) {
  let r = query_row(row);
  let st = stats[stat_index(r.b, r.t, r.h)];
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
  let first = first_key(r.t);
  let last = select(r.t + 1u, 0u, rowLse < NO_KEY_BELOW);
  let kvStride = params.KV * HS;
  var kvbase = ((r.b * params.T + first) * params.KV + r.kvh) * HS + lane;
  for (var j = first; j < last; j++) {
    if (mask[r.b * params.T + j] != 0u) {
      var part = vec2<f32>(0.0);
      for (var i = 0u; i < DIMS_PER_LANE; i++) {
        if (lane + i * sg < HS) {
          part += vec2<f32>(qr[i] * k[kvbase + i * sg], g[i] * v[kvbase + i * sg]);
        }
      }
      let sdp = subgroupAdd(part);  // (r_ij, dp_ij)
      let sc = score_grad(sdp.x);   // (s_ij, c_ij)
      let ds = exp(sc.x - rowLse) * (sdp.y - rowD) * sc.y;
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
