// GeGLU's gate activation, for glu_forward.wgsl and glu_backward.wgsl: the tanh GELU
// (gelu_pytorch_tanh) of lib/gelu_tanh.wgsl, composed in beside this part.

fn gate_act(g: f32) -> f32 {
  return gelu_tanh(g);
}

fn gate_act_grad(g: f32) -> f32 {
  return gelu_tanh_grad(g);
}
