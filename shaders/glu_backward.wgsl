// A gated linear unit's activation, backward, one invocation per element. The forward computed
// out = act(g) * u, so for dy = dout[i], g = gate[i] and u = up[i]:
//   dgate[i] = dy * u * act'(g)
//   dup[i]   = dy * act(g)
// with act and act' the gate_act and gate_act_grad composed in from shaders/lib/glu_*.wgsl (each
// finite for every finite g). dgate, dup, dout, gate, up: [n] (n = B·T·F). Each output is written
// once, so nothing accumulates. One invocation per element i, from the entry point of
// lib/grid_1d.wgsl.

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
  dgate[i] = dy * up[i] * gate_act_grad(g);
  dup[i] = dy * gate_act(g);
}
