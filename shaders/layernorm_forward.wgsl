// LayerNorm forward (GPT-2), one workgroup per row, in two passes over the row for accuracy:
//   mean[r]   = sum_c inp[r, c] / C
//   var[r]    = sum_c (inp[r, c] - mean[r])^2 / C          (biased, as PyTorch)
//   rstd[r]   = 1 / sqrt(var[r] + eps)
//   out[r, c] = (inp[r, c] - mean[r]) * rstd[r] * weight[c] + bias[c]
// inp, out: [rows, C]; weight, bias: [C]; mean, rstd: [rows] (saved for the backward pass).
// Rows are addressed as workgroup_id.x + workgroup_id.y * num_workgroups.x (see grid1d).
//
// Both passes work on d = inp[r, c] - inp[r, 0], the row shifted by its first element. When the
// row has a large common offset (x = 1000 + noise) the shift is exact in f32, the sums stay small,
// and (x - mean) is formed as d - mean(d), never as the difference of two rounded values near 1000.

struct Params {
  rows: u32,
  C: u32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

// The sum of `v` over the workgroup, returned to every invocation. Must be called from uniform
// control flow. The last barrier lets everyone read partial[0] before a later call overwrites it.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
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
  let shift = inp[base];
  let n = f32(params.C);

  // Pass 1: the mean of the shifted row.
  var s = 0.0;
  for (var c = lid; c < params.C; c += WG) {
    s += inp[base + c] - shift;
  }
  let mean_d = workgroup_sum(lid, s) / n;

  // Pass 2: the variance about that mean.
  var ss = 0.0;
  for (var c = lid; c < params.C; c += WG) {
    let xm = (inp[base + c] - shift) - mean_d;
    ss += xm * xm;
  }
  let r = inverseSqrt(workgroup_sum(lid, ss) / n + params.eps);

  for (var c = lid; c < params.C; c += WG) {
    let xm = (inp[base + c] - shift) - mean_d;
    out[base + c] = xm * r * weight[c] + bias[c];
  }
  if (lid == 0u) {
    mean[row] = shift + mean_d;
    rstd[row] = r;
  }
}
