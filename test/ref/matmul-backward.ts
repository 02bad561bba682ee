// CPU references for the backward pass of a Linear layer out[M, N] = inp[M, K] · weight[N, K]ᵀ.
// Naive loops, summed in f64 and returned as Float64Array, so they also serve the f64
// finite-difference checks. `init` (or null for zeros) is the output's prior content, which the
// kernels' accumulate option adds to.

/** dinp[m, k] = init[m, k] + scale · Σ_n dout[m, n] · weight[n, k]. dout: [M, N]; weight: [N, K]. */
export function matmulBackwardRef(
  dout: ArrayLike<number>,
  weight: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  scale = 1,
  init: ArrayLike<number> | null = null,
): Float64Array {
  const dinp = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[m * N + n] * weight[n * K + k];
      dinp[m * K + k] = (init ? init[m * K + k] : 0) + scale * s;
    }
  }
  return dinp;
}

/** dweight[n, k] = init[n, k] + scale · Σ_m dout[m, n] · inp[m, k]. dout: [M, N]; inp: [M, K]. */
export function matmulWeightGradRef(
  dout: ArrayLike<number>,
  inp: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  scale = 1,
  init: ArrayLike<number> | null = null,
): Float64Array {
  const dweight = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dout[m * N + n] * inp[m * K + k];
      dweight[n * K + k] = (init ? init[n * K + k] : 0) + scale * s;
    }
  }
  return dweight;
}
