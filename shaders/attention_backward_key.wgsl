// Causal grouped-query attention, backward, step 3 of 3: the gradients with respect to the keys and
// values. Training layout: no cache offset, so the keys are the T positions of the same sequence.
// Composed with lib/attention_backward_io.wgsl (the inputs and params), lib/attention_rows.wgsl,
// lib/attention_score.wgsl (the window and the softcap) and lib/attention_per_row.wgsl (the entry
// point).
//
// q, dout: [B, T, NH, HS]; k, v, dk, dv: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The kv head g serves the query heads g * (NH / KV) .. (g + 1) * (NH / KV) - 1.
//
// For the key row (b, j, g) of a real token, the queries that may attend to it are i = (b, t, h)
// with j <= t < query_end(j) (t < j + W with a sliding window of W) and h in the group of g. With
// r_ij = scale * (q_i . k_j) (scale = 1 / sqrt(HS) by default), s_ij = r_ij or, with
// softcapping, SOFTCAP * tanh(r_ij / SOFTCAP), c_ij = d s_ij / d r_ij, p_ij = exp(s_ij - lse_i),
// dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i) * c_ij:
//   dk_j = scale * sum_i ds_ij * q_i,   dv_j = sum_i p_ij * dout_i.
// A padding key (mask[b, j] = 0) is attended by no query: dk_j = dv_j = 0, and its k, v are never
// read. Every query that reaches a real key j has at least that key, so its lse is finite; the
// guard against lse = -1e30 only protects against inconsistent inputs.
// dk and dv are written, not accumulated. Each key row sums its own terms in a fixed order, so the
// result is deterministic without atomics.
//
// One invocation per key row, row index = (b * T + j) * KV + g, on a 2D grid of 64-wide
// workgroups (see grid1d); no workgroup barriers. HS is an override constant bounding every loop
// over the head; the two accumulators are fixed MAX_HS private arrays of which HS are used.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> dk: array<f32>;
@group(0) @binding(1) var<storage, read_write> dv: array<f32>;
const FIRST_INPUT: u32 = 2u;

const MAX_HS: u32 = 256u;

fn run_row(row: u32) {
  let r = key_row(row);
  let kbase = row * HS;

  var dkAcc: array<f32, MAX_HS>;
  var dvAcc: array<f32, MAX_HS>;
  for (var d = 0u; d < HS; d++) {
    dkAcc[d] = 0.0;
    dvAcc[d] = 0.0;
  }

  if (mask[r.b * params.T + r.j] != 0u) {
    let heads = query_heads(r.g);
    let tEnd = query_end(r.j);
    for (var t = r.j; t < tEnd; t++) {
      for (var h = heads.x; h < heads.y; h++) {
        let st = stats[stat_index(r.b, t, h)];
        if (st.x < NO_KEY_BELOW) { continue; }
        let qbase = query_index(r.b, t, h) * HS;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HS; d++) {
          s += q[qbase + d] * k[kbase + d];
          dp += dout[qbase + d] * v[kbase + d];
        }
        let sc = score_grad(s * params.scale);  // (s_ij, c_ij)
        let p = exp(sc.x - st.x);
        let ds = p * (dp - st.y) * sc.y;
        for (var d = 0u; d < HS; d++) {
          dvAcc[d] += p * dout[qbase + d];
          dkAcc[d] += ds * q[qbase + d];
        }
      }
    }
  }

  for (var d = 0u; d < HS; d++) {
    dk[kbase + d] = dkAcc[d] * params.scale;
    dv[kbase + d] = dvAcc[d];
  }
}
