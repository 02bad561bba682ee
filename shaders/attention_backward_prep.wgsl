// Causal grouped-query attention, backward, step 1 of 3: the per-query-row statistics that the two
// gradient kernels (attention_backward_query.wgsl, attention_backward_key.wgsl) read. Composed
// with lib/attention_per_row.wgsl (the entry point, which calls run_row).
//
// dout, out: [B, T, NH, HS], the gradient of the loss with respect to the attention output and
// the output that the forward pass saved. lse: [B, NH, T], the forward's log-sum-exp of each query
// row's scaled scores (-1e30 for a row that may attend to no key).
// stats: [B, NH, T] pairs (lse_i, D_i), stored as vec2<f32>, where D_i = sum_d dout_i[d] * out_i[d].
//
// D_i is the term that the softmax backward subtracts: ds_ij = p_ij * (dout_i . v_j - D_i), since
// sum_j p_ij (dout_i . v_j) = dout_i . out_i. The lse is copied beside it so that each gradient
// kernel reads one buffer for both and stays within 8 storage bindings (the WebGPU default limit).
//
// One invocation per query row (b, t, h), row index = (b * T + t) * NH + h, on a 2D grid of
// 64-wide workgroups (see grid1d). HS is an override constant bounding the loop over the head.

struct Params {
  rows: u32,  // B * T * NH, the number of query rows
  T: u32,
  NH: u32,
}

@group(0) @binding(0) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override HS: u32 = 64u;

fn run_row(row: u32) {
  let h = row % params.NH;
  let bt = row / params.NH;  // b * T + t
  let t = bt % params.T;
  let b = bt / params.T;

  let base = row * HS;
  var dsum = 0.0;
  for (var d = 0u; d < HS; d++) { dsum += dout[base + d] * out[base + d]; }
  let si = (b * params.NH + h) * params.T + t;
  stats[si] = vec2<f32>(lse[si], dsum);
}
