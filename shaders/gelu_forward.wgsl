// GELU forward, GPT-2's `gelu_new` (the tanh approximation), one invocation per element:
//   u      = sqrt(2 / pi) * (x + 0.044715 * x^3)
//   out[i] = 0.5 * x * (1 + tanh(u)),  x = inp[i]
// inp, out: [n] (n = B·T·4C in GPT-2's MLP).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl; gelu_tanh (how it
// avoids tanh's overflow) is lib/gelu_tanh.wgsl's.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  out[i] = gelu_tanh(inp[i]);
}
