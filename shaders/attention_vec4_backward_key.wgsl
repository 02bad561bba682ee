// Causal grouped-query attention, backward, step 3 of 3 (the gradients with respect to the keys and
// values): the vec4 variant of attention_backward_key.wgsl for head sizes that are a multiple of 4
// (HS <= MAX_HS = 128), with the same math, masks and results, reading and writing four dimensions
// at a time. Training layout: no cache offset, so the keys are the T positions of the same sequence.
// Composed with lib/attention_backward_io.wgsl (the inputs and params), lib/attention_rows.wgsl,
// lib/attention_score.wgsl (the window and the softcap) and lib/attention_per_row.wgsl (the entry
// point).
//
// q, dout: [B, T, NH, HS]; k, v, dk, dv: [B, T, KV, HS] (HS / 4 vec4 per row); mask: u32 [B, T].
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The kv head g serves the query heads g * (NH / KV) .. (g + 1) * (NH / KV) - 1.
//
// For the key row (b, j, g) of a real token, the queries that may attend to it are i = (b, t, h)
// with j <= t < query_end(j) (t < j + W with a sliding window of W) and h in the group of g. With
// r_ij = scale * (q_i . k_j) (scale = 1 / sqrt(HS) by default), s_ij = r_ij or, with
// softcapping, SOFTCAP * tanh(r_ij / SOFTCAP), c_ij = d s_ij / d r_ij, p_ij = exp(s_ij - lse_i),
// dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i) * c_ij:
//   dk_j = scale * sum_i ds_ij * q_i,   dv_j = sum_i p_ij * dout_i.
// A padding key (mask[b, j] = 0) gets dk_j = dv_j = 0, and its k, v are never read; a query with
// lse = -1e30 (inconsistent inputs only) is skipped. dk and dv are written, not accumulated; each
// key row sums its own terms in a fixed order, so the result is deterministic without atomics.
//
// One invocation per key row, row index = (b * T + j) * KV + g, on a 2D grid of 64-wide
// workgroups (see grid1d); no workgroup barriers. HS is an override constant; the private copies
// of k_j, v_j and the two accumulators hold MAX_HS / 4 vec4, of which the first HS / 4 are used.
//
// Heads of at most 16 (HS / 4 <= 4, stories260K's 8 among them) take a path with the row in vec4
// registers and the loops over the head written out, guarded by branches on HS / 4, a constant
// once the pipeline is built: on SwiftShader every access to a dynamically indexed
// private array is a per-lane gather or scatter, and this path is ~3x faster than the array one
// there at HS = 8. Larger heads loop over private arrays of MAX_HS / 4 vec4.

alias Elem = vec4<f32>;
@group(0) @binding(0) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dv: array<vec4<f32>>;
const FIRST_INPUT: u32 = 2u;

const MAX_HS4: u32 = 32u;  // MAX_HS / 4 with MAX_HS = 128

fn run_row(row: u32) {
  let H4 = HS / 4u;
  let r = key_row(row);
  let kbase = row * H4;

  let heads = query_heads(r.g);
  let tEnd = query_end(r.j);
  let real = mask[r.b * params.T + r.j] != 0u;
  if (H4 <= 4u) {
    // Small heads (HS <= 16): k_j, v_j and both accumulators in registers, the loops over the head
    // written out (the branches on the constant H4 fold away), no dynamically indexed arrays.
    var k0 = vec4<f32>(0.0); var k1 = vec4<f32>(0.0); var k2 = vec4<f32>(0.0); var k3 = vec4<f32>(0.0);
    var v0 = vec4<f32>(0.0); var v1 = vec4<f32>(0.0); var v2 = vec4<f32>(0.0); var v3 = vec4<f32>(0.0);
    var dk0 = vec4<f32>(0.0); var dk1 = vec4<f32>(0.0); var dk2 = vec4<f32>(0.0); var dk3 = vec4<f32>(0.0);
    var dv0 = vec4<f32>(0.0); var dv1 = vec4<f32>(0.0); var dv2 = vec4<f32>(0.0); var dv3 = vec4<f32>(0.0);
    if (real) {
      k0 = k[kbase] * params.scale; v0 = v[kbase];
      if (H4 > 1u) { k1 = k[kbase + 1u] * params.scale; v1 = v[kbase + 1u]; }
      if (H4 > 2u) { k2 = k[kbase + 2u] * params.scale; v2 = v[kbase + 2u]; }
      if (H4 > 3u) { k3 = k[kbase + 3u] * params.scale; v3 = v[kbase + 3u]; }
      for (var t = r.j; t < tEnd; t++) {
        var qbase = query_index(r.b, t, heads.x) * H4;
        for (var h = heads.x; h < heads.y; h++) {
          let st = stats[stat_index(r.b, t, h)];
          if (st.x >= NO_KEY_BELOW) {
            let q0 = q[qbase]; let o0 = dout[qbase];
            var q1 = vec4<f32>(0.0); var q2 = vec4<f32>(0.0); var q3 = vec4<f32>(0.0);
            var o1 = vec4<f32>(0.0); var o2 = vec4<f32>(0.0); var o3 = vec4<f32>(0.0);
            if (H4 > 1u) { q1 = q[qbase + 1u]; o1 = dout[qbase + 1u]; }
            if (H4 > 2u) { q2 = q[qbase + 2u]; o2 = dout[qbase + 2u]; }
            if (H4 > 3u) { q3 = q[qbase + 3u]; o3 = dout[qbase + 3u]; }
            let s = dot(q0, k0) + dot(q1, k1) + dot(q2, k2) + dot(q3, k3);
            let dp = dot(o0, v0) + dot(o1, v1) + dot(o2, v2) + dot(o3, v3);
            let sc = score_grad(s);  // (s_ij, c_ij)
            let p = exp(sc.x - st.x);
            let ds = p * (dp - st.y) * sc.y;
            dv0 += p * o0; dv1 += p * o1; dv2 += p * o2; dv3 += p * o3;
            dk0 += ds * q0; dk1 += ds * q1; dk2 += ds * q2; dk3 += ds * q3;
          }
          qbase += H4;
        }
      }
    }
    dk[kbase] = dk0 * params.scale; dv[kbase] = dv0;
    if (H4 > 1u) { dk[kbase + 1u] = dk1 * params.scale; dv[kbase + 1u] = dv1; }
    if (H4 > 2u) { dk[kbase + 2u] = dk2 * params.scale; dv[kbase + 2u] = dv2; }
    if (H4 > 3u) { dk[kbase + 3u] = dk3 * params.scale; dv[kbase + 3u] = dv3; }
    return;
  }

  var kr: array<vec4<f32>, MAX_HS4>;
  var vr: array<vec4<f32>, MAX_HS4>;
  var dkAcc: array<vec4<f32>, MAX_HS4>;
  var dvAcc: array<vec4<f32>, MAX_HS4>;

  if (real) {
    for (var d = 0u; d < H4; d++) {
      kr[d] = k[kbase + d] * params.scale;
      vr[d] = v[kbase + d];
    }
    for (var t = r.j; t < tEnd; t++) {
      var qbase = query_index(r.b, t, heads.x) * H4;
      for (var h = heads.x; h < heads.y; h++) {
        let st = stats[stat_index(r.b, t, h)];
        if (st.x >= NO_KEY_BELOW) {
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < H4; d++) {
            s += dot(q[qbase + d], kr[d]);
            dp += dot(dout[qbase + d], vr[d]);
          }
          let sc = score_grad(s);  // (s_ij, c_ij)
          let p = exp(sc.x - st.x);
          let ds = p * (dp - st.y) * sc.y;
          for (var d = 0u; d < H4; d++) {
            dvAcc[d] += p * dout[qbase + d];
            dkAcc[d] += ds * q[qbase + d];
          }
        }
        qbase += H4;
      }
    }
  }

  for (var d = 0u; d < H4; d++) {
    dk[kbase + d] = dkAcc[d] * params.scale;
    dv[kbase + d] = dvAcc[d];
  }
}
