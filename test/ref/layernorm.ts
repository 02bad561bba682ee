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
