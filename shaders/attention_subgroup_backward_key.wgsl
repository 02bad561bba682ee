// Causal grouped-query attention, backward, the gradients with respect to the keys and values, one
// SUBGROUP per key row: the variant of attention_backward_key.wgsl for devices with subgroups.
// Same inputs, outputs and math; training layout (pos0 = 0, S = T). Composed after
// lib/attention_subgroup.wgsl (the work split and the entry point; read its header) and with
// lib/attention_backward_io.wgsl, lib/attention_rows.wgsl and lib/attention_score.wgsl (the
// window and the softcap):
//
// q, dout: [B, T, NH, HS]; k, v, dk, dv: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The key row (b, j, g) of a real token is attended by the queries i = (b, t, h) with
// j <= t < query_end(j) (t < j + W with a sliding window of W) and h in the group
// g * (NH / KV) .. (g + 1) * (NH / KV) - 1. With r_ij = scale * (q_i . k_j) (scale = 1 / sqrt(HS)
// by default), s_ij = r_ij or SOFTCAP * tanh(r_ij / SOFTCAP), c_ij = d s_ij / d r_ij,
// p_ij = exp(s_ij - lse_i), dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i) * c_ij:
//   dk_j = scale * sum_i ds_ij * q_i,   dv_j = sum_i p_ij * dout_i.
// A padding key (mask[b, j] = 0) gets dk_j = dv_j = 0 and its k, v are never read; a query with
// lse = -1e30 (no allowed key: cannot reach a real key, guarded all the same) is skipped.
// dk and dv are written, not accumulated; each key row sums its terms in a fixed order.
//
// Over key rows row = (b * T + j) * KV + g: lane `lane` of a subgroup of `sg` lanes owns the
// dimensions d = lane + i * sg < HS of k_j, v_j, dk_j and dv_j; per query, each lane forms its
// parts of q_i . k_j and dout_i . v_j, one subgroupAdd of the pair gives every lane both sums, and
// each lane accumulates its own dimensions.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> dk: array<f32>;
@group(0) @binding(1) var<storage, read_write> dv: array<f32>;
const FIRST_INPUT: u32 = 2u;

fn run_row(row: u32, lane: u32, sg: u32) {
  let r = key_row(row);
  let kbase = row * HS + lane;

  // This lane's dimensions of k_j and v_j, and of the two accumulators (zero-initialised).
  var kr: array<f32, MAX_DIMS_PER_LANE>;
  var vr: array<f32, MAX_DIMS_PER_LANE>;
  var dkAcc: array<f32, MAX_DIMS_PER_LANE>;
  var dvAcc: array<f32, MAX_DIMS_PER_LANE>;

  if (mask[r.b * params.T + r.j] != 0u) {
    for (var i = 0u; i < DIMS_PER_LANE; i++) {
      if (lane + i * sg < HS) {
        kr[i] = k[kbase + i * sg];
        vr[i] = v[kbase + i * sg];
      }
    }
    let heads = query_heads(r.g);
    let tEnd = query_end(r.j);
    for (var t = r.j; t < tEnd; t++) {
      for (var h = heads.x; h < heads.y; h++) {
        let st = stats[stat_index(r.b, t, h)];
        if (st.x < NO_KEY_BELOW) { continue; }
        let qbase = query_index(r.b, t, h) * HS + lane;
        var part = vec2<f32>(0.0);
        for (var i = 0u; i < DIMS_PER_LANE; i++) {
          if (lane + i * sg < HS) {
            part += vec2<f32>(q[qbase + i * sg] * kr[i], dout[qbase + i * sg] * vr[i]);
          }
        }
        let sdp = subgroupAdd(part);  // (q_i . k_j, dp_ij)
        let sc = score_grad(sdp.x * params.scale);  // (s_ij, c_ij)
        let p = exp(sc.x - st.x);
        let ds = p * (sdp.y - st.y) * sc.y;
        for (var i = 0u; i < DIMS_PER_LANE; i++) {
          if (lane + i * sg < HS) {
            dvAcc[i] += p * dout[qbase + i * sg];
            dkAcc[i] += ds * q[qbase + i * sg];
          }
        }
      }
    }
  }

  for (var i = 0u; i < DIMS_PER_LANE; i++) {
    if (lane + i * sg < HS) {
      dk[kbase + i * sg] = dkAcc[i] * params.scale;
      dv[kbase + i * sg] = dvAcc[i];
    }
  }
}
