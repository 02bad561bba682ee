// Numerical gradients for checking the backward CPU references against the forward ones.
//
// The forward references take and return Float32Array, so the inputs are perturbed in f32 and
// the outputs come back rounded to f32; everything else here is double precision. Each partial
// derivative is a central difference divided by the step that was actually taken (x ± h rounded
// to f32), refined by one Richardson extrapolation: with D(h) = (L(x + h) − L(x − h)) / 2h,
// (4·D(h/2) − D(h)) / 3 cancels the h² error term, leaving O(h⁴). The step is large enough
// (default 2⁻⁵) that the f32 rounding of the outputs stays far below the test tolerances.

/** Σ_i y[i]·G[i] in double precision: the scalar loss whose gradient with respect to y is G. */
export function dot(y: ArrayLike<number>, G: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * G[i];
  return s;
}

/** The central difference of `loss` along element i of x, with step h (rounded to f32). */
function centralDifference(loss: (x: Float32Array) => number, x: Float32Array, i: number, h: number): number {
  const xi = x[i];
  const xp = new Float32Array(x);
  const xm = new Float32Array(x);
  xp[i] = xi + h;
  xm[i] = xi - h;
  return (loss(xp) - loss(xm)) / (xp[i] - xm[i]);
}

/** ∂loss/∂x[i] for every i, by Richardson-extrapolated central differences in f64. */
export function numericGradient(loss: (x: Float32Array) => number, x: Float32Array, h = 2 ** -5): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const coarse = centralDifference(loss, x, i, h);
    const fine = centralDifference(loss, x, i, h / 2);
    grad[i] = (4 * fine - coarse) / 3;
  }
  return grad;
}
