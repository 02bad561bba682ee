// LayerNorm backward, activation gradient only (weight and bias are frozen), one workgroup per row.
// The forward computed y[c] = xhat[c] * w[c] + b[c] with xhat[c] = (x[c] - mean) * rstd,
// mean = mean_c(x[c]) and rstd = 1 / sqrt(mean_c((x[c] - mean)^2) + eps). With g[c] = w[c] * dy[c]
// and d xhat[c] / d x[j] = rstd * (delta_cj - 1/C - xhat[c] * xhat[j] / C), the input gradient is
//   dinp[j] = rstd * (g[j] - mean_c(g[c]) - xhat[j] * mean_c(g[c] * xhat[c])),
// exactly, for any eps.
// dinp, dout, inp: [rows, C]; weight: [C]; mean, rstd: [rows] (saved by the forward pass).
// Rows are addressed as workgroup_id.x + workgroup_id.y * num_workgroups.x (see grid1d).
//
// Precision with a large common offset (x = 1000 + noise): the saved mean m is the true mean
// rounded to f32, off by up to half an ulp of the offset, which can be a sizable fraction of the
// spread of the row; using x - m as is would shift every xhat by that error. So x - m (exact in
// f32 when x and m are close) is corrected by its own row mean d = mean_c(x[c] - m), a sum of
// small numbers: xhat[c] = ((x[c] - m) - d) * rstd. All three sums the gradient needs are taken
// in one pass, over e[c] = x[c] - m:
//   S0 = sum_c e[c],  S1 = sum_c g[c],  S2 = sum_c g[c] * e[c],
// and then d = S0 / C, mean_c(g) = S1 / C, mean_c(g * xhat) = rstd * (S2 / C - d * S1 / C).
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
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

override ACCUMULATE: bool;

const WG: u32 = 64u;
var<workgroup> partial: array<vec3<f32>, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }  // uniform per workgroup, so the barriers below stay uniform
  let base = row * params.C;
  let m = mean[row];
  let r = rstd[row];
  let n = f32(params.C);

  // (S0, S1, S2) over the row, reduced together in one tree.
  var s = vec3<f32>(0.0);
  for (var c = lid; c < params.C; c += WG) {
    let e = inp[base + c] - m;
    let g = weight[c] * dout[base + c];
    s += vec3<f32>(e, g, g * e);
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let sums = partial[0];
  let d = sums.x / n;
  let mean_g = sums.y / n;
  let mean_g_xhat = r * (sums.z / n - d * mean_g);

  for (var c = lid; c < params.C; c += WG) {
    let i = base + c;
    let xhat = ((inp[i] - m) - d) * r;
    let v = r * ((weight[c] * dout[i] - mean_g) - xhat * mean_g_xhat);
    if (ACCUMULATE) {
      dinp[i] += v;
    } else {
      dinp[i] = v;
    }
  }
}
