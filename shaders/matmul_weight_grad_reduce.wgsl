// Pass 2 of the split weight gradient (matmul-weight-grad-split.ts): adds up the S partial sums
// that matmul_weight_grad_split wrote, in split order, into the weight gradient:
//   dweight[i] = (ACCUMULATE ? dweight[i] : 0) + scale * sum_{s = 0..S-1} partials[s * count + i]
// dweight: [count] (count = N * K, the gradient [N, K] flattened); partials: [S, count].
// One invocation per element, scalar loads, so any count works (no multiple of 4 needed); the
// partials are a few times the size of dweight at most, so this pass is short next to pass 1.
// The sum starts at 0.0 and adds s = 0, 1, ..., S-1 in turn, then is scaled and added to the old
// value as matmul_weight_grad does (scale * sum, then + dweight): the same bits on every run.
// Elements are addressed as global_id.x + global_id.y * num_workgroups.x * WG (see grid1d).

struct Params {
  count: u32,   // N * K
  splits: u32,  // S
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override ACCUMULATE: bool = false;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * nwg.x * WG;
  let count = params.count;
  if (i >= count) { return; }
  var sum = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    sum += partials[s * count + i];
  }
  var v = params.scale * sum;
  if (ACCUMULATE) { v += dweight[i]; }
  dweight[i] = v;
}
