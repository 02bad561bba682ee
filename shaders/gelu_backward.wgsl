// GELU backward for GPT-2's `gelu_new` (the tanh form), one invocation per element. With
// k = sqrt(2 / pi), u = k * (x + 0.044715 * x^3) and t = tanh(u), the forward was
// out = 0.5 * x * (1 + t), whose derivative is
//   gelu'(x) = 0.5 * (1 + t) + 0.5 * x * (1 - t^2) * k * (1 + 3 * 0.044715 * x^2),
// and the input gradient is dinp[i] = dout[i] * gelu'(inp[i]) (gelu_tanh_grad, lib/gelu_tanh.wgsl,
// which says how neither term overflows nor cancels).
// dinp, dout, inp: [n] (n = B·T·4C in GPT-2's MLP).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
//
// With ACCUMULATE the result is added to what dinp already holds; without it dinp is overwritten.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override ACCUMULATE: bool;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let v = dout[i] * gelu_tanh_grad(inp[i]);
  if (ACCUMULATE) {
    dinp[i] += v;
  } else {
    dinp[i] = v;
  }
}
