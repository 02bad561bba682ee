// The mean loss of a step from the per-position losses, in one workgroup:
//   loss[0] = scale · sum_i losses[i],   0 <= i < n,
// losses: [n] (n = B·T, 0 at positions not counted); loss: [1]; scale = 1/count. Invocation k sums
// losses[k], losses[k + WG], ... in order, then a fixed tree adds the WG partial sums, so the
// result is the same on every run (no atomics), and the CPU reads back this one number.

struct Params {
  n: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> loss: array<f32>;
@group(0) @binding(1) var<storage, read> losses: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < params.n; i += WG) {
    sum += losses[i];
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { loss[0] = partial[0] * params.scale; }
}
