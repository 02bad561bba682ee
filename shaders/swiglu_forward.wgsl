// SwiGLU forward (the Llama / Qwen MLP gate), one invocation per element:
//   out[i] = silu(gate[i]) * up[i],  silu(g) = g / (1 + exp(-g)) = g * sigmoid(g)
// gate, up, out: [n] (n = B·T·F).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
//
// exp(-g) overflows to inf for g < -88; rather than rely on g / (1 + inf) = 0 (WGSL lets an
// implementation assume that no infinities occur), sigmoid is evaluated with e = exp(-|g|),
// which lies in [0, 1] for every g:
//   g >= 0:  1 / (1 + e)        g < 0:  e / (1 + e)

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let g = gate[i];
  let e = exp(-abs(g));
  let sigmoid = select(e, 1.0, g >= 0.0) / (1.0 + e);
  out[i] = g * sigmoid * up[i];
}
