// CPU reference for LayerNorm, in double precision: mean = Σx/C, var = Σ(x − mean)²/C (biased),
// rstd = 1/sqrt(var + eps), out = (x − mean)·rstd·weight + bias, row by row of an [rows, C] input.
export function layernormForwardRef(
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  rows: number,
  C: number,
  eps: number,
) {
  const out = new Float32Array(rows * C);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += inp[r * C + c];
    const m = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[r * C + c] - m) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let c = 0; c < C; c++) out[r * C + c] = (inp[r * C + c] - m) * rs * weight[c] + bias[c];
  }
  return { out, mean, rstd };
}

// CPU reference for the LayerNorm input gradient (frozen weight and bias), in double precision,
// row by row: with xhat = (x − mean)·rstd and g = weight ⊙ dout,
//   dinp = rstd·(g − mean_c(g) − xhat·mean_c(g ⊙ xhat)).
// The saved mean is the true one rounded to f32; x − mean is taken against the true row mean,
// formed as (x − saved) − mean_c(x − saved), which in double is exact whatever the rounding was.
// rstd is the saved one. Returns a fresh array; the caller adds it to a prior dinp to model accumulation.
export function layernormBackwardRef(
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  rows: number,
  C: number,
): Float32Array {
  const dinp = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const s = rstd[r];
    let d = 0;
    for (let c = 0; c < C; c++) d += inp[r * C + c] - mean[r];
    d /= C;
    const xhat = new Float64Array(C);
    const g = new Float64Array(C);
    let meanG = 0;
    let meanGX = 0;
    for (let c = 0; c < C; c++) {
      xhat[c] = (inp[r * C + c] - mean[r] - d) * s;
      g[c] = weight[c] * dout[r * C + c];
      meanG += g[c] / C;
      meanGX += (g[c] * xhat[c]) / C;
    }
    for (let c = 0; c < C; c++) dinp[r * C + c] = s * (g[c] - meanG - xhat[c] * meanGX);
  }
  return dinp;
}
