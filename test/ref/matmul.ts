// CPU reference for a Linear layer: out[m, n] = sum_k inp[m, k] · weight[n, k] (+ bias[n]).
// inp: [M, K]; weight: [N, K] (nn.Linear layout); bias: [N] or null; out: [M, N]. Sums in f64.
export function matmulForwardRef(
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  M: number,
  N: number,
  K: number,
): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += inp[m * K + k] * weight[n * K + k];
      out[m * N + n] = s;
    }
  }
  return out;
}
