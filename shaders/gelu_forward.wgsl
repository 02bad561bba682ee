// GELU forward, GPT-2's `gelu_new` (the tanh approximation), one invocation per element:
//   u      = sqrt(2 / pi) * (x + 0.044715 * x^3)
//   out[i] = 0.5 * x * (1 + tanh(u)),  x = inp[i]
// inp, out: [n] (n = B·T·4C in GPT-2's MLP).
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.
//
// tanh is not called: some implementations compute it as (e^2u - 1) / (e^2u + 1), which is
// inf / inf = NaN once e^2u overflows (|u| > 44). The identity 0.5 * (1 + tanh(u)) = 1 / (1 + e^-2u)
// is evaluated with e = exp(-2|u|), which lies in [0, 1] for every u, so nothing overflows:
//   u >= 0:  1 / (1 + e)        u < 0:  e / (1 + e)
// This form also keeps full relative precision in the negative tail, where 1 + tanh(u) would
// cancel. The cubic is taken of x clamped to ±1e4 (where the factor is already exactly 0 or 1 in
// f32) so that x^3 cannot overflow either.

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  let x = inp[i];
  let xc = clamp(x, -1e4, 1e4);
  let u = SQRT_2_OVER_PI * (xc + 0.044715 * xc * xc * xc);
  let e = exp(-2.0 * abs(u));
  let half_one_plus_tanh = select(e, 1.0, u >= 0.0) / (1.0 + e);
  out[i] = x * half_one_plus_tanh;
}
