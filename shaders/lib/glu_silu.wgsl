// SwiGLU's gate activation, for glu_forward.wgsl and glu_backward.wgsl:
//   gate_act(g)      = silu(g) = g * sigmoid(g)
//   gate_act_grad(g) = silu'(g) = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// exp(-g) overflows to inf for g < -88; rather than rely on g / (1 + inf) = 0 (WGSL lets an
// implementation assume that no infinities occur), sigmoid and 1 - sigmoid are both formed from
// e = exp(-|g|), which lies in [0, 1] for every g, so neither overflows nor cancels:
//   g >= 0:  sigmoid = 1 / (1 + e),  1 - sigmoid = e / (1 + e)
//   g < 0:   sigmoid = e / (1 + e),  1 - sigmoid = 1 / (1 + e)
// For large |g| the products stay finite: g * (1 - sigmoid) is g * 0 when g is large and positive,
// and sigmoid * (1 + g) is 0 * (a finite number) when g is large and negative, so no NaN arises
// for any finite gate.

fn gate_act(g: f32) -> f32 {
  let e = exp(-abs(g));
  let sigmoid = select(e, 1.0, g >= 0.0) / (1.0 + e);
  return g * sigmoid;
}

fn gate_act_grad(g: f32) -> f32 {
  let e = exp(-abs(g));
  let pos = g >= 0.0;
  let sigmoid = select(e, 1.0, pos) / (1.0 + e);
  let one_minus_sigmoid = select(1.0, e, pos) / (1.0 + e);
  return sigmoid * (1.0 + g * one_minus_sigmoid);
}
