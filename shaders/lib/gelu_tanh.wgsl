// The tanh approximation of GELU (GPT-2's gelu_new, torch's gelu(approximate='tanh'), Gemma's
// gelu_pytorch_tanh) and its derivative, for gelu_forward.wgsl, gelu_backward.wgsl and GeGLU's gate
// kernels. With k = sqrt(2 / pi), u = k * (x + 0.044715 * x^3) and t = tanh(u):
//   gelu(x)  = 0.5 * x * (1 + t)
//   gelu'(x) = 0.5 * (1 + t) + 0.5 * x * (1 - t^2) * k * (1 + 3 * 0.044715 * x^2)
//
// tanh is not called: some implementations compute it as (e^2u - 1) / (e^2u + 1), which is
// inf / inf = NaN once e^2u overflows (|u| > 44). Both factors come from e = exp(-2|u|), which lies
// in [0, 1] for every u, so nothing overflows:
//   0.5 * (1 + t) = 1 / (1 + e) for u >= 0, e / (1 + e) for u < 0
//   1 - t^2       = 4 * e / (1 + e)^2   (for either sign),
// which also keeps full relative precision in the negative tail, where 1 + t would cancel. The
// polynomial takes x clamped to ±1e4 (where the factor is already exactly 0 or 1 in f32), so x^3
// cannot overflow either; beyond that e is exactly 0 and 0 * finite = 0, so no input gives NaN.

const GELU_K: f32 = 0.7978845608028654;  // sqrt(2 / pi)
const GELU_A: f32 = 0.044715;

// gelu(x).
fn gelu_tanh(x: f32) -> f32 {
  let xc = clamp(x, -1e4, 1e4);
  let u = GELU_K * (xc + GELU_A * xc * xc * xc);
  let e = exp(-2.0 * abs(u));
  let half_one_plus_tanh = select(e, 1.0, u >= 0.0) / (1.0 + e);
  return x * half_one_plus_tanh;
}

// gelu'(x).
fn gelu_tanh_grad(x: f32) -> f32 {
  let xc = clamp(x, -1e4, 1e4);
  let x2 = xc * xc;
  let u = GELU_K * (xc + GELU_A * x2 * xc);
  let e = exp(-2.0 * abs(u));
  let one_plus_e = 1.0 + e;
  let half_one_plus_tanh = select(e, 1.0, u >= 0.0) / one_plus_e;
  let slope = 2.0 * GELU_K * xc * (1.0 + 3.0 * GELU_A * x2);
  return half_one_plus_tanh + slope * (e / (one_plus_e * one_plus_e));
}
