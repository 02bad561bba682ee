// Causal grouped-query attention, backward, the gradients with respect to the keys and values, one
// SUBGROUP per key row: the variant of attention_backward_key.wgsl for devices with subgroups.
// Same inputs, outputs and math; training layout (pos0 = 0, S = T):
//
// q, dout: [B, T, NH, HS]; k, v, dk, dv: [B, T, KV, HS]; mask: u32 [B, T], 1 for a real token.
// stats: [B, NH, T] pairs (lse_i, D_i) from attention_backward_prep.wgsl.
// The key row (b, j, g) of a real token is attended by the queries i = (b, t, h) with t >= j and h
// in the group g * (NH / KV) .. (g + 1) * (NH / KV) - 1. With scale = 1 / sqrt(HS),
// s_ij = scale * (q_i . k_j), p_ij = exp(s_ij - lse_i), dp_ij = dout_i . v_j and
// ds_ij = p_ij * (dp_ij - D_i):   dk_j = scale * sum_i ds_ij * q_i,   dv_j = sum_i p_ij * dout_i.
// A padding key (mask[b, j] = 0) gets dk_j = dv_j = 0 and its k, v are never read; a query with
// lse = -1e30 (no allowed key: cannot reach a real key, guarded all the same) is skipped.
// dk and dv are written, not accumulated; each key row sums its terms in a fixed order.
//
// Work split as in attention_subgroup_forward.wgsl (read its header), over key rows
// row = (b * T + j) * KV + g: lane `lane` of a subgroup of `sg` lanes owns the dimensions
// d = lane + i * sg < HS of k_j, v_j, dk_j and dv_j; per query, each lane forms its parts of
// q_i . k_j and dout_i . v_j, one subgroupAdd of the pair gives every lane both sums, and each lane
// accumulates its own dimensions. Workgroups of WG invocations take blocks of
// ROWS_PER_WG = WG / subgroupMinSize rows; DIMS_PER_LANE = ceil(HS / subgroupMinSize).

enable subgroups;
requires subgroup_id;
diagnostic(off, subgroup_uniformity);

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
override DIMS_PER_LANE: u32 = 16u;  // ceil(HS / subgroupMinSize)
override ROWS_PER_WG: u32 = 32u;    // WG / subgroupMinSize
const MAX_DIMS_PER_LANE: u32 = 64u;
const WG: u32 = 128u;
const NO_KEY_BELOW: f32 = -5e29;

fn key_row(row: u32, lane: u32, sg: u32) {
  let g = row % params.KV;
  let bj = row / params.KV;  // b * T + j
  let j = bj % params.T;
  let b = bj / params.T;
  let kbase = row * HS + lane;

  // This lane's dimensions of k_j and v_j, and of the two accumulators (zero-initialised).
  var kr: array<f32, MAX_DIMS_PER_LANE>;
  var vr: array<f32, MAX_DIMS_PER_LANE>;
  var dkAcc: array<f32, MAX_DIMS_PER_LANE>;
  var dvAcc: array<f32, MAX_DIMS_PER_LANE>;

  if (mask[bj] != 0u) {
    for (var i = 0u; i < DIMS_PER_LANE; i++) {
      if (lane + i * sg < HS) {
        kr[i] = k[kbase + i * sg];
        vr[i] = v[kbase + i * sg];
      }
    }
    let group = params.NH / params.KV;
    let h0 = g * group;
    for (var t = j; t < params.T; t++) {
      for (var h = h0; h < h0 + group; h++) {
        let st = stats[(b * params.NH + h) * params.T + t];
        if (st.x < NO_KEY_BELOW) { continue; }
        let qbase = ((b * params.T + t) * params.NH + h) * HS + lane;
        var part = vec2<f32>(0.0);
        for (var i = 0u; i < DIMS_PER_LANE; i++) {
          if (lane + i * sg < HS) {
            part += vec2<f32>(q[qbase + i * sg] * kr[i], dout[qbase + i * sg] * vr[i]);
          }
        }
        let sdp = subgroupAdd(part);  // (q_i . k_j, dp_ij)
        let p = exp(sdp.x * params.scale - st.x);
        let ds = p * (sdp.y - st.y);
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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(subgroup_id) sid: u32, @builtin(num_subgroups) nsg: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
  let first = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
  for (var r = sid; r < ROWS_PER_WG; r += nsg) {
    let row = first + r;
    if (row >= params.rows) { break; }
    key_row(row, lane, sg);
  }
}
