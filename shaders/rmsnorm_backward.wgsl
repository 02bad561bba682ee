// RMSNorm backward, activation gradient only (the weight is frozen), one workgroup per row.
// The forward computed y[c] = x[c] * rstd * w[c] with rstd = 1 / sqrt(mean_c(x[c]^2) + eps);
// since d rstd / d x[j] = -x[j] * rstd^3 / C, the gradient of the input row is
//   dinp[j] = rstd * w[j] * dy[j] - x[j] * rstd^3 / C * sum_c(w[c] * dy[c] * x[c]),
// which holds exactly for any eps. The row's rstd is the one the forward pass saved. With
// ONE_PLUS_WEIGHT, w[c] = 1 + weight[c] (Gemma's RMSNorm, rmsnorm_forward.wgsl), else weight[c].
// dinp, dout, inp: [rows, C]; weight: [C]; rstd: [rows].
// Rows are addressed as workgroup_id.x + workgroup_id.y * num_workgroups.x (see grid1d), since
// a per-head norm (Qwen3's q/k norm, C = HS, rows = B * T * NH) can have more than 65535 rows.
//
// `per_row` is the barrier-free variant for devices where barriers are slow
// (src/gpu/kernels/barrier-policy.ts): one invocation per row, summing the row serially;
// row = global_invocation_id.x + global_invocation_id.y * num_workgroups.x * WG.
//
// With ACCUMULATE the result is added to what dinp already holds (gradients from two paths meet
// at the residual stream); without it dinp is overwritten.

struct Params {
  rows: u32,
  C: u32,
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override ACCUMULATE: bool;
override ONE_PLUS_WEIGHT: bool = false;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

// The scale w[c] of column c: weight[c], or 1 + weight[c] (see the header).
fn weight_at(c: u32) -> f32 {
  if (ONE_PLUS_WEIGHT) { return 1.0 + weight[c]; }
  return weight[c];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }  // uniform per workgroup, so the barriers below stay uniform
  let base = row * params.C;

  // sum_c w[c] * dy[c] * x[c] over the row.
  var s = 0.0;
  for (var c = lid; c < params.C; c += WG) {
    s += weight_at(c) * dout[base + c] * inp[base + c];
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let r = rstd[row];
  let k = partial[0] * r * r * r / f32(params.C);

  for (var c = lid; c < params.C; c += WG) { store_dinp(base + c, c, r, k); }
}

// dinp[i] (= or +=) r * w[c] * dy[i] - x[i] * k, for element i = row * C + c.
fn store_dinp(i: u32, c: u32, r: f32, k: f32) {
  let d = r * weight_at(c) * dout[i] - inp[i] * k;
  if (ACCUMULATE) {
    dinp[i] += d;
  } else {
    dinp[i] = d;
  }
}

@compute @workgroup_size(WG)
fn per_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.rows) { return; }
  let base = row * params.C;
  var s = 0.0;
  for (var c = 0u; c < params.C; c++) {
    s += weight_at(c) * dout[base + c] * inp[base + c];
  }
  let r = rstd[row];
  let k = s * r * r * r / f32(params.C);
  for (var c = 0u; c < params.C; c++) { store_dinp(base + c, c, r, k); }
}
