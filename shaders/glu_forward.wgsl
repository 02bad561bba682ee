// A gated linear unit's activation (the MLP gate of Llama / Qwen and of Gemma), one invocation
// per element:
//   out[i] = act(gate[i]) * up[i]
// with act the gate's activation, composed in from shaders/lib/glu_*.wgsl as gate_act (SiLU for
// SwiGLU, the tanh GELU for GeGLU; src/gpu/kernels/glu.ts). gate, up, out: [n] (n = B·T·F).
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
  out[i] = gate_act(gate[i]) * up[i];
}
