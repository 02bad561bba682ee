// CPU references for a LoRA-wrapped Linear layer, out = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ, with x [M, K],
// W [N, K], b [N] or null, A [R, K], B [N, R] and s the scale. Naive loops in f64, returning
// Float64Array, so the same code runs the finite-difference check of the backward pass.
// With LoRA dropout, an optional `mask` [M, K] (0 or 1/(1 − p) per element) multiplies x on the
// low-rank path only: out = x·Wᵀ + b + s·((x ⊙ mask)·Aᵀ)·Bᵀ.

/** out[m, n] = out0[m, n] + scale · Σ_r u[m, r] · B[n, r]. out0: [M, N]; u: [M, R]; B: [N, R]. */
export function loraForwardRef(
  out0: ArrayLike<number>,
  u: ArrayLike<number>,
  B: ArrayLike<number>,
  M: number,
  N: number,
  R: number,
  scale: number,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let r = 0; r < R; r++) s += u[m * R + r] * B[n * R + r];
      out[m * N + n] = out0[m * N + n] + scale * s;
    }
  }
  return out;
}

export interface LoraRefDims {
  M: number;
  N: number;
  K: number;
  R: number;
  scale: number;
}

/** out [M, N] = x·Wᵀ + b + s·u·Bᵀ, and u [M, R] = (x ⊙ mask)·Aᵀ (saved for the backward pass). */
export function loraLinearForwardRef(
  x: ArrayLike<number>,
  W: ArrayLike<number>,
  b: ArrayLike<number> | null,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  { M, N, K, R, scale }: LoraRefDims,
  mask?: ArrayLike<number>,
): { out: Float64Array; u: Float64Array } {
  const u = new Float64Array(M * R);
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * (mask ? mask[m * K + k] : 1) * A[r * K + k];
      u[m * R + r] = s;
    }
  }
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let base = b ? b[n] : 0;
      for (let k = 0; k < K; k++) base += x[m * K + k] * W[n * K + k];
      let low = 0;
      for (let r = 0; r < R; r++) low += u[m * R + r] * B[n * R + r];
      out[m * N + n] = base + scale * low;
    }
  }
  return { out, u };
}

/**
 * Gradients of loraLinearForwardRef given dout = ∂L/∂out [M, N]:
 *   dB [N, R] = s·doutᵀ·u;  du [M, R] = s·dout·B;  dA [R, K] = duᵀ·(x ⊙ mask);
 *   dx [M, K] = dout·W + (du·A) ⊙ mask   (mask = 1 without dropout).
 * The `init` arrays (each optional) are added to dx, dA and dB, as the kernels' accumulate options do.
 */
export function loraLinearBackwardRef(
  dout: ArrayLike<number>,
  x: ArrayLike<number>,
  u: ArrayLike<number>,
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  { M, N, K, R, scale }: LoraRefDims,
  init: { dx?: ArrayLike<number>; dA?: ArrayLike<number>; dB?: ArrayLike<number> } = {},
  mask?: ArrayLike<number>,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array; du: Float64Array } {
  const keep = (i: number) => (mask ? mask[i] : 1);
  const dB = new Float64Array(N * R);
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dout[m * N + n] * u[m * R + r];
      dB[n * R + r] = (init.dB ? init.dB[n * R + r] : 0) + scale * s;
    }
  }
  const du = new Float64Array(M * R);
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[m * N + n] * B[n * R + r];
      du[m * R + r] = scale * s;
    }
  }
  const dA = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += du[m * R + r] * x[m * K + k] * keep(m * K + k);
      dA[r * K + k] = (init.dA ? init.dA[r * K + k] : 0) + s;
    }
  }
  const dx = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[m * N + n] * W[n * K + k];
      let low = 0;
      for (let r = 0; r < R; r++) low += du[m * R + r] * A[r * K + k];
      s += low * keep(m * K + k);
      dx[m * K + k] = (init.dx ? init.dx[m * K + k] : 0) + s;
    }
  }
  return { dx, dA, dB, du };
}
