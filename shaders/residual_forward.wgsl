// Residual add forward, one invocation per element:
//   out[i] = a[i] + b[i]
// a, b, out: [n] (n = B·T·C: the residual stream plus a block's attention or MLP output).
// Elements are addressed as global_id.x + global_id.y * num_workgroups.x * 256 (see grid1d).
// out may not alias a or b (WebGPU forbids binding one buffer as both read and read_write).

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i >= params.n) { return; }
  out[i] = a[i] + b[i];
}
