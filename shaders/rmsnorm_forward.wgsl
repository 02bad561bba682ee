// RMSNorm forward, one workgroup per row:
//   rstd[r]   = 1 / sqrt(mean_c(inp[r, c]^2) + eps)
//   out[r, c] = inp[r, c] * rstd[r] * w[c],  w[c] = weight[c], or 1 + weight[c] with ONE_PLUS_WEIGHT
// (Gemma's RMSNorm, whose weights are stored as offsets from 1; the sum 1 + weight is f32, as
// Gemma3RMSNorm takes it).
// inp, out: [rows, C]; weight: [C]; rstd: [rows] (saved for the backward pass).
// Rows are addressed as workgroup_id.x + workgroup_id.y * num_workgroups.x (see grid1d).
// `per_row` is the barrier-free variant for devices where barriers are slow
// (src/gpu/kernels/barrier-policy.ts): one invocation per row, summing the row serially;
// row = global_invocation_id.x + global_invocation_id.y * num_workgroups.x * WG.

struct Params {
  rows: u32,
  C: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

override ONE_PLUS_WEIGHT: bool = false;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

// The scale of column c: weight[c], or 1 + weight[c] (see the header).
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

  var sum = 0.0;
  for (var c = lid; c < params.C; c += WG) {
    let x = inp[base + c];
    sum += x * x;
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let r = inverseSqrt(partial[0] / f32(params.C) + params.eps);

  for (var c = lid; c < params.C; c += WG) {
    out[base + c] = inp[base + c] * r * weight_at(c);
  }
  if (lid == 0u) { rstd[row] = r; }
}

@compute @workgroup_size(WG)
fn per_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= params.rows) { return; }
  let base = row * params.C;
  var sum = 0.0;
  for (var c = 0u; c < params.C; c++) {
    let x = inp[base + c];
    sum += x * x;
  }
  let r = inverseSqrt(sum / f32(params.C) + params.eps);
  for (var c = 0u; c < params.C; c++) {
    out[base + c] = inp[base + c] * r * weight_at(c);
  }
  rstd[row] = r;
}
