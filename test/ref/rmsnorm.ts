// CPU reference for RMSNorm: out[r, c] = inp[r, c] / sqrt(mean(inp[r]^2) + eps) * weight[c].
export function rmsnormForwardRef(inp: Float32Array, weight: Float32Array, rows: number, C: number, eps: number) {
  const out = new Float32Array(rows * C);
  const rstd = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[r * C + c] ** 2;
    const s = 1 / Math.sqrt(ss / C + eps);
    rstd[r] = s;
    for (let c = 0; c < C; c++) out[r * C + c] = inp[r * C + c] * s * weight[c];
  }
  return { out, rstd };
}
