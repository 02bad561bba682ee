// CPU references for the optimizer step, in float32 arithmetic that follows PyTorch's CPU kernels
// operation by operation (Math.fround after each one), so that they agree with torch to rounding.
//
// torch.nn.utils.clip_grad_norm_(max_norm): total = sqrt(Σ g²); coef = max_norm / (total + 1e-6);
// every gradient is multiplied by min(coef, 1) (also when that is 1).
// torch.optim.AdamW step t (1-based), _single_tensor_adam with decoupled weight decay:
//   p.mul_(1 - lr·wd); m.lerp_(g, 1 - β1); v.mul_(β2).addcmul_(g, g, value=1 - β2);
//   denom = (v.sqrt() / sqrt(1 - β2^t)).add_(eps); p.addcdiv_(m, denom, value=-lr / (1 - β1^t)).
// Python computes the scalars in f64; torch rounds them to f32 when it applies them to the tensors.
const f = Math.fround;

export interface AdamwRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  maxGradNorm: number | null;
}

/** sqrt(Σ g²) in f64. */
export function gradNormRef(g: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** fma(a, b, c) for f32 a, b, c: a·b is exact in f64, so one rounding to f32 remains (up to a double rounding). */
const fma32 = (a: number, b: number, c: number) => f(a * b + c);

/** One AdamW step in place on p, m, v (Float32Array [n]); g is not modified. */
export function adamwStepRef(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamwRefOptions): void {
  let scale = 1;
  if (o.maxGradNorm !== null) {
    const total = f(gradNormRef(g));
    const coef = f(f(o.maxGradNorm) / f(total + f(1e-6)));
    scale = Math.min(coef, 1);
  }
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  const decay = f(1 - o.lr * o.weightDecay);
  const w = f(1 - o.beta1);
  const beta2 = f(o.beta2);
  const c2 = f(1 - o.beta2);
  const negStep = f(-(o.lr / bc1));
  const bc2Sqrt = f(Math.sqrt(bc2));
  const eps = f(o.eps);
  for (let i = 0; i < p.length; i++) {
    const gi = o.maxGradNorm === null ? g[i] : f(g[i] * scale);
    const pi = f(p[i] * decay);
    const diff = f(gi - m[i]);
    m[i] = w < 0.5 ? fma32(w, diff, m[i]) : fma32(f(w - 1), diff, gi);
    v[i] = f(f(v[i] * beta2) + f(f(c2 * gi) * gi));
    const denom = f(f(f(Math.sqrt(v[i])) / bc2Sqrt) + eps);
    p[i] = f(pi + f(f(negStep * m[i]) / denom));
  }
}
