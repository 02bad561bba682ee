// One step of torch.optim.AdamW (amsgrad off, the default single-tensor path), one invocation per
// parameter, with torch.nn.utils.clip_grad_norm_'s scaling first when CLIP is set:
//   g     = grads[i] · min(max_norm / (norm[0] + 1e-6), 1)      (CLIP; otherwise g = grads[i])
//   p     = param[i] · decay                                    decay = 1 - lr·weight_decay
//   m     = lerp(m, g, 1 - beta1)                               = beta1·m + (1 - beta1)·g
//   v     = v·beta2 + ((1 - beta2)·g)·g
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p     = p + ((-lr / (1 - beta1^t))·m) / denom
// The float operations are PyTorch's, in its order: param.mul_, exp_avg.lerp_ (on the CPU a fused
// multiply-add, m + w·(g - m) for a weight w < 0.5, else g + (w - 1)·(g - m)), exp_avg_sq.mul_ then
// addcmul_, sqrt then division by the bias correction's square root then add_(eps), addcdiv_.
// Scalars (decay, lerp weight, 1 - beta2, step size, sqrt of the bias correction) are computed by
// the CPU in f64 as Python does and arrive rounded to f32, as torch casts them; they change every
// step through the uniform params, never through a new pipeline.
// param, grads, m, v: [n], the flat buffers of every LoRA parameter and its state (m and v start at
// 0); norm: [1] from grad_norm (bound but unread when CLIP is false). grads is left unscaled.
// One invocation per element i, from the entry point of lib/grid_1d.wgsl.

struct Params {
  n: u32,
  decay: f32,
  lerp_weight: f32,
  beta2: f32,
  one_minus_beta2: f32,
  neg_step_size: f32,
  bias_correction2_sqrt: f32,
  eps: f32,
  max_norm: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> grads: array<f32>;
@group(0) @binding(4) var<storage, read> norm: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

override CLIP: bool = false;

fn invocations() -> u32 { return params.n; }

fn element(i: u32) {
  var g = grads[i];
  if (CLIP) {
    let clip_coef = params.max_norm / (norm[0] + 1e-6);
    g = g * min(clip_coef, 1.0);
  }

  let p = param[i] * params.decay;

  let m0 = m[i];
  let w = params.lerp_weight;
  var m1: f32;
  if (w < 0.5) {
    m1 = fma(w, g - m0, m0);
  } else {
    m1 = fma(w - 1.0, g - m0, g);
  }
  m[i] = m1;

  let v1 = v[i] * params.beta2 + (params.one_minus_beta2 * g) * g;
  v[i] = v1;

  let denom = sqrt(v1) / params.bias_correction2_sqrt + params.eps;
  param[i] = p + (params.neg_step_size * m1) / denom;
}
