// Causal grouped-query attention, backward, step 3 of 3: the gradients with respect to the keys and
// values. Training layout: no cache offset, so the keys are the T positions of the same sequence.
//
// q, dout: [B, T, NH, HS]; k, v, dk, dv: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The kv head g serves the query heads g * (NH / KV) .. (g + 1) * (NH / KV) - 1.
//
// For the key row (b, j, g) of a real token, the queries that may attend to it are i = (b, t, h)
// with t >= j and h in the group of g. With scale = 1 / sqrt(HS), s_ij = scale * (q_i . k_j),
// p_ij = exp(s_ij - lse_i), dp_ij = dout_i . v_j and ds_ij = p_ij * (dp_ij - D_i):
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

struct Params {
  rows: u32,  // B * T * KV, the number of key rows
  T: u32,
  NH: u32,
  KV: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dk: array<f32>;
@group(0) @binding(1) var<storage, read_write> dv: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read> mask: array<u32>;
@group(0) @binding(8) var<uniform> params: Params;

override HS: u32 = 64u;
const MAX_HS: u32 = 256u;
const WG: u32 = 64u;
const NO_KEY_BELOW: f32 = -5e29;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * WG + lid;
  if (row >= params.rows) { return; }
  let g = row % params.KV;
  let bj = row / params.KV;  // b * T + j
  let j = bj % params.T;
  let b = bj / params.T;
  let kbase = row * HS;

  var dkAcc: array<f32, MAX_HS>;
  var dvAcc: array<f32, MAX_HS>;
  for (var d = 0u; d < HS; d++) {
    dkAcc[d] = 0.0;
    dvAcc[d] = 0.0;
  }

  if (mask[bj] != 0u) {
    let group = params.NH / params.KV;
    let h0 = g * group;
    for (var t = j; t < params.T; t++) {
      for (var h = h0; h < h0 + group; h++) {
        let st = stats[(b * params.NH + h) * params.T + t];
        if (st.x < NO_KEY_BELOW) { continue; }
        let qbase = ((b * params.T + t) * params.NH + h) * HS;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HS; d++) {
          s += q[qbase + d] * k[kbase + d];
          dp += dout[qbase + d] * v[kbase + d];
        }
        let p = exp(s * params.scale - st.x);
        let ds = p * (dp - st.y);
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
