// SwiGLU backward, one invocation per element. The forward computed out = silu(g) * u with
// silu(g) = g * sigmoid(g); its derivative is silu'(g) = sigmoid(g) * (1 + g * (1 - sigmoid(g))),
// so for dy = dout[i], g = gate[i] and u = up[i]:
//   dgate[i] = dy * u * silu'(g)
//   dup[i]   = dy * silu(g)
// dgate, dup, dout, gate, up: [n] (n = B·T·F). Each output is written once, so nothing accumulates.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
//
// As in the forward, sigmoid and 1 - sigmoid are both formed from e = exp(-|g|), which lies in
// [0, 1] for every g, so neither overflows nor cancels:
//   g >= 0:  sigmoid = 1 / (1 + e),  1 - sigmoid = e / (1 + e)
//   g < 0:   sigmoid = e / (1 + e),  1 - sigmoid = 1 / (1 + e)
// For large |g| the products stay finite: g * (1 - sigmoid) is g * 0 when g is large and positive,
// and sigmoid * (1 + g) is 0 * (a finite number) when g is large and negative, so no NaN arises
// for any finite gate.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(1) var<storage, read_write> dup: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let g = gate[i];
  let dy = dout[i];
  let e = exp(-abs(g));
  let pos = g >= 0.0;
  let sigmoid = select(e, 1.0, pos) / (1.0 + e);
  let one_minus_sigmoid = select(1.0, e, pos) / (1.0 + e);
  let dsilu = sigmoid * (1.0 + g * one_minus_sigmoid);
  dgate[i] = dy * up[i] * dsilu;
  dup[i] = dy * (g * sigmoid);
}
