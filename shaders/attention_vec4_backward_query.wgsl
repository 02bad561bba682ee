// Causal grouped-query attention, backward, step 2 of 3 (the gradient with respect to the queries):
// the vec4 variant of attention_backward_query.wgsl for head sizes that are a multiple of 4
// (HS <= MAX_HS = 128), with the same math, masks and results, reading and writing four dimensions
// at a time. Training layout: no cache offset, so the keys are the T positions of the same sequence.
// Composed with lib/attention_backward_io.wgsl (the inputs and params), lib/attention_rows.wgsl,
// lib/attention_score.wgsl (the window and the softcap) and lib/attention_per_row.wgsl (the entry
// point).
//
// q, dout, dq: [B, T, NH, HS]; k, v: [B, T, KV, HS] (HS / 4 vec4 per row); mask: u32 [B, T].
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// Head h reads kv head h / (NH / KV).
//
// For the query row i = (b, t, h), the allowed keys are first_key(t) <= j <= t (t - W < j with a
// sliding window of W) with mask[b, j] != 0. With r_ij = scale * (q_i . k_j) (scale = 1 / sqrt(HS)
// by default), s_ij = r_ij or SOFTCAP * tanh(r_ij / SOFTCAP), c_ij = d s_ij / d r_ij,
// p_ij = exp(s_ij - lse_i), dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i) * c_ij:
//   dq_i = scale * sum_j ds_ij * k_j.
// A row with no allowed key (lse_i = -1e30) gets dq_i = 0 and visits no key. dq is written, not
// accumulated.
//
// One invocation per query row, row index = (b * T + t) * NH + h, on a 2D grid of 64-wide
// workgroups (see grid1d); no workgroup barriers. HS is an override constant; the private copies
// of q_i, dout_i and the dq accumulator hold MAX_HS / 4 vec4, of which the first HS / 4 are used.
//
// Heads of at most 16 (HS / 4 <= 4, stories260K's 8 among them) take a path with the row in vec4
// registers and the loops over the head written out, guarded by branches on HS / 4, a constant
// once the pipeline is built: on SwiftShader every access to a dynamically indexed
// private array is a per-lane gather or scatter, and this path is ~3x faster than the array one
// there at HS = 8. Larger heads loop over private arrays of MAX_HS / 4 vec4.

alias Elem = vec4<f32>;
@group(0) @binding(0) var<storage, read_write> dq: array<vec4<f32>>;
const FIRST_INPUT: u32 = 1u;

const MAX_HS4: u32 = 32u;  // MAX_HS / 4 with MAX_HS = 128

fn run_row(row: u32) {
  let H4 = HS / 4u;
  let r = query_row(row);
  let st = stats[stat_index(r.b, r.t, r.h)];
  let rowLse = st.x;
  let rowD = st.y;

  // With no allowed key, no key is visited and dq stays 0.
  let first = first_key(r.t);
  let last = select(r.t + 1u, 0u, rowLse < NO_KEY_BELOW);
  let kvStride = params.KV * H4;
  var kvbase = ((r.b * params.T + first) * params.KV + r.kvh) * H4;
  let mbase = r.b * params.T;
  let base = row * H4;
  if (H4 <= 4u) {
    // Small heads (HS <= 16): q_i, dout_i and dq_i in registers, the loops over the head written
    // out (the branches on the constant H4 fold away), no dynamically indexed arrays.
    let q0 = q[base] * params.scale;
    let g0 = dout[base];
    var q1 = vec4<f32>(0.0); var q2 = vec4<f32>(0.0); var q3 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0); var g2 = vec4<f32>(0.0); var g3 = vec4<f32>(0.0);
    if (H4 > 1u) { q1 = q[base + 1u] * params.scale; g1 = dout[base + 1u]; }
    if (H4 > 2u) { q2 = q[base + 2u] * params.scale; g2 = dout[base + 2u]; }
    if (H4 > 3u) { q3 = q[base + 3u] * params.scale; g3 = dout[base + 3u]; }
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    for (var j = first; j < last; j++) {
      if (mask[mbase + j] != 0u) {
        let k0 = k[kvbase];
        var s = dot(q0, k0);
        var dp = dot(g0, v[kvbase]);
        var k1 = vec4<f32>(0.0); var k2 = vec4<f32>(0.0); var k3 = vec4<f32>(0.0);
        if (H4 > 1u) { k1 = k[kvbase + 1u]; s += dot(q1, k1); dp += dot(g1, v[kvbase + 1u]); }
        if (H4 > 2u) { k2 = k[kvbase + 2u]; s += dot(q2, k2); dp += dot(g2, v[kvbase + 2u]); }
        if (H4 > 3u) { k3 = k[kvbase + 3u]; s += dot(q3, k3); dp += dot(g3, v[kvbase + 3u]); }
        let sc = score_grad(s);  // (s_ij, c_ij)
        let ds = exp(sc.x - rowLse) * (dp - rowD) * sc.y;
        a0 += ds * k0;
        a1 += ds * k1;
        a2 += ds * k2;
        a3 += ds * k3;
      }
      kvbase += kvStride;
    }
    dq[base] = a0 * params.scale;
    if (H4 > 1u) { dq[base + 1u] = a1 * params.scale; }
    if (H4 > 2u) { dq[base + 2u] = a2 * params.scale; }
    if (H4 > 3u) { dq[base + 3u] = a3 * params.scale; }
    return;
  }

  var qr: array<vec4<f32>, MAX_HS4>;
  var g: array<vec4<f32>, MAX_HS4>;
  var acc: array<vec4<f32>, MAX_HS4>;
  for (var d = 0u; d < H4; d++) {
    qr[d] = q[base + d] * params.scale;
    g[d] = dout[base + d];
  }
  for (var j = first; j < last; j++) {
    if (mask[mbase + j] != 0u) {
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < H4; d++) {
        s += dot(qr[d], k[kvbase + d]);
        dp += dot(g[d], v[kvbase + d]);
      }
      let sc = score_grad(s);  // (s_ij, c_ij)
      let ds = exp(sc.x - rowLse) * (dp - rowD) * sc.y;
      for (var d = 0u; d < H4; d++) { acc[d] += ds * k[kvbase + d]; }
    }
    kvbase += kvStride;
  }

  for (var d = 0u; d < H4; d++) { dq[base + d] = acc[d] * params.scale; }
}
