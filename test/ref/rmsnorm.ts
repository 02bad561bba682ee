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

// CPU reference for the RMSNorm input gradient (frozen weight), in double precision, row by row:
// dinp[j] = rstd·weight[j]·dout[j] − inp[j]·rstd³/C·Σ_c(weight[c]·dout[c]·inp[c]), with the rstd the
// forward saved. Returns a fresh array; the caller adds it to a prior dinp to model accumulation.
export function rmsnormBackwardRef(
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  rstd: Float32Array,
  rows: number,
  C: number,
): Float32Array {
  const dinp = new Float32Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const s = rstd[r];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += weight[c] * dout[r * C + c] * inp[r * C + c];
    const k = (dot * s * s * s) / C;
    for (let c = 0; c < C; c++) dinp[r * C + c] = s * weight[c] * dout[r * C + c] - inp[r * C + c] * k;
  }
  return dinp;
}
