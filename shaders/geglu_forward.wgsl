// GeGLU forward (Gemma's gated MLP), one invocation per element:
//   out[i] = gelu(gate[i]) * up[i]
// with gelu the tanh approximation (gelu_pytorch_tanh; gelu_tanh of lib/gelu_tanh.wgsl).
// gate, up, out: [n] (n = B·T·F).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  out[i] = gelu_tanh(gate[i]) * up[i];
}
