// Causal grouped-query attention, backward, step 2 of 3: the gradient with respect to the queries.
// Training layout: no cache offset, so the keys are the T positions of the same sequence. Composed
// with lib/attention_backward_io.wgsl (the inputs and params), lib/attention_rows.wgsl,
// lib/attention_score.wgsl (the window and the softcap) and lib/attention_per_row.wgsl (the entry
// point).
//
// q, dout, dq: [B, T, NH, HS]; k, v: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// Head h reads kv head h / (NH / KV).
//
// For the query row i = (b, t, h), the allowed keys are first_key(t) <= j <= t (t - W < j with a
// sliding window of W) with mask[b, j] != 0. With the raw score r_ij = scale * (q_i . k_j)
// (scale = 1 / sqrt(HS) by default), the score s_ij = r_ij, or SOFTCAP * tanh(r_ij / SOFTCAP)
// with softcapping, and c_ij = d s_ij / d r_ij (1, or 1 - tanh^2(r_ij / SOFTCAP)),
// p_ij = exp(s_ij - lse_i) recomputes the forward's softmax weight; dp_ij = dout_i . v_j and
// ds_ij = p_ij * (dp_ij - D_i) * c_ij. Then
//   dq_i = scale * sum_j ds_ij * k_j.
// A row with no allowed key (lse_i = -1e30, a padding query of a left-padded row) gets dq_i = 0:
// its weights are zero, and exp(s - lse) is never evaluated for it.
// dq is written, not accumulated.
//
// One invocation per query row, row index = (b * T + t) * NH + h, on a 2D grid of 64-wide
// workgroups (see grid1d); no workgroup barriers. HS is an override constant bounding every loop
// over the head; the private copies of q_i, dout_i and the dq accumulator are fixed MAX_HS arrays
// (WGSL allows override-sized arrays only in workgroup memory), of which the first HS are used.

alias Elem = f32;
@group(0) @binding(0) var<storage, read_write> dq: array<f32>;
const FIRST_INPUT: u32 = 1u;

const MAX_HS: u32 = 256u;

fn run_row(row: u32) {
  let r = query_row(row);
  let st = stats[stat_index(r.b, r.t, r.h)];
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
  let first = first_key(r.t);
  let last = select(r.t + 1u, 0u, rowLse < NO_KEY_BELOW);
  let kvStride = params.KV * HS;
  var kvbase = ((r.b * params.T + first) * params.KV + r.kvh) * HS;
  for (var j = first; j < last; j++) {
    if (mask[r.b * params.T + j] != 0u) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < HS; d++) {
        s += qr[d] * k[kvbase + d];
        dp += g[d] * v[kvbase + d];
      }
      let sc = score_grad(s);  // (s_ij, c_ij)
      let ds = exp(sc.x - rowLse) * (dp - rowD) * sc.y;
      for (var d = 0u; d < HS; d++) { acc[d] += ds * k[kvbase + d]; }
    }
    kvbase += kvStride;
  }

  for (var d = 0u; d < HS; d++) { dq[base + d] = acc[d] * params.scale; }
}
