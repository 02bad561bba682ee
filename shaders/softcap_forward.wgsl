// Logit softcapping, forward, in place (Gemma's final_logit_softcapping), one invocation per element:
//   x[i] = cap * tanh(x[i] / cap)
// which bounds every logit to (-cap, cap) and leaves small ones nearly unchanged. x: [n], a chunk
// of logits [rows, V]; cap > 0. The derivative, 1 - tanh^2 = 1 - (x / cap)^2 of the capped x, is
// applied by crossentropy_backward.wgsl (its softcap), which reads the capped logits.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
//
// tanh is formed from e = exp(-2|u|), u = x / cap, which lies in [0, 1] for every u:
// tanh(|u|) = (1 - e) / (1 + e), with u's sign; no implementation's tanh can overflow to NaN here.

struct Params {
  n: u32,
  cap: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let u = x[i] / params.cap;
  let e = exp(-2.0 * abs(u));
  let t = (1.0 - e) / (1.0 + e);
  x[i] = params.cap * select(-t, t, u >= 0.0);
}
