// Residual add forward, one invocation per element:
//   out[i] = a[i] + b[i]
// a, b, out: [n] (n = B·T·C: the residual stream plus a block's attention or MLP output).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
// out may not alias a or b (WebGPU forbids binding one buffer as both read and read_write).

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  out[i] = a[i] + b[i];
}
